//! Pending tasks, grouped so that each group's filters and ranking are worked out once.
//!
//! A group is the tasks of one service at one spec version (Swarm's grouping). Tasks share a
//! group only if they also ask the same of a node (reservations and placement): the spec is
//! normally one shared `Arc`, so the check is a pointer comparison, but a service-less task
//! (ID "") may carry any spec, and grouping it with a different one would be wrong.

use std::collections::HashMap;
use std::sync::Arc;

use types::{Task, TaskSpec, TaskState};

/// Tasks placed together.
#[derive(Debug)]
pub struct Group<'a> {
    /// Owning service ("" for tasks without one).
    pub service_id: &'a str,
    /// Spec version of the tasks.
    pub spec_version: u64,
    /// The spec every task of the group runs.
    pub spec: &'a Arc<TaskSpec>,
    /// The tasks, in ID order.
    pub tasks: Vec<&'a Task>,
}

/// Collects pending tasks into groups.
#[derive(Default)]
pub struct Grouper<'a> {
    groups: Vec<Group<'a>>,
    by_key: HashMap<(&'a str, u64), Vec<usize>>,
    // Consecutive tasks usually share a group; remembering the last one skips the hash lookup.
    last: Option<usize>,
}

/// A task the scheduler must place: PENDING, no node yet, meant to run.
pub fn wants_node(task: &Task) -> bool {
    task.status.state == TaskState::Pending
        && task.node_id.is_empty()
        && task.desired_state <= TaskState::Complete
}

/// A global task whose node is preset: the scheduler only confirms it fits.
pub fn is_preassigned(task: &Task) -> bool {
    task.status.state == TaskState::Pending
        && !task.node_id.is_empty()
        && task.desired_state <= TaskState::Complete
}

fn same_requirements(a: &TaskSpec, b: &TaskSpec) -> bool {
    a.resources.reservations == b.resources.reservations && a.placement == b.placement
}

impl<'a> Grouper<'a> {
    /// Adds a task that [`wants_node`].
    pub fn add(&mut self, task: &'a Task) {
        if let Some(i) = self.last
            && let Some(g) = self.groups.get_mut(i)
            && g.service_id == task.service_id
            && g.spec_version == task.spec_version
            && (Arc::ptr_eq(g.spec, &task.spec) || same_requirements(g.spec, &task.spec))
        {
            g.tasks.push(task);
            return;
        }
        let candidates = self
            .by_key
            .entry((task.service_id.as_str(), task.spec_version))
            .or_default();
        let found = candidates.iter().copied().find(|&i| {
            self.groups
                .get(i)
                .is_some_and(|g| Arc::ptr_eq(g.spec, &task.spec) || same_requirements(g.spec, &task.spec))
        });
        let index = match found {
            Some(i) => i,
            None => {
                self.groups.push(Group {
                    service_id: &task.service_id,
                    spec_version: task.spec_version,
                    spec: &task.spec,
                    tasks: Vec::new(),
                });
                candidates.push(self.groups.len() - 1);
                self.groups.len() - 1
            }
        };
        if let Some(g) = self.groups.get_mut(index) {
            g.tasks.push(task);
        }
        self.last = Some(index);
    }

    /// The groups ordered by service, spec version, then first task ID: groups of one service
    /// are adjacent, and the order never depends on hashing.
    pub fn into_groups(self) -> Vec<Group<'a>> {
        let mut groups = self.groups;
        groups.sort_by(|a, b| {
            (
                a.service_id,
                a.spec_version,
                a.tasks.first().map(|t| t.id.as_str()),
            )
                .cmp(&(
                    b.service_id,
                    b.spec_version,
                    b.tasks.first().map(|t| t.id.as_str()),
                ))
        });
        groups
    }
}
