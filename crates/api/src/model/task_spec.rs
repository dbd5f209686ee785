//! Task template shapes (`TaskTemplate` of a ServiceSpec, `Spec` of a Task): what to run, with
//! which resources, restart policy, placement and networks.
//!
//! Durations are Go `time.Duration` values: integer nanoseconds.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{Driver, Platform, is_zero, nullable};

/// Docker's TaskSpec.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TaskSpec {
    /// The container to run (the only runtime shoal supports).
    #[serde(
        default,
        deserialize_with = "super::container_keys::container_spec",
        skip_serializing_if = "Option::is_none"
    )]
    pub container_spec: Option<ContainerSpec>,
    /// Plugin runtime spec; kept only to refuse it clearly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin_spec: Option<Value>,
    /// Network attachment runtime spec; kept only to refuse it clearly.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_attachment_spec: Option<Value>,
    /// Limits and reservations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// When to replace exited tasks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<RestartPolicy>,
    /// Where tasks may run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<Placement>,
    /// Networks to attach.
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "Vec::is_empty")]
    pub networks: Vec<NetworkAttachmentConfig>,
    /// Log driver for the task's containers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_driver: Option<Driver>,
    /// Counter bumped to force a redeploy (always written, as dockerd does).
    #[serde(default, deserialize_with = "nullable")]
    pub force_update: u64,
    /// `container` (or empty, meaning container).
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub runtime: String,
}

/// Docker's ContainerSpec. The fields shoal acts on are typed; every other field the client
/// sent (`Mounts`, `Privileges`, `Init`, `DNSConfig`, …) is kept in `extra` and written back.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerSpec {
    /// Image reference.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub image: String,
    /// Container labels.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub labels: BTreeMap<String, String>,
    /// Entrypoint override.
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// Arguments.
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Host name.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub hostname: String,
    /// `KEY=value` environment.
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    /// Working directory.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub dir: String,
    /// User (name or uid[:gid]).
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub user: String,
    /// Signal that asks the task to stop.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub stop_signal: String,
    /// Allocate a TTY.
    #[serde(
        rename = "TTY",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "is_zero"
    )]
    pub tty: bool,
    /// Keep stdin open.
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "is_zero")]
    pub open_stdin: bool,
    /// Grace before SIGKILL, nanoseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_grace_period: Option<i64>,
    /// Health check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<HealthConfig>,
    /// Every other ContainerSpec field, verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Docker's HealthConfig.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HealthConfig {
    /// `["NONE"]`, `["CMD", args…]` or `["CMD-SHELL", command]`.
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "Vec::is_empty")]
    pub test: Vec<String>,
    /// Between checks, nanoseconds.
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "is_zero")]
    pub interval: i64,
    /// Per check, nanoseconds.
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "is_zero")]
    pub timeout: i64,
    /// Failures ignored during this start period, nanoseconds.
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "is_zero")]
    pub start_period: i64,
    /// Between checks during the start period, nanoseconds.
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "is_zero")]
    pub start_interval: i64,
    /// Consecutive failures to be unhealthy.
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "is_zero")]
    pub retries: i64,
}

/// Limits and reservations.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ResourceRequirements {
    /// Hard caps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<Limit>,
    /// What the scheduler sets aside.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reservations: Option<Reservation>,
}

/// Resource limits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Limit {
    /// CPUs × 10⁹.
    #[serde(
        rename = "NanoCPUs",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "is_zero"
    )]
    pub nano_cpus: i64,
    /// Bytes.
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "is_zero")]
    pub memory_bytes: i64,
    /// Max processes.
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "is_zero")]
    pub pids: i64,
}

/// Resource reservations.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Reservation {
    /// CPUs × 10⁹.
    #[serde(
        rename = "NanoCPUs",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "is_zero"
    )]
    pub nano_cpus: i64,
    /// Bytes.
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "is_zero")]
    pub memory_bytes: i64,
    /// User-defined resources (`DiscreteResourceSpec` counts; see `types::generic`).
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "Vec::is_empty")]
    pub generic_resources: Vec<Value>,
}

/// Docker's RestartPolicy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RestartPolicy {
    /// `none`, `on-failure` or `any` (empty: any).
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub condition: String,
    /// Wait before restarting, nanoseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<i64>,
    /// Restarts allowed within the window (0: unlimited).
    #[serde(
        default,
        deserialize_with = "super::max_attempts",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_attempts: Option<u64>,
    /// Window for counting attempts, nanoseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<i64>,
}

/// Docker's Placement.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Placement {
    /// `key==value` / `key!=value` expressions.
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "Vec::is_empty")]
    pub constraints: Vec<String>,
    /// Spread preferences.
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "Vec::is_empty")]
    pub preferences: Vec<PlacementPreference>,
    /// Tasks per node (0: unlimited).
    #[serde(
        default,
        deserialize_with = "super::max_replicas",
        skip_serializing_if = "is_zero"
    )]
    pub max_replicas: u64,
    /// Platforms the image supports.
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<Platform>,
}

/// One placement preference (`{"Spread": {"SpreadDescriptor": "node.labels.zone"}}`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PlacementPreference {
    /// Spread tasks evenly over the values of a label.
    #[serde(default)]
    pub spread: Option<SpreadOver>,
}

/// The label a spread preference spreads over.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SpreadOver {
    /// e.g. `node.labels.zone`.
    #[serde(default, deserialize_with = "nullable")]
    pub spread_descriptor: String,
}

/// A network a task attaches to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkAttachmentConfig {
    /// Network ID or name.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub target: String,
    /// DNS aliases.
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// Driver options.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub driver_opts: BTreeMap<String, String>,
}
