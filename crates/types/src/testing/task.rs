//! Task fixtures: `task("t1").slot(2).node("n1").state(TaskState::Running).build()`.

use std::sync::Arc;

use crate::{ContainerSpec, Meta, Task, TaskSpec, TaskState, TaskStatus, Timestamp};

/// Starts a task of service `svc` (named `web`) in slot 1 at spec version 1: NEW, desired
/// RUNNING, on no node, with an empty spec.
pub fn task(id: &str) -> TaskBuilder {
    TaskBuilder(Task {
        id: id.into(),
        meta: Meta::default(),
        spec: Arc::default(),
        spec_version: 1,
        service_id: "svc".into(),
        service_name: "web".into(),
        slot: 1,
        node_id: String::new(),
        status: TaskStatus::default(),
        desired_state: TaskState::Running,
        job_iteration: None,
    })
}

/// A task under construction.
#[derive(Debug, Clone)]
pub struct TaskBuilder(Task);

impl TaskBuilder {
    /// Its service's ID and name.
    pub fn service(mut self, id: &str, name: &str) -> Self {
        self.0.service_id = id.into();
        self.0.service_name = name.into();
        self
    }

    /// Its slot (0 for a global task).
    pub fn slot(mut self, slot: u64) -> Self {
        self.0.slot = slot;
        self
    }

    /// The node it is assigned to.
    pub fn node(mut self, node_id: &str) -> Self {
        self.0.node_id = node_id.into();
        self
    }

    /// Its observed state.
    pub fn state(mut self, state: TaskState) -> Self {
        self.0.status.state = state;
        self
    }

    /// Its desired state.
    pub fn desired(mut self, state: TaskState) -> Self {
        self.0.desired_state = state;
        self
    }

    /// The spec it runs.
    pub fn spec(mut self, spec: impl Into<Arc<TaskSpec>>) -> Self {
        self.0.spec = spec.into();
        self
    }

    /// The container it runs (the rest of its spec empty).
    pub fn container(self, container: ContainerSpec) -> Self {
        self.spec(TaskSpec {
            container,
            ..TaskSpec::default()
        })
    }

    /// Its service's spec version.
    pub fn spec_version(mut self, version: u64) -> Self {
        self.0.spec_version = version;
        self
    }

    /// Created, written and in its state since `at`.
    pub fn at(mut self, at: Timestamp) -> Self {
        self.0.meta.created_at = at;
        self.0.meta.updated_at = at;
        self.0.status.timestamp = at;
        self
    }

    /// Its object version.
    pub fn version(mut self, version: u64) -> Self {
        self.0.meta.version = version;
        self
    }

    /// The job iteration it belongs to.
    pub fn job_iteration(mut self, iteration: u64) -> Self {
        self.0.job_iteration = Some(iteration);
        self
    }

    /// The finished task.
    pub fn build(self) -> Task {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_task_is_new_desired_running_in_slot_one_on_no_node() {
        let t = task("t1").build();
        assert_eq!((t.id.as_str(), t.service_id.as_str(), t.slot), ("t1", "svc", 1));
        assert_eq!(
            (t.status.state, t.desired_state),
            (TaskState::New, TaskState::Running)
        );
        assert!(t.node_id.is_empty());
        let t = task("t2")
            .service("s1", "db")
            .slot(0)
            .node("n1")
            .state(TaskState::Running)
            .desired(TaskState::Shutdown)
            .at(Timestamp(5))
            .build();
        assert_eq!(t.name(), "db.n1.t2");
        assert_eq!(
            (t.meta.created_at, t.status.timestamp),
            (Timestamp(5), Timestamp(5))
        );
        assert_eq!(t.desired_state, TaskState::Shutdown);
    }
}
