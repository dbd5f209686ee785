//! Orchestration: pure reconcilers that compare each service's spec with its tasks and
//! return the store ops that close the gap. Only the leader runs them (see `control_loop`).
//!
//! ```text
//! State ─► replicated / global / jobs ─┬─► new tasks, desired-state changes ─► Plan ─► txns
//!            (slots, restart, update)   │
//! State ─► reaper ──────────────────────┘   (history per slot, tasks of deleted services)
//! ```
//!
//! Nothing here reads the clock or draws random numbers: `now` and task IDs come in through
//! [`Inputs`], so a decision can be replayed exactly.

pub mod global;
pub mod jobs;
pub mod plan;
pub mod reaper;
pub mod replicated;
pub mod restart;
pub mod slots;
pub mod update;

use std::collections::BTreeSet;

use store::State;
use types::{ServiceMode, Timestamp};

pub use plan::Plan;

/// What a reconcile pass needs besides the state.
pub struct Inputs<'a> {
    /// Wall-clock time of this pass.
    pub now: Timestamp,
    /// Source of new task IDs.
    pub ids: &'a mut dyn FnMut() -> String,
    /// Constraints parsed so far in this pass (scratch: start each pass with the default).
    pub parsed: crate::constraint::Parsed,
}

/// Reconciles `services` (all when `None`) and returns the plan.
pub fn reconcile(state: &State, only: Option<&BTreeSet<String>>, inputs: &mut Inputs<'_>) -> Plan {
    let mut plan = Plan::default();
    for service in state.services() {
        if only.is_some_and(|set| !set.contains(&service.id)) {
            continue;
        }
        match service.spec.mode {
            ServiceMode::Replicated { .. } => replicated::reconcile(state, service, inputs, &mut plan),
            ServiceMode::Global => global::reconcile(state, service, inputs, &mut plan),
            ServiceMode::ReplicatedJob { .. } | ServiceMode::GlobalJob => {
                jobs::reconcile(state, service, inputs, &mut plan)
            }
        }
    }
    reaper::reconcile(state, only, &mut plan);
    plan
}

#[cfg(test)]
pub(crate) mod fixtures;
