//! The scheduler: gives every PENDING task a node, as Swarm's scheduler does, as a pure
//! function of a store snapshot.
//!
//! ```text
//! snapshot ─► pending tasks ─► groups by (service, spec version)
//!                               │  per group, once: parse constraints, scan all N nodes
//!                               │  through the filters (ready → resources → constraints →
//!                               │  platform → host ports → max replicas), rank the rest
//!                               ▼
//!                 spread tree of min-heaps ─► one O(log N) pick per task
//!                               ▼
//!      Decisions { assignments per node, unplaceable + reason } ─► Op::AssignTasks / UpdateTasks
//! ```
//!
//! Semantics are Swarm's (SwarmKit's `manager/scheduler`):
//! the same filters in the same order, ranking by fewest tasks of the service on the node then
//! fewest tasks overall, spread preferences as a decision tree whose branches even out,
//! preassigned (global) tasks only checked for resources, and explanations such as
//! `no suitable node (scheduling constraints not satisfied on 3 nodes; insufficient resources
//! on 1 node)`. Where Swarm is random (Go map order) we are deterministic: ties go to the
//! lower node ID, groups go in (service, version) order, tasks in ID order.
//!
//! Which tasks count, as in SwarmKit: a task *to place* is PENDING, without a node, desired
//! state up to COMPLETE (jobs want COMPLETE); a task *holds resources and host ports* on its
//! node from ASSIGNED to RUNNING whatever its desired state (one being shut down still
//! occupies the node until it stops); it *counts for ranking and max replicas* while it also
//! has a desired state up to COMPLETE.
//!
//! Deliberate differences from SwarmKit:
//! - Every eligible node stays a candidate. SwarmKit keeps only the best `len(group)` nodes
//!   per tree leaf and can declare a task unplaceable while other nodes would take it.
//! - A constraint that fails to parse makes the task unplaceable with the parse error;
//!   SwarmKit ignores such a constraint and places the task anywhere.
//! - Plugin and CSI volume filters do not exist yet (shoal has no plugins or volumes).
//!
//! In a leader loop (watch → debounce → reconcile → commit):
//!
//! ```text
//! let decisions = scheduler::schedule_with(&store.view(), &inputs);   // `control_loop.rs`
//! for ops in batches(scheduler::to_ops(&decisions)) { commit(ops) }  // nothing when is_empty()
//! ```
//!
//! A second call on the resulting state yields nothing: placed tasks are no longer pending and
//! a reason already recorded on a task is not written again, so the loop settles.
//!
//! Cost of one call: one walk over all tasks of the snapshot to find pending ones (about 10 ns
//! a task; nothing more when none is pending). With work: a second walk accounting for tasks on
//! nodes, then per group one pass over the nodes plus O(log N) per task (SwarmKit visits every
//! node for every task). With [`Inputs::candidates`] the first walk is replaced by look-ups of
//! those candidates.

mod decisions;
mod failures;
mod filter;
pub mod generic;
mod group;
mod nodes;
mod pass;
mod spread;

#[cfg(test)]
mod fixture;
#[cfg(test)]
mod golden;
#[cfg(test)]
mod props;

use std::collections::{BTreeMap, HashSet};

use state::State;
use types::Task;

pub use decisions::Decisions;
pub use failures::{FAILURE_WINDOW_NANOS, recent_failures};
pub use filter::{FILTERS, Filter};

use group::{Grouper, is_preassigned, wants_node};
use nodes::Nodes;
use pass::Pass;

/// Failures of a service version on a node at or above which the node is ranked after every
/// node with fewer (Swarm: 5 failures within 5 minutes).
pub const MAX_RECENT_FAILURES: u32 = 5;

/// Recent task failures: `(service ID, spec version)` → node ID → failures in the window.
/// The caller keeps the window (it owns the clock); the scheduler only ranks by it.
pub type RecentFailures = BTreeMap<(String, u64), BTreeMap<String, u32>>;

/// Facts from outside the snapshot, all optional.
#[derive(Debug, Clone, Copy, Default)]
pub struct Inputs<'a> {
    /// Only these task IDs may need a node (e.g. the tasks a commit touched). `None`: look at
    /// every task, which a caller must do after node changes (a new node may fit tasks that
    /// were unplaceable).
    pub candidates: Option<&'a [String]>,
    /// Recent failures, for Swarm's underweighting of nodes where a service keeps failing.
    pub recent_failures: Option<&'a RecentFailures>,
}

/// The store operations that write `decisions` back (see [`Decisions::into_batches`] to
/// split them into transactions of bounded size).
pub fn to_ops(decisions: &Decisions) -> Vec<state::Op> {
    decisions.to_ops()
}

/// Places every pending task of `state`; see the module doc.
pub fn schedule(state: &State) -> Decisions {
    schedule_with(state, &Inputs::default())
}

/// [`schedule`] with outside facts.
pub fn schedule_with(state: &State, inputs: &Inputs<'_>) -> Decisions {
    // First find the work: a call with nothing pending (the common case in a leader loop)
    // stops after this walk, without building anything.
    let mut grouper = Grouper::default();
    let mut preassigned: Vec<&Task> = Vec::new();
    match inputs.candidates {
        Some(ids) => {
            for task in ids.iter().filter_map(|id| state.task(id)) {
                if wants_node(task) {
                    grouper.add(task);
                } else if is_preassigned(task) {
                    preassigned.push(task);
                }
            }
        }
        None => {
            for task in state.tasks() {
                if wants_node(task) {
                    grouper.add(task);
                } else if is_preassigned(task) {
                    preassigned.push(task);
                }
            }
        }
    }
    let groups = grouper.into_groups();
    if groups.is_empty() && preassigned.is_empty() {
        return Decisions::default();
    }
    // Then what the nodes already hold; per-service counts only for the services at hand.
    let services: HashSet<&str> = groups.iter().map(|g| g.service_id).collect();
    let mut nodes = Nodes::new(state, services);
    for task in state.tasks() {
        nodes.occupy_with(task, state.generic_resources(&task.id));
    }
    nodes.seal();
    let mut pass = Pass::new(state, inputs, nodes);
    for task in preassigned {
        pass.confirm_preassigned(task);
    }
    for group in &groups {
        pass.place_group(group);
    }
    pass.into_decisions()
}
