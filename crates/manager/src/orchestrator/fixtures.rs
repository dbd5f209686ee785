//! Test fixtures for orchestrator tests: services, tasks and nodes with sensible defaults.

use std::collections::BTreeMap;
use std::sync::Arc;

use types::{Meta, RestartPolicy, Task, TaskSpec, TaskState, TaskStatus, Timestamp};

/// A task in `slot` with observed `state`, created at `at` (seconds).
pub fn task_in_slot(id: &str, slot: u64, state: TaskState, restart: RestartPolicy, at: i64) -> Arc<Task> {
    let spec = TaskSpec { restart, ..Default::default() };
    Arc::new(Task {
        id: id.into(),
        meta: Meta { version: 1, created_at: Timestamp(at * 1_000_000_000), updated_at: Timestamp(at * 1_000_000_000) },
        spec: Arc::new(spec),
        spec_version: 1,
        service_id: "svc".into(),
        service_name: "web".into(),
        slot,
        node_id: String::new(),
        status: TaskStatus { timestamp: Timestamp(at * 1_000_000_000), state, ..Default::default() },
        desired_state: TaskState::Running,
        job_iteration: None,
    })
}

/// Unused labels map, for building specs.
pub fn no_labels() -> BTreeMap<String, String> {
    BTreeMap::new()
}
