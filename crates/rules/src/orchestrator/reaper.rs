//! The task reaper: keeps at most the cluster's task history limit of finished tasks per
//! slot (per node for global services), and deletes the tasks of deleted services once they
//! have stopped.

use std::collections::BTreeSet;
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
    // Service by service through the index: with a dirty set only those, else every service
    // tasks name (deleted ones too). Each service is looked up once, not once per task.
    match only {
        Some(set) => set.iter().for_each(|id| reap_service(state, id, limit, plan)),
        None => state
            .task_service_ids()
            .for_each(|id| reap_service(state, id, limit, plan)),
    }
}

/// Whose history a task is: its slot's, or its node's for global services. Replicated jobs
/// number their slots from 0, so the mode, not the number, tells the two apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Group<'a> {
    Slot(u64),
    Node(&'a str),
}

fn reap_service(state: &State, service_id: &str, limit: i64, plan: &mut Plan) {
    let service = state.service(service_id);
    let global = service.is_some_and(|s| matches!(s.spec.mode, ServiceMode::Global | ServiceMode::GlobalJob));
    let mut kept: Vec<(Group<'_>, &Arc<Task>)> = Vec::new();
    for t in state.tasks_of_service(service_id) {
        if t.is_attachment() {
            // Owned by a standalone container, not a service: the daemon that made it deletes
            // it; here only once its node has left the cluster.
            if state.node(&t.node_id).is_none() {
                plan.delete(t);
            }
            continue;
        }
        if service.is_none() {
            if runnable(t) {
                plan.desire(t, TaskState::Remove);
            } else if finished(state, t) {
                plan.delete(t);
            }
            continue;
        }
        if t.desired_state == TaskState::Remove && finished(state, t) {
            plan.delete(t);
            continue;
        }
        let group = if global {
            Group::Node(&t.node_id)
        } else {
            Group::Slot(t.slot)
        };
        kept.push((group, t));
    }
    let Some(service) = service else { return };
    if limit < 0 {
        return;
    }
    // Keep enough history for the restart policy to count its attempts.
    let attempts = service.spec.task.restart.max_attempts as i64 + 1;
    let keep = limit.max(attempts).max(1) as usize;
    // Stable: within a slot, tasks stay in ID order for the sort by age below.
    kept.sort_by_key(|(group, _)| *group);
    for history in kept.chunk_by_mut(|a, b| a.0 == b.0) {
        if history.len() <= keep {
            continue;
        }
        history.sort_by_key(|(_, t)| (t.meta.created_at, t.meta.version));
        let mut excess = history.len() - keep;
        for (_, t) in history.iter() {
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
