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

use state::State;
use types::{ServiceMode, TaskState, Timestamp};

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

/// Most new slots one pass opens: a service of a million replicas is created in commits of
/// this size, so no single transaction (or pass) holds it all in memory.
pub const MAX_NEW_SLOTS_PER_PASS: u64 = 10_000;

/// How many new slots a pass may open: at most [`MAX_NEW_SLOTS_PER_PASS`], and never beyond
/// the cluster's task limit counting the tasks still wanted (a stored spec over the limit is
/// held at it).
pub fn room(state: &State) -> u64 {
    let limit = state
        .cluster()
        .map(|c| c.spec.task_limit())
        .unwrap_or(types::cluster::FALLBACK_MAX_TASKS);
    // Passes look only at what changed; walk every task only when the limit is near.
    if (state.task_count() as u64).saturating_add(MAX_NEW_SLOTS_PER_PASS) <= limit {
        return MAX_NEW_SLOTS_PER_PASS;
    }
    let live = state
        .tasks()
        .filter(|t| t.desired_state < TaskState::Shutdown)
        .count() as u64;
    limit.saturating_sub(live).min(MAX_NEW_SLOTS_PER_PASS)
}

/// Reconciles `services` (all when `None`) and returns the plan.
pub fn reconcile(state: &State, only: Option<&BTreeSet<String>>, inputs: &mut Inputs<'_>) -> Plan {
    let mut plan = Plan::with_room(room(state));
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

#[cfg(any(test, feature = "testing"))]
pub mod fixtures;
#[cfg(test)]
pub(crate) mod proptests;

#[cfg(test)]
mod room_tests {
    use super::fixtures::World;
    use super::*;

    #[test]
    fn new_slots_come_in_bounded_batches() {
        let mut w = World::new().nodes(&["n1"]).replicated("big", 25_000);
        let mut batches = Vec::new();
        for _ in 0..4 {
            let plan = w.reconcile();
            batches.push(plan.created());
            w.apply(plan);
        }
        assert_eq!(batches, [10_000, 10_000, 5_000, 0]);
        assert_eq!(w.runnable_tasks("big").len(), 25_000);
    }

    #[test]
    fn a_stored_spec_over_the_limit_is_held_at_it() {
        let mut w = World::new()
            .task_limit(300)
            .nodes(&["n1", "n2"])
            .replicated("a", 200)
            .replicated("b", 1_000_000_000)
            .service("g", ServiceMode::Global, Default::default());
        let first = w.reconcile();
        assert_eq!(first.created(), 300, "held at the limit");
        assert!(!first.held_back().is_empty());
        w.apply(first);
        let second = w.reconcile();
        assert_eq!(second.created(), 0, "no room left");
        w.apply(second);
        // Scaling one service down frees room for the others.
        w.set_replicas("a", 0);
        w.settle();
        let live = w
            .state
            .tasks()
            .filter(|t| t.desired_state < TaskState::Shutdown)
            .count();
        assert_eq!(live, 300);
    }
}
