//! TEMPORARY stand-in until the scheduler branch lands: least-loaded ready, active node.

use std::collections::BTreeMap;

use store::{Op, State, TaskChange, TaskUpdate};
use types::{Availability, NodeState, TaskState};

/// Placement decisions.
#[derive(Debug, Default)]
pub struct Decisions {
    /// Tasks per node.
    pub assignments: Vec<(String, Vec<String>)>,
    /// Tasks that fit nowhere, with why.
    pub unplaceable: Vec<(String, String)>,
}

/// Places pending tasks on the least loaded eligible node.
pub fn schedule(state: &State) -> Decisions {
    let mut load: BTreeMap<String, usize> = state
        .nodes()
        .filter(|n| n.status.state == NodeState::Ready && n.spec.availability == Availability::Active)
        .map(|n| (n.id.clone(), state.tasks_on_node(&n.id).filter(|t| t.desired_state <= TaskState::Complete && t.status.state <= TaskState::Running).count()))
        .collect();
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut d = Decisions::default();
    for t in state.tasks().filter(|t| t.status.state == TaskState::Pending && t.desired_state <= TaskState::Complete) {
        if !t.node_id.is_empty() {
            out.entry(t.node_id.clone()).or_default().push(t.id.clone());
            continue;
        }
        match load.iter_mut().min_by_key(|(_, l)| **l) {
            Some((n, l)) => {
                *l += 1;
                out.entry(n.clone()).or_default().push(t.id.clone());
            }
            None => d.unplaceable.push((t.id.clone(), "no suitable node".into())),
        }
    }
    d.assignments = out.into_iter().collect();
    d
}

/// The store ops for `decisions`.
pub fn to_ops(d: &Decisions) -> Vec<Op> {
    let mut ops: Vec<Op> = d.assignments.iter().map(|(n, ts)| Op::AssignTasks { node_id: n.clone(), task_ids: ts.clone() }).collect();
    if !d.unplaceable.is_empty() {
        ops.push(Op::UpdateTasks(d.unplaceable.iter().map(|(t, r)| TaskUpdate { id: t.clone(), change: TaskChange::Unplaceable(r.clone()) }).collect()));
    }
    ops
}
