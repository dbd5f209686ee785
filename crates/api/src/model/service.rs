//! Service shapes: `GET /services`, `GET /services/{id}`, the ServiceSpec body of
//! `POST /services/create` and `POST /services/{id}/update`, and their answers.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{ObjectVersion, TaskSpec, nullable};

/// A service as `docker service inspect` shows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Service {
    /// Service ID.
    #[serde(rename = "ID", default, deserialize_with = "nullable")]
    pub id: String,
    /// Version to send back with an update.
    #[serde(default, deserialize_with = "nullable")]
    pub version: ObjectVersion,
    /// When the service was created.
    #[serde(default, deserialize_with = "nullable")]
    pub created_at: String,
    /// When the service was last written.
    #[serde(default, deserialize_with = "nullable")]
    pub updated_at: String,
    /// What was asked for.
    #[serde(default, deserialize_with = "nullable")]
    pub spec: ServiceSpec,
    /// The spec before the last update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_spec: Option<ServiceSpec>,
    /// Published ports and virtual IPs.
    #[serde(default, deserialize_with = "nullable")]
    pub endpoint: Endpoint,
    /// Progress of a rolling update or rollback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_status: Option<UpdateStatus>,
    /// Task counts (only with `?status=true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_status: Option<ServiceStatus>,
    /// Iteration of a job service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_status: Option<JobStatus>,
}

/// Docker's ServiceSpec.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServiceSpec {
    /// Unique service name.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub name: String,
    /// Service labels (always written, as dockerd does).
    #[serde(default, deserialize_with = "nullable")]
    pub labels: BTreeMap<String, String>,
    /// Template of every task.
    #[serde(default, deserialize_with = "nullable")]
    pub task_template: TaskSpec,
    /// How many tasks, where.
    #[serde(default, deserialize_with = "nullable")]
    pub mode: ServiceMode,
    /// Rolling update settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_config: Option<UpdateConfig>,
    /// Rollback settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_config: Option<UpdateConfig>,
    /// Ports and endpoint mode.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_spec: Option<EndpointSpec>,
}

/// Docker's ServiceMode: exactly one member is set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServiceMode {
    /// A fixed number of replicas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicated: Option<ReplicatedService>,
    /// One task per eligible node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub global: Option<Empty>,
    /// Run to completion a number of times.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicated_job: Option<ReplicatedJob>,
    /// Run to completion once per eligible node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub global_job: Option<Empty>,
}

/// A JSON object with no fields (`{}`), as Docker marks the global modes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Empty {}

/// Replicated mode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReplicatedService {
    /// Number of replicas (missing: 1).
    #[serde(
        default,
        deserialize_with = "super::replicas",
        skip_serializing_if = "Option::is_none"
    )]
    pub replicas: Option<u64>,
}

/// Replicated job mode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReplicatedJob {
    /// Tasks at once (missing: 1).
    #[serde(
        default,
        deserialize_with = "super::max_concurrent",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_concurrent: Option<u64>,
    /// Completions wanted (missing: MaxConcurrent).
    #[serde(
        default,
        deserialize_with = "super::total_completions",
        skip_serializing_if = "Option::is_none"
    )]
    pub total_completions: Option<u64>,
}

/// Docker's UpdateConfig (also RollbackConfig). Parallelism, MaxFailureRatio and Order are
/// always written, as dockerd writes them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateConfig {
    /// Tasks updated at once (0: all).
    #[serde(default, deserialize_with = "super::parallelism")]
    pub parallelism: u64,
    /// Pause between batches, nanoseconds.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "super::is_zero"
    )]
    pub delay: i64,
    /// `pause`, `continue` or `rollback` (empty: pause).
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub failure_action: String,
    /// How long each updated task is watched, nanoseconds (0: the default 5 s).
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "super::is_zero"
    )]
    pub monitor: i64,
    /// Failed fraction tolerated.
    #[serde(default, deserialize_with = "nullable")]
    pub max_failure_ratio: f32,
    /// `stop-first` or `start-first` (empty: stop-first).
    #[serde(default, deserialize_with = "nullable")]
    pub order: String,
}

/// Docker's EndpointSpec.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EndpointSpec {
    /// `vip` or `dnsrr`.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub mode: String,
    /// Published ports.
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<PortConfig>,
}

/// One published port.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PortConfig {
    /// Optional name.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub name: String,
    /// `tcp`, `udp` or `sctp`.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub protocol: String,
    /// Port inside the task.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "super::is_zero"
    )]
    pub target_port: u32,
    /// Port on the nodes (0: allocate).
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "super::is_zero"
    )]
    pub published_port: u32,
    /// `ingress` or `host`.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub publish_mode: String,
}

/// The allocated endpoint of a service.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Endpoint {
    /// The spec the allocation is for.
    #[serde(default, deserialize_with = "nullable")]
    pub spec: EndpointSpec,
    /// Ports as allocated.
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<PortConfig>,
    /// One virtual IP per attached network.
    #[serde(
        rename = "VirtualIPs",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub virtual_ips: Vec<EndpointVirtualIp>,
}

/// A service's virtual IP on one network.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EndpointVirtualIp {
    /// Network ID.
    #[serde(rename = "NetworkID", default, deserialize_with = "nullable")]
    pub network_id: String,
    /// Address in CIDR form.
    #[serde(default, deserialize_with = "nullable")]
    pub addr: String,
}

/// Docker's UpdateStatus.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateStatus {
    /// `updating`, `paused`, `completed`, `rollback_started`, `rollback_paused`,
    /// `rollback_completed`.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub state: String,
    /// When it started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// When it finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<String>,
    /// Why it is where it is.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub message: String,
}

/// Docker's ServiceStatus (`?status=true`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServiceStatus {
    /// Tasks running.
    #[serde(default, deserialize_with = "nullable")]
    pub running_tasks: u64,
    /// Tasks wanted.
    #[serde(default, deserialize_with = "nullable")]
    pub desired_tasks: u64,
    /// Tasks completed (jobs).
    #[serde(default, deserialize_with = "nullable")]
    pub completed_tasks: u64,
}

/// Docker's JobStatus.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct JobStatus {
    /// Iteration of the job, bumped on every (re)run.
    #[serde(default, deserialize_with = "nullable")]
    pub job_iteration: ObjectVersion,
    /// When the current iteration started.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub last_execution: String,
}

/// The answer to `POST /services/create`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServiceCreateResponse {
    /// The new service's ID.
    #[serde(rename = "ID", default, deserialize_with = "nullable")]
    pub id: String,
    /// Warnings for the operator.
    #[serde(default, deserialize_with = "nullable")]
    pub warnings: Vec<String>,
}

/// The answer to `POST /services/{id}/update`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServiceUpdateResponse {
    /// Warnings for the operator.
    #[serde(default, deserialize_with = "nullable")]
    pub warnings: Vec<String>,
}
