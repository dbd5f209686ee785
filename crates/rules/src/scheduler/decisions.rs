//! What one scheduling pass decided, and the store operations that write it back.

use std::collections::HashMap;

use state::{Op, TaskChange, TaskUpdate};
use types::generic::GenericResource;

/// The outcome of one pass: tasks to assign, per node, and tasks that fit nowhere.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decisions {
    /// `(node ID, task IDs)`, nodes in ID order, tasks in the order they were placed.
    pub assignments: Vec<(String, Vec<String>)>,
    /// `(task ID, reason)` for tasks left PENDING; only those whose recorded reason changes.
    pub unplaceable: Vec<(String, String)>,
    /// `(task ID, units)`: the generic resources each assigned task was given (only tasks
    /// that reserve some), written in the transaction that assigns the task.
    pub given: Vec<(String, Vec<GenericResource>)>,
}

impl Decisions {
    /// True when the pass changes nothing (the common case on a quiet cluster).
    pub fn is_empty(&self) -> bool {
        self.assignments.is_empty() && self.unplaceable.is_empty()
    }

    /// Number of task assignments.
    pub fn assigned_count(&self) -> usize {
        self.assignments.iter().map(|(_, tasks)| tasks.len()).sum()
    }

    /// The store operations, by reference (copies every ID; see [`Decisions::into_ops`]).
    pub fn to_ops(&self) -> Vec<Op> {
        self.clone().into_ops()
    }

    /// The store operations: one `AssignTasks` per node, the generic resources given, then
    /// one `UpdateTasks` with every unplaceable reason.
    pub fn into_ops(self) -> Vec<Op> {
        let mut ops: Vec<Op> = self
            .assignments
            .into_iter()
            .map(|(node_id, task_ids)| Op::AssignTasks { node_id, task_ids })
            .collect();
        if !self.given.is_empty() {
            ops.push(Op::SetGenericResources(self.given));
        }
        if !self.unplaceable.is_empty() {
            ops.push(Op::UpdateTasks(
                self.unplaceable
                    .into_iter()
                    .map(|(id, reason)| TaskUpdate {
                        id,
                        change: TaskChange::Unplaceable(reason),
                    })
                    .collect(),
            ));
        }
        ops
    }

    /// The store operations split into transactions of at most `max_tasks` task IDs each, so
    /// that no Raft entry grows without bound (a node's list may be split across two).
    pub fn into_batches(self, max_tasks: usize) -> Vec<Vec<Op>> {
        let max_tasks = max_tasks.max(1);
        let mut batches: Vec<Vec<Op>> = Vec::new();
        let mut current: Vec<Op> = Vec::new();
        let mut room = max_tasks;
        let mut flush = |current: &mut Vec<Op>, room: &mut usize| {
            if !current.is_empty() {
                batches.push(std::mem::take(current));
            }
            *room = max_tasks;
        };
        // A task's units go in the transaction that assigns it: a task seen assigned without
        // them would be sent without its env, and counted as holding no named unit.
        let mut given: HashMap<String, Vec<GenericResource>> = self.given.into_iter().collect();
        for (node_id, mut task_ids) in self.assignments {
            while !task_ids.is_empty() {
                if room == 0 {
                    flush(&mut current, &mut room);
                }
                let rest = if task_ids.len() > room {
                    task_ids.split_off(room)
                } else {
                    Vec::new()
                };
                room -= task_ids.len();
                let units: Vec<(String, Vec<GenericResource>)> = if given.is_empty() {
                    Vec::new()
                } else {
                    task_ids.iter().filter_map(|id| given.remove_entry(id)).collect()
                };
                current.push(Op::AssignTasks {
                    node_id: node_id.clone(),
                    task_ids,
                });
                if !units.is_empty() {
                    current.push(Op::SetGenericResources(units));
                }
                task_ids = rest;
            }
        }
        let mut updates = self.unplaceable.into_iter().peekable();
        while updates.peek().is_some() {
            if room == 0 {
                flush(&mut current, &mut room);
            }
            let chunk: Vec<TaskUpdate> = updates
                .by_ref()
                .take(room)
                .map(|(id, reason)| TaskUpdate {
                    id,
                    change: TaskChange::Unplaceable(reason),
                })
                .collect();
            room -= chunk.len();
            current.push(Op::UpdateTasks(chunk));
        }
        flush(&mut current, &mut room);
        batches
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(prefix: &str, n: usize) -> Vec<String> {
        (0..n).map(|i| format!("{prefix}{i}")).collect()
    }

    #[test]
    fn batches_hold_at_most_max_tasks_and_keep_everything() {
        let d = Decisions {
            assignments: vec![("n1".into(), ids("a", 5)), ("n2".into(), ids("b", 2))],
            unplaceable: vec![("c0".into(), "why".into()), ("c1".into(), "why".into())],
            given: Vec::new(),
        };
        let batches = d.clone().into_batches(3);
        let count = |op: &Op| match op {
            Op::AssignTasks { task_ids, .. } => task_ids.len(),
            Op::UpdateTasks(u) => u.len(),
            _ => 0,
        };
        assert!(batches.iter().all(|b| b.iter().map(count).sum::<usize>() <= 3));
        assert_eq!(batches.iter().flatten().map(count).sum::<usize>(), 9);
        assert_eq!(batches.len(), 3);
        assert_eq!(d.to_ops().len(), 3, "one op per node plus one for the reasons");
        assert_eq!(d.assigned_count(), 7);
        assert!(Decisions::default().into_batches(10).is_empty());
    }

    #[test]
    fn given_units_ride_in_the_batch_that_assigns_their_task() {
        let gpu = |v: &str| GenericResource::Named {
            kind: "gpu".into(),
            value: v.into(),
        };
        let d = Decisions {
            assignments: vec![("n1".into(), ids("a", 5))],
            unplaceable: Vec::new(),
            given: vec![("a1".into(), vec![gpu("A")]), ("a4".into(), vec![gpu("B")])],
        };
        let batches = d.into_batches(3);
        assert_eq!(batches.len(), 2);
        for batch in &batches {
            let assigned: Vec<&String> = batch
                .iter()
                .flat_map(|op| match op {
                    Op::AssignTasks { task_ids, .. } => task_ids.iter().collect(),
                    _ => Vec::new(),
                })
                .collect();
            for op in batch {
                if let Op::SetGenericResources(units) = op {
                    assert!(units.iter().all(|(id, _)| assigned.contains(&id)), "{batch:?}");
                }
            }
        }
        let given: usize = batches
            .iter()
            .flatten()
            .map(|op| match op {
                Op::SetGenericResources(u) => u.len(),
                _ => 0,
            })
            .sum();
        assert_eq!(given, 2);
    }
}
