//! The task reaper: keeps at most the cluster's task history limit of finished tasks per
//! slot (per node for global services), and deletes the tasks of deleted services once they
//! have stopped.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use state::State;
use types::{ServiceMode, Task, TaskState};

use super::Plan;
use super::slots::{dead, invalid_node, runnable};

/// Default history per slot (Swarm's TaskHistoryRetentionLimit).
const DEFAULT_LIMIT: i64 = 5;

/// True once a task no longer occupies anything: stopped, never placed, or its node is gone.
fn finished(state: &State, t: &Task) -> bool {
    dead(t) || t.status.state < TaskState::Assigned || invalid_node(state.node(&t.node_id))
}

/// Plans deletions (and removal of tasks whose service is gone).
pub fn reconcile(state: &State, only: Option<&BTreeSet<String>>, plan: &mut Plan) {
    let limit = state
        .cluster()
        .map(|c| c.spec.task_history_retention_limit)
        .unwrap_or(DEFAULT_LIMIT);
    let mut groups: BTreeMap<(&str, String), Vec<&Arc<Task>>> = BTreeMap::new();
    // With a dirty set, only those services' tasks (through the index), not every task.
    let tasks: Box<dyn Iterator<Item = &Arc<Task>>> = match only {
        Some(set) => Box::new(set.iter().flat_map(|s| state.tasks_of_service(s))),
        None => Box::new(state.tasks()),
    };
    for t in tasks {
        if t.is_attachment() {
            // Owned by a standalone container, not a service: the daemon that made it deletes
            // it; here only once its node has left the cluster.
            if state.node(&t.node_id).is_none() {
                plan.delete(t);
            }
            continue;
        }
        let Some(service) = state.service(&t.service_id) else {
            if runnable(t) {
                plan.desire(t, TaskState::Remove);
            } else if finished(state, t) {
                plan.delete(t);
            }
            continue;
        };
        if t.desired_state == TaskState::Remove && finished(state, t) {
            plan.delete(t);
            continue;
        }
        // Replicated jobs number their slots from 0, so the mode, not the number, tells
        // slot-keyed tasks from node-keyed ones.
        let key = if matches!(service.spec.mode, ServiceMode::Global | ServiceMode::GlobalJob) {
            t.node_id.clone()
        } else {
            t.slot.to_string()
        };
        groups.entry((service.id.as_str(), key)).or_default().push(t);
        let _ = service;
    }
    if limit < 0 {
        return;
    }
    for ((service_id, _), mut tasks) in groups {
        // Keep enough history for the restart policy to count its attempts.
        let attempts = state
            .service(service_id)
            .map(|s| s.spec.task.restart.max_attempts as i64 + 1)
            .unwrap_or(0);
        let keep = limit.max(attempts).max(1) as usize;
        if tasks.len() <= keep {
            continue;
        }
        tasks.sort_by_key(|t| (t.meta.created_at, t.meta.version));
        let mut excess = tasks.len() - keep;
        for t in tasks {
            if excess == 0 {
                break;
            }
            if t.desired_state >= TaskState::Shutdown && finished(state, t) {
                plan.delete(t);
                excess -= 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::orchestrator::fixtures::World;

    #[test]
    fn history_per_slot_is_capped() {
        let mut w = World::new().nodes(&["n1"]).replicated("web", 1);
        for _ in 0..10 {
            w.settle();
            w.place_all_round_robin();
            w.fail_all(1);
            w.advance_secs(6);
        }
        w.settle();
        let n = w.state.tasks_of_service(&w.service_id("web")).count();
        assert!(n <= 5, "history {n} tasks");
    }

    #[test]
    fn tasks_of_a_deleted_service_are_removed_then_deleted() {
        let mut w = World::new().nodes(&["n1"]).replicated("web", 2);
        w.settle();
        w.place_all_round_robin();
        w.run_all();
        w.delete_service("web");
        w.settle();
        w.run_all();
        w.settle();
        assert_eq!(w.state.task_count(), 0);
    }
}
