//! Task: one scheduled instance of a service, and the ordered states it moves through.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::{Meta, TaskSpec, Timestamp};

/// Task states in Swarm's order. An observed state never moves backwards; the derive of
/// `Ord` follows declaration order, which is that order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum TaskState {
    /// Created by an orchestrator.
    #[default]
    New,
    /// Resources allocated; waiting for a node.
    Pending,
    /// Given to a node.
    Assigned,
    /// The node took it.
    Accepted,
    /// Being prepared.
    Preparing,
    /// Prepared.
    Ready,
    /// Starting.
    Starting,
    /// Running.
    Running,
    /// Exited 0.
    Complete,
    /// Stopped on request.
    Shutdown,
    /// Exited non-zero or failed after starting.
    Failed,
    /// Could not be started.
    Rejected,
    /// Marked for removal (desired state only).
    Remove,
    /// Lost with its node.
    Orphaned,
}

impl TaskState {
    /// Docker's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::New => "new",
            TaskState::Pending => "pending",
            TaskState::Assigned => "assigned",
            TaskState::Accepted => "accepted",
            TaskState::Preparing => "preparing",
            TaskState::Ready => "ready",
            TaskState::Starting => "starting",
            TaskState::Running => "running",
            TaskState::Complete => "complete",
            TaskState::Shutdown => "shutdown",
            TaskState::Failed => "failed",
            TaskState::Rejected => "rejected",
            TaskState::Remove => "remove",
            TaskState::Orphaned => "orphaned",
        }
    }

    /// Parses Docker's spelling.
    pub fn parse(text: &str) -> Option<TaskState> {
        ALL.iter().copied().find(|s| s.as_str() == text)
    }

    /// True once the task has stopped for good (complete and later).
    pub fn is_terminal(self) -> bool {
        self >= TaskState::Complete
    }

    /// True while the task occupies its node (assigned up to running).
    pub fn is_active_on_node(self) -> bool {
        (TaskState::Assigned..=TaskState::Running).contains(&self)
    }
}

const ALL: [TaskState; 14] = [
    TaskState::New,
    TaskState::Pending,
    TaskState::Assigned,
    TaskState::Accepted,
    TaskState::Preparing,
    TaskState::Ready,
    TaskState::Starting,
    TaskState::Running,
    TaskState::Complete,
    TaskState::Shutdown,
    TaskState::Failed,
    TaskState::Rejected,
    TaskState::Remove,
    TaskState::Orphaned,
];

/// A task as the store keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// 25-character ID.
    pub id: String,
    /// Version and timestamps.
    pub meta: Meta,
    /// The spec it runs; shared with every task of the same service version.
    pub spec: Arc<TaskSpec>,
    /// Service spec version it was made from.
    pub spec_version: u64,
    /// Owning service.
    pub service_id: String,
    /// Service name (for the task name and logs).
    pub service_name: String,
    /// Slot number (replicated), 0 for global tasks.
    pub slot: u64,
    /// Node it is assigned to ("" until scheduled; preset for global tasks).
    pub node_id: String,
    /// What the node reports.
    pub status: TaskStatus,
    /// Where the orchestrator wants it to go.
    pub desired_state: TaskState,
    /// Job iteration it belongs to (job services).
    pub job_iteration: Option<u64>,
}

impl Task {
    /// Docker's task name: `<service>.<slot>` or `<service>.<node ID>`, then `.<task ID>`.
    pub fn name(&self) -> String {
        if self.slot > 0 {
            format!("{}.{}.{}", self.service_name, self.slot, self.id)
        } else {
            format!("{}.{}.{}", self.service_name, self.node_id, self.id)
        }
    }

    /// The task's host name: its spec's, else the first 12 characters of its ID (what a
    /// container ID shows in Docker; the oci executor sets it and the sandbox's hosts file
    /// names it, so the docker executor sets it too when it uses that file).
    pub fn hostname(&self) -> String {
        if self.spec.container.hostname.is_empty() {
            self.id.chars().take(12).collect()
        } else {
            self.spec.container.hostname.clone()
        }
    }

    /// True for a network attachment task: an address on an attachable network held for a
    /// standalone container (Docker's TaskSpec `Runtime: attachment`); nothing runs it.
    pub fn is_attachment(&self) -> bool {
        self.spec.runtime == ATTACHMENT_RUNTIME
    }
}

/// The TaskSpec runtime of network attachment tasks (Docker's `Runtime` value for them).
pub const ATTACHMENT_RUNTIME: &str = "attachment";

/// Observed status of a task.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskStatus {
    /// When the state was reached.
    pub timestamp: Timestamp,
    /// Observed state.
    pub state: TaskState,
    /// Human-readable progress.
    pub message: String,
    /// Error, when failed or rejected (or why it cannot be scheduled).
    pub err: String,
    /// Process facts once started.
    pub container: Option<ContainerStatus>,
}

/// Facts about the running process or container.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerStatus {
    /// Container ID (or a process executor's handle).
    pub container_id: String,
    /// Process ID.
    pub pid: i64,
    /// Exit code once exited.
    pub exit_code: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_are_ordered_as_in_swarm() {
        for pair in ALL.windows(2) {
            assert!(pair[0] < pair[1], "{:?} < {:?}", pair[0], pair[1]);
        }
        assert!(TaskState::Running.is_active_on_node());
        assert!(!TaskState::Pending.is_active_on_node());
        assert!(TaskState::Failed.is_terminal());
        assert_eq!(TaskState::parse("running"), Some(TaskState::Running));
    }
}
