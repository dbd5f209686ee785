//! Service: the desired state of a set of tasks (Docker's ServiceSpec), and the pieces a
//! task's spec is made of.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::{Meta, Platform, Timestamp};

/// A service as the store keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Service {
    /// 25-character ID.
    pub id: String,
    /// Version and timestamps.
    pub meta: Meta,
    /// What operators asked for.
    pub spec: ServiceSpec,
    /// Bumped on every spec change; tasks record the version they were made from.
    pub spec_version: u64,
    /// Oldest object version (`meta.version`) a client may have read the current spec at: an
    /// update naming an older version is out of sequence, a newer one is accepted even if the
    /// orchestrator rewrote the object since (update status), so an inspect → update script
    /// never races the daemon's own bookkeeping. A lower bound of the index of the write that
    /// last changed the spec (see `controlapi::service`).
    #[serde(default)]
    pub spec_changed_at: u64,
    /// The spec before the last update (for rollback).
    pub previous_spec: Option<ServiceSpec>,
    /// Published ports as allocated.
    pub endpoint: Endpoint,
    /// Progress of a rolling update or rollback.
    pub update_status: Option<UpdateStatus>,
    /// Iteration of a job service.
    pub job_status: Option<JobStatus>,
}

impl Service {
    /// The update status as dockerd shows it: none while a new service's first rollout is
    /// under way. shoal watches that rollout like an update (so a crash-looping service
    /// pauses with a reason, which is shown), but Swarm has no status until the first
    /// `service update`. A service never updated has no previous spec.
    pub fn shown_update_status(&self) -> Option<&UpdateStatus> {
        self.update_status
            .as_ref()
            .filter(|u| !(self.previous_spec.is_none() && u.state == UpdateState::Updating))
    }
}

/// Docker's ServiceSpec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceSpec {
    /// Unique service name.
    pub name: String,
    /// Service labels.
    pub labels: BTreeMap<String, String>,
    /// Template for every task; shared by all tasks of one spec version.
    pub task: Arc<TaskSpec>,
    /// How many tasks, where.
    pub mode: ServiceMode,
    /// Rolling update settings.
    pub update: Option<UpdateConfig>,
    /// Rollback settings.
    pub rollback: Option<UpdateConfig>,
    /// Ports and endpoint mode.
    pub endpoint: Option<EndpointSpec>,
}

/// The template of a task.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskSpec {
    /// The process or container to run.
    pub container: ContainerSpec,
    /// Limits and reservations.
    pub resources: ResourceRequirements,
    /// When to replace exited tasks.
    pub restart: RestartPolicy,
    /// Where tasks may run.
    pub placement: Placement,
    /// Networks to attach (by ID or name).
    pub networks: Vec<NetworkAttachment>,
    /// Log driver name and options.
    pub log_driver: Option<Driver>,
    /// Bumped by `service update --force` to redeploy without a spec change.
    pub force_update: u64,
    /// Runtime name (Docker's `Runtime`; informational).
    pub runtime: String,
}

/// What to run (Docker's ContainerSpec). Fields shoal's executors act on are typed; the rest
/// of the Docker object is kept verbatim in `extra` so `service inspect` shows what was sent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContainerSpec {
    /// Image reference (recorded; the process executor does not pull).
    pub image: String,
    /// Container labels.
    pub labels: BTreeMap<String, String>,
    /// Entrypoint override.
    pub command: Vec<String>,
    /// Arguments.
    pub args: Vec<String>,
    /// Host name inside the task.
    pub hostname: String,
    /// `KEY=value` environment.
    pub env: Vec<String>,
    /// Working directory.
    pub dir: String,
    /// User (name or uid[:gid]).
    pub user: String,
    /// Signal that asks the task to stop (default SIGTERM).
    pub stop_signal: String,
    /// Grace before SIGKILL, nanoseconds (default 10 s).
    pub stop_grace_period: Option<i64>,
    /// Health check.
    pub healthcheck: Option<HealthConfig>,
    /// Allocate a TTY.
    pub tty: bool,
    /// Keep stdin open.
    pub open_stdin: bool,
    /// Remaining Docker ContainerSpec fields as a JSON object text ("" when none).
    pub extra: String,
}

/// Docker's HealthConfig.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HealthConfig {
    /// `["NONE"]`, `["CMD", args…]` or `["CMD-SHELL", command]`.
    pub test: Vec<String>,
    /// Between checks, nanoseconds (0: default 30 s).
    pub interval: i64,
    /// Per check, nanoseconds (0: default 30 s).
    pub timeout: i64,
    /// Consecutive failures to be unhealthy (0: default 3).
    pub retries: u64,
    /// Failures ignored during this start period, nanoseconds.
    pub start_period: i64,
    /// Between checks during the start period, nanoseconds.
    pub start_interval: i64,
}

/// Limits and reservations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceRequirements {
    /// Hard caps for the runtime.
    pub limits: Limits,
    /// What the scheduler sets aside on the node.
    pub reservations: Reservations,
}

/// Resource limits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// CPUs × 10⁹ (0: none).
    pub nano_cpus: i64,
    /// Bytes (0: none).
    pub memory_bytes: i64,
    /// Max processes (0: none).
    pub pids: i64,
}

/// Resource reservations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservations {
    /// CPUs × 10⁹.
    pub nano_cpus: i64,
    /// Bytes.
    pub memory_bytes: i64,
}

/// Docker's RestartPolicy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    from = "crate::restart_window::StoredPolicy",
    into = "crate::restart_window::StoredPolicy"
)]
pub struct RestartPolicy {
    /// When to restart.
    pub condition: RestartCondition,
    /// Wait before restarting, nanoseconds (None: default 5 s).
    pub delay: Option<i64>,
    /// Restarts allowed within `window` (0: unlimited).
    pub max_attempts: u64,
    /// Window for counting attempts, nanoseconds (None: not given; None and 0 both count
    /// forever, but dockerd shows a given 0). Stored as before this was an `Option`: see
    /// `restart_window`.
    pub window: Option<i64>,
    /// The request carried a policy (dockerd then shows one, `RestartPolicy: {}` as
    /// `Condition: any, MaxAttempts: 0`); true whenever a window is given. Stored inside the
    /// window's encoding (`restart_window`).
    pub given: bool,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        RestartPolicy {
            condition: RestartCondition::Any,
            delay: None,
            max_attempts: 0,
            window: None,
            given: false,
        }
    }
}

/// Docker's restart conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RestartCondition {
    /// Never restart.
    None,
    /// Restart after a failure (non-zero exit).
    OnFailure,
    /// Restart whenever the task stops.
    Any,
}

/// Default restart delay: 5 s, as Swarm.
pub const DEFAULT_RESTART_DELAY_NANOS: i64 = 5_000_000_000;

/// Docker's Placement.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placement {
    /// `key==value` / `key!=value` expressions.
    pub constraints: Vec<String>,
    /// Spread preferences, outermost first (label keys such as `node.labels.zone`).
    pub preferences: Vec<String>,
    /// Tasks of this service per node (0: unlimited).
    pub max_replicas: u64,
    /// Platforms the image supports.
    pub platforms: Vec<Platform>,
}

/// A network the task attaches to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkAttachment {
    /// Network ID or name.
    pub target: String,
    /// DNS aliases on that network.
    pub aliases: Vec<String>,
    /// Driver options.
    pub driver_opts: BTreeMap<String, String>,
}

/// A driver name with options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Driver {
    /// Driver name.
    pub name: String,
    /// Options.
    pub options: BTreeMap<String, String>,
}

/// How many tasks a service runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServiceMode {
    /// A fixed number of slots.
    Replicated {
        /// Number of slots.
        replicas: u64,
    },
    /// One task on every eligible node.
    Global,
    /// Run to completion `total_completions` times, at most `max_concurrent` at once.
    ReplicatedJob {
        /// Tasks running at once.
        max_concurrent: u64,
        /// Successful completions wanted.
        total_completions: u64,
    },
    /// Run to completion once on every eligible node.
    GlobalJob,
}

impl ServiceMode {
    /// Docker's name of the mode, as `service ls` shows it.
    pub fn as_str(&self) -> &'static str {
        match self {
            ServiceMode::Replicated { .. } => "replicated",
            ServiceMode::Global => "global",
            ServiceMode::ReplicatedJob { .. } => "replicated-job",
            ServiceMode::GlobalJob => "global-job",
        }
    }

    /// True for the two job modes.
    pub fn is_job(&self) -> bool {
        matches!(self, ServiceMode::ReplicatedJob { .. } | ServiceMode::GlobalJob)
    }
}

/// Docker's UpdateConfig (also used for rollback).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct UpdateConfig {
    /// Tasks updated at once (0: all).
    pub parallelism: u64,
    /// Pause between batches, nanoseconds.
    pub delay: i64,
    /// What to do when too many updated tasks fail.
    pub failure_action: FailureAction,
    /// How long an updated task is watched for failure, nanoseconds (0: default 5 s).
    pub monitor: i64,
    /// Failed fraction tolerated.
    pub max_failure_ratio: f32,
    /// Stop the old task first, or start the new one first.
    pub order: UpdateOrder,
}

impl Default for UpdateConfig {
    fn default() -> Self {
        UpdateConfig {
            parallelism: 1,
            delay: 0,
            failure_action: FailureAction::Pause,
            monitor: DEFAULT_MONITOR_NANOS,
            max_failure_ratio: 0.0,
            order: UpdateOrder::StopFirst,
        }
    }
}

/// Default update monitor window: 5 s, as Swarm.
pub const DEFAULT_MONITOR_NANOS: i64 = 5_000_000_000;

/// Failure actions of an update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum FailureAction {
    /// Stop updating.
    Pause,
    /// Keep going.
    Continue,
    /// Roll back to the previous spec.
    Rollback,
}

/// Update order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum UpdateOrder {
    /// Shut the old task down, then start the new one.
    StopFirst,
    /// Start the new task, then shut the old one down.
    StartFirst,
}

/// Docker's EndpointSpec.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointSpec {
    /// `vip` (default) or `dnsrr`.
    pub mode: String,
    /// Published ports.
    pub ports: Vec<PortConfig>,
}

/// One published port.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortConfig {
    /// Optional name.
    pub name: String,
    /// `tcp`, `udp` or `sctp`.
    pub protocol: String,
    /// Port inside the task.
    pub target_port: u32,
    /// Port on the nodes (0: allocate).
    pub published_port: u32,
    /// `ingress` or `host`.
    pub publish_mode: String,
}

/// Allocated endpoint of a service.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// The spec the allocation is for.
    pub spec: EndpointSpec,
    /// Ports as allocated.
    pub ports: Vec<PortConfig>,
    /// Virtual IPs per network: (network ID, CIDR address).
    pub virtual_ips: Vec<(String, String)>,
}

/// Docker's UpdateStatus.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateStatus {
    /// Where the update is.
    pub state: UpdateState,
    /// When it started.
    pub started_at: Option<Timestamp>,
    /// When it finished.
    pub completed_at: Option<Timestamp>,
    /// Why it is where it is.
    pub message: String,
}

/// States of a rolling update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum UpdateState {
    /// Updating.
    Updating,
    /// Paused (failure or operator).
    Paused,
    /// Done.
    Completed,
    /// Rolling back.
    RollbackStarted,
    /// Rollback paused.
    RollbackPaused,
    /// Rollback done.
    RollbackCompleted,
}

impl UpdateState {
    /// Docker's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            UpdateState::Updating => "updating",
            UpdateState::Paused => "paused",
            UpdateState::Completed => "completed",
            UpdateState::RollbackStarted => "rollback_started",
            UpdateState::RollbackPaused => "rollback_paused",
            UpdateState::RollbackCompleted => "rollback_completed",
        }
    }
}

/// Docker's JobStatus.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobStatus {
    /// Bumped each time the job is (re)started.
    pub job_iteration: u64,
    /// When the current iteration started.
    pub last_execution: Option<Timestamp>,
}
