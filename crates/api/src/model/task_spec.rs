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
pub struct TaskSpec {
    /// The container to run (the only runtime shoal supports).
    #[serde(rename = "ContainerSpec", default, skip_serializing_if = "Option::is_none")]
    pub container_spec: Option<ContainerSpec>,
    /// Plugin runtime spec; kept only to refuse it clearly.
    #[serde(rename = "PluginSpec", default, skip_serializing_if = "Option::is_none")]
    pub plugin_spec: Option<Value>,
    /// Network attachment runtime spec; kept only to refuse it clearly.
    #[serde(
        rename = "NetworkAttachmentSpec",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub network_attachment_spec: Option<Value>,
    /// Limits and reservations.
    #[serde(rename = "Resources", default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// When to replace exited tasks.
    #[serde(rename = "RestartPolicy", default, skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<RestartPolicy>,
    /// Where tasks may run.
    #[serde(rename = "Placement", default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<Placement>,
    /// Networks to attach.
    #[serde(
        rename = "Networks",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub networks: Vec<NetworkAttachmentConfig>,
    /// Log driver for the task's containers.
    #[serde(rename = "LogDriver", default, skip_serializing_if = "Option::is_none")]
    pub log_driver: Option<Driver>,
    /// Counter bumped to force a redeploy (always written, as dockerd does).
    #[serde(rename = "ForceUpdate", default, deserialize_with = "nullable")]
    pub force_update: u64,
    /// `container` (or empty, meaning container).
    #[serde(
        rename = "Runtime",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub runtime: String,
}

/// Docker's ContainerSpec. The fields shoal acts on are typed; every other field the client
/// sent (`Mounts`, `Privileges`, `Init`, `DNSConfig`, …) is kept in `extra` and written back.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContainerSpec {
    /// Image reference.
    #[serde(
        rename = "Image",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub image: String,
    /// Container labels.
    #[serde(
        rename = "Labels",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub labels: BTreeMap<String, String>,
    /// Entrypoint override.
    #[serde(
        rename = "Command",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub command: Vec<String>,
    /// Arguments.
    #[serde(
        rename = "Args",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub args: Vec<String>,
    /// Host name.
    #[serde(
        rename = "Hostname",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub hostname: String,
    /// `KEY=value` environment.
    #[serde(
        rename = "Env",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub env: Vec<String>,
    /// Working directory.
    #[serde(
        rename = "Dir",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub dir: String,
    /// User (name or uid[:gid]).
    #[serde(
        rename = "User",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub user: String,
    /// Signal that asks the task to stop.
    #[serde(
        rename = "StopSignal",
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
    #[serde(
        rename = "OpenStdin",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "is_zero"
    )]
    pub open_stdin: bool,
    /// Grace before SIGKILL, nanoseconds.
    #[serde(rename = "StopGracePeriod", default, skip_serializing_if = "Option::is_none")]
    pub stop_grace_period: Option<i64>,
    /// Health check.
    #[serde(rename = "Healthcheck", default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<HealthConfig>,
    /// Every other ContainerSpec field, verbatim.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Docker's HealthConfig.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthConfig {
    /// `["NONE"]`, `["CMD", args…]` or `["CMD-SHELL", command]`.
    #[serde(
        rename = "Test",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub test: Vec<String>,
    /// Between checks, nanoseconds.
    #[serde(
        rename = "Interval",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "is_zero"
    )]
    pub interval: i64,
    /// Per check, nanoseconds.
    #[serde(
        rename = "Timeout",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "is_zero"
    )]
    pub timeout: i64,
    /// Failures ignored during this start period, nanoseconds.
    #[serde(
        rename = "StartPeriod",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "is_zero"
    )]
    pub start_period: i64,
    /// Between checks during the start period, nanoseconds.
    #[serde(
        rename = "StartInterval",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "is_zero"
    )]
    pub start_interval: i64,
    /// Consecutive failures to be unhealthy.
    #[serde(
        rename = "Retries",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "is_zero"
    )]
    pub retries: i64,
}

/// Limits and reservations.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceRequirements {
    /// Hard caps.
    #[serde(rename = "Limits", default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<Limit>,
    /// What the scheduler sets aside.
    #[serde(rename = "Reservations", default, skip_serializing_if = "Option::is_none")]
    pub reservations: Option<Reservation>,
}

/// Resource limits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
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
    #[serde(
        rename = "MemoryBytes",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "is_zero"
    )]
    pub memory_bytes: i64,
    /// Max processes.
    #[serde(
        rename = "Pids",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "is_zero"
    )]
    pub pids: i64,
}

/// Resource reservations.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
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
    #[serde(
        rename = "MemoryBytes",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "is_zero"
    )]
    pub memory_bytes: i64,
    /// User-defined resources; not supported, kept only to refuse them clearly.
    #[serde(
        rename = "GenericResources",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub generic_resources: Vec<Value>,
}

/// Docker's RestartPolicy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestartPolicy {
    /// `none`, `on-failure` or `any` (empty: any).
    #[serde(
        rename = "Condition",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub condition: String,
    /// Wait before restarting, nanoseconds.
    #[serde(rename = "Delay", default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<i64>,
    /// Restarts allowed within the window (0: unlimited).
    #[serde(
        rename = "MaxAttempts",
        default,
        deserialize_with = "super::max_attempts",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_attempts: Option<u64>,
    /// Window for counting attempts, nanoseconds.
    #[serde(rename = "Window", default, skip_serializing_if = "Option::is_none")]
    pub window: Option<i64>,
}

/// Docker's Placement.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placement {
    /// `key==value` / `key!=value` expressions.
    #[serde(
        rename = "Constraints",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub constraints: Vec<String>,
    /// Spread preferences.
    #[serde(
        rename = "Preferences",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub preferences: Vec<PlacementPreference>,
    /// Tasks per node (0: unlimited).
    #[serde(
        rename = "MaxReplicas",
        default,
        deserialize_with = "super::max_replicas",
        skip_serializing_if = "is_zero"
    )]
    pub max_replicas: u64,
    /// Platforms the image supports.
    #[serde(
        rename = "Platforms",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub platforms: Vec<Platform>,
}

/// One placement preference (`{"Spread": {"SpreadDescriptor": "node.labels.zone"}}`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlacementPreference {
    /// Spread tasks evenly over the values of a label.
    #[serde(rename = "Spread", default)]
    pub spread: Option<SpreadOver>,
}

/// The label a spread preference spreads over.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpreadOver {
    /// e.g. `node.labels.zone`.
    #[serde(rename = "SpreadDescriptor", default, deserialize_with = "nullable")]
    pub spread_descriptor: String,
}

/// A network a task attaches to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkAttachmentConfig {
    /// Network ID or name.
    #[serde(
        rename = "Target",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub target: String,
    /// DNS aliases.
    #[serde(
        rename = "Aliases",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub aliases: Vec<String>,
    /// Driver options.
    #[serde(
        rename = "DriverOpts",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub driver_opts: BTreeMap<String, String>,
}
