//! Slots: a service's tasks grouped by what they replace each other in — the slot number for
//! replicated services and jobs, the node for global ones.

use std::sync::Arc;

use state::State;
use types::{Availability, Node, NodeState, Service, ServiceMode, Task, TaskState};

use crate::constraint::Parsed;

/// The key tasks replace each other under.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum SlotKey {
    /// Replicated and replicated-job services.
    Number(u64),
    /// Global and global-job services.
    Node(String),
}

/// The tasks of one slot, oldest first.
#[derive(Debug, Clone)]
pub struct Slot {
    /// The slot's key.
    pub key: SlotKey,
    /// Its tasks, by creation time (then ID).
    pub tasks: Vec<Arc<Task>>,
}

/// True while the orchestrator still wants the task (desired at most COMPLETE).
pub fn runnable(task: &Task) -> bool {
    task.desired_state <= TaskState::Complete
}

/// True once the task stopped for good.
pub fn dead(task: &Task) -> bool {
    task.status.state.is_terminal()
}

impl Slot {
    /// The newest task the orchestrator still wants.
    pub fn current(&self) -> Option<&Arc<Task>> {
        self.tasks.iter().rev().find(|t| runnable(t))
    }

    /// Tasks the orchestrator still wants.
    pub fn runnable(&self) -> impl Iterator<Item = &Arc<Task>> {
        self.tasks.iter().filter(|t| runnable(t))
    }

    /// True if some task of the slot is still wanted.
    pub fn active(&self) -> bool {
        self.tasks.iter().any(|t| runnable(t))
    }
}

/// The slots of `service`, ordered by key, each slot's tasks oldest first.
pub fn slots(state: &State, service: &Service) -> Vec<Slot> {
    let global = matches!(service.spec.mode, ServiceMode::Global | ServiceMode::GlobalJob);
    // One sort of the service's tasks, then runs of equal keys: a full pass does this for
    // every service, and a map of 100k one-task slots cost more than the rest of the pass.
    let mut tasks: Vec<(SlotKey, Arc<Task>)> = state
        .tasks_of_service(&service.id)
        .map(|task| {
            let key = if global {
                SlotKey::Node(task.node_id.clone())
            } else {
                SlotKey::Number(task.slot)
            };
            (key, task.clone())
        })
        .collect();
    tasks.sort_unstable_by(|(ka, a), (kb, b)| {
        ka.cmp(kb)
            .then_with(|| a.meta.created_at.cmp(&b.meta.created_at))
            .then_with(|| a.meta.version.cmp(&b.meta.version))
            .then_with(|| a.id.cmp(&b.id))
    });
    let mut slots: Vec<Slot> = Vec::new();
    for (key, task) in tasks {
        match slots.last_mut() {
            Some(slot) if slot.key == key => slot.tasks.push(task),
            _ => slots.push(Slot {
                key,
                tasks: vec![task],
            }),
        }
    }
    slots
}

/// A node tasks must leave: gone, down, or drained (Swarm's `InvalidNode`).
pub fn invalid_node(node: Option<&Arc<Node>>) -> bool {
    match node {
        None => true,
        Some(n) => n.status.state == NodeState::Down || n.spec.availability == Availability::Drain,
    }
}

/// True if the task sits on a node it must leave. Unassigned tasks sit nowhere.
pub fn on_invalid_node(state: &State, task: &Task) -> bool {
    !task.node_id.is_empty()
        && task.status.state >= TaskState::Assigned
        && invalid_node(state.node(&task.node_id))
}

/// True if the task sits on a node that no longer meets its placement constraints (a label
/// was removed or changed since it was placed): Swarm's constraint enforcer moves it.
pub fn off_constraints(state: &State, task: &Task, parsed: &mut Parsed) -> bool {
    !task.node_id.is_empty()
        && task.status.state >= TaskState::Assigned
        && !task.spec.placement.constraints.is_empty()
        && state
            .node(&task.node_id)
            .is_some_and(|n| !parsed.meets(&task.spec, n))
}
