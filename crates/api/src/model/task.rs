//! Task shapes: `GET /tasks`, `GET /tasks/{id}`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{ObjectVersion, PortConfig, TaskSpec, is_zero, nullable};

/// A task as `docker inspect <task>` shows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Task {
    /// Task ID.
    #[serde(rename = "ID", default, deserialize_with = "nullable")]
    pub id: String,
    /// Version of the task object.
    #[serde(default, deserialize_with = "nullable")]
    pub version: ObjectVersion,
    /// When the task was created.
    #[serde(default, deserialize_with = "nullable")]
    pub created_at: String,
    /// When the task was last written.
    #[serde(default, deserialize_with = "nullable")]
    pub updated_at: String,
    /// `<service>.<slot>.<id>` (or `<service>.<node>.<id>` for global tasks).
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub name: String,
    /// Task labels (always written, as dockerd does).
    #[serde(default, deserialize_with = "nullable")]
    pub labels: BTreeMap<String, String>,
    /// The spec the task runs.
    #[serde(default, deserialize_with = "nullable")]
    pub spec: TaskSpec,
    /// Owning service.
    #[serde(
        rename = "ServiceID",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub service_id: String,
    /// Slot (replicated services).
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "is_zero")]
    pub slot: u64,
    /// Node the task is assigned to.
    #[serde(
        rename = "NodeID",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub node_id: String,
    /// What the node reports.
    #[serde(default, deserialize_with = "nullable")]
    pub status: TaskStatus,
    /// Where the orchestrator wants the task to go.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub desired_state: String,
    /// Job iteration (job services).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_iteration: Option<ObjectVersion>,
    /// Cluster volumes; none in shoal (dockerd always writes the key).
    #[serde(default)]
    pub volumes: Option<Vec<Value>>,
    /// The task's addresses per network: `{"Network": <swarm network>, "Addresses": [..]}`.
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "Vec::is_empty")]
    pub networks_attachments: Vec<Value>,
    /// The generic resources the task was given (SwarmKit's `AssignedGenericResources`, which
    /// dockerd writes under this key): `[{"NamedResourceSpec": …}, {"DiscreteResourceSpec": …}]`.
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "Vec::is_empty")]
    pub generic_resources: Vec<Value>,
}

/// Docker's TaskStatus.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TaskStatus {
    /// When the state was reached.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub timestamp: String,
    /// Observed state.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub state: String,
    /// Human-readable progress.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub message: String,
    /// Error, when failed or rejected.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub err: String,
    /// Process facts once started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_status: Option<ContainerStatus>,
    /// Host-mode published ports.
    #[serde(default, deserialize_with = "nullable")]
    pub port_status: PortStatus,
}

/// Docker's ContainerStatus (every field always written).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerStatus {
    /// Container ID.
    #[serde(rename = "ContainerID", default, deserialize_with = "nullable")]
    pub container_id: String,
    /// Process ID.
    #[serde(rename = "PID", default, deserialize_with = "nullable")]
    pub pid: i64,
    /// Exit code (0 while running).
    #[serde(default, deserialize_with = "nullable")]
    pub exit_code: i64,
}

/// Ports a task publishes in host mode.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PortStatus {
    /// The ports.
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<PortConfig>,
}
