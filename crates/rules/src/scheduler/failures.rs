//! Recent task failures, the scheduler's input for Swarm's underweighting of nodes where a
//! service version keeps failing (see [`super::MAX_RECENT_FAILURES`]).
//!
//! Counted from the store itself, so every leader (a new one too) sees the same history: a
//! task of the version that FAILED or was REJECTED on a node within [`FAILURE_WINDOW`] of
//! `now` counts once. Only services with a task to place are looked at, so a pass with
//! nothing pending costs nothing, and one with pending tasks walks just those services.

use std::collections::BTreeSet;

use state::State;
use types::{TaskState, Timestamp};

use super::RecentFailures;
use super::group::wants_node;

/// How far back a failure counts (Swarm: 5 minutes).
pub const FAILURE_WINDOW_NANOS: i64 = 5 * 60 * 1_000_000_000;

/// Failures per (service, spec version) and node, for the services that have a task to
/// place among `candidates` (all tasks when `None`).
pub fn recent_failures(state: &State, candidates: Option<&[String]>, now: Timestamp) -> RecentFailures {
    let mut services: BTreeSet<&str> = BTreeSet::new();
    match candidates {
        Some(ids) => {
            for task in ids.iter().filter_map(|id| state.task(id)) {
                if wants_node(task) {
                    services.insert(&task.service_id);
                }
            }
        }
        None => {
            for task in state.tasks() {
                if wants_node(task) {
                    services.insert(&task.service_id);
                }
            }
        }
    }
    let since = now.0.saturating_sub(FAILURE_WINDOW_NANOS);
    let mut out = RecentFailures::new();
    for service_id in services {
        for task in state.tasks_of_service(service_id) {
            let failed = matches!(task.status.state, TaskState::Failed | TaskState::Rejected);
            if !failed || task.node_id.is_empty() || task.status.timestamp.0 < since {
                continue;
            }
            *out.entry((task.service_id.clone(), task.spec_version))
                .or_default()
                .entry(task.node_id.clone())
                .or_default() += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use types::{Object, TaskSpec, TaskState, Timestamp};

    use super::super::fixture::{node, service, snapshot, task};
    use super::super::{Inputs, schedule_with};
    use super::*;

    const NOW: i64 = 3_600 * 1_000_000_000;
    const MINUTE: i64 = 60 * 1_000_000_000;

    fn ended(id: &str, service_id: &str, version: u64, node_id: &str, state: TaskState, ago: i64) -> Object {
        let mut t = task(id, service_id, &Arc::new(TaskSpec::default()));
        t.spec_version = version;
        t.node_id = node_id.into();
        t.status.state = state;
        t.status.timestamp = Timestamp(NOW - ago);
        t.desired_state = TaskState::Shutdown;
        Object::Task(t)
    }

    fn world() -> Vec<Object> {
        let spec = Arc::new(TaskSpec::default());
        let mut objects = vec![
            Object::Node(node("n1")),
            Object::Node(node("n2")),
            Object::Service(service("s1", &[])),
            Object::Service(service("s2", &[])),
            Object::Task(task("pending", "s1", &spec)),
        ];
        for i in 0..5 {
            objects.push(ended(&format!("f{i}"), "s1", 1, "n1", TaskState::Failed, MINUTE));
        }
        objects.extend([
            ended("old", "s1", 1, "n2", TaskState::Failed, 10 * MINUTE),
            ended("rej", "s1", 1, "n2", TaskState::Rejected, MINUTE),
            ended("done", "s1", 1, "n2", TaskState::Complete, MINUTE),
            ended("v2", "s1", 2, "n1", TaskState::Failed, MINUTE),
            // No task of s2 waits for a node: its failures are not looked at.
            ended("other", "s2", 1, "n1", TaskState::Failed, MINUTE),
        ]);
        objects
    }

    #[test]
    fn counts_recent_failures_per_version_and_node_of_services_with_work() {
        let state = snapshot(world());
        let got = recent_failures(&state, None, Timestamp(NOW));
        let want: RecentFailures = [
            (
                ("s1".to_string(), 1),
                [("n1".to_string(), 5), ("n2".to_string(), 1)].into(),
            ),
            (("s1".to_string(), 2), [("n1".to_string(), 1)].into()),
        ]
        .into();
        assert_eq!(got, want);
        // The same through the candidates a commit touched; none pending → nothing.
        assert_eq!(
            recent_failures(&state, Some(&["pending".into()]), Timestamp(NOW)),
            want
        );
        assert!(recent_failures(&state, Some(&["f0".into()]), Timestamp(NOW)).is_empty());
    }

    #[test]
    fn a_node_where_the_version_keeps_failing_is_ranked_last() {
        let state = snapshot(world());
        // Without the failures n1 wins the tie (lower ID); with them n2 gets the task.
        let plain = schedule_with(&state, &Inputs::default());
        assert_eq!(
            plain.assignments,
            vec![("n1".to_string(), vec!["pending".to_string()])]
        );
        let failures = recent_failures(&state, None, Timestamp(NOW));
        let inputs = Inputs {
            recent_failures: Some(&failures),
            ..Inputs::default()
        };
        let weighted = schedule_with(&state, &inputs);
        assert_eq!(
            weighted.assignments,
            vec![("n2".to_string(), vec!["pending".to_string()])]
        );
    }
}
