//! Docker's container objects (moby's `api/swagger.yaml`: ContainerSummary, ContainerInspect,
//! ContainerTopResponse, ContainerWaitResponse, and the stats JSON of `docker stats`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One entry of `GET /containers/json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerSummary {
    /// 64 hex digits.
    pub id: String,
    /// Names, each with dockerd's leading slash.
    pub names: Vec<String>,
    /// The image as the spec names it.
    pub image: String,
    /// `sha256:<hex>` of the image.
    #[serde(rename = "ImageID")]
    pub image_id: String,
    /// The command, quoted as dockerd joins it.
    pub command: String,
    /// Creation time, seconds since the epoch.
    pub created: i64,
    /// Published ports (none: task ports are the service's).
    pub ports: Vec<serde_json::Value>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// `created`, `running`, `exited`.
    pub state: String,
    /// `Up 5 minutes`, `Exited (0) 3 seconds ago`.
    pub status: String,
    /// Network mode.
    pub host_config: SummaryHostConfig,
    /// Attached networks.
    pub network_settings: SummaryNetworks,
    /// Mounts.
    pub mounts: Vec<MountPoint>,
    /// Bytes its container wrote over its image (`size=1`, and `/system/df`).
    #[serde(rename = "SizeRw", skip_serializing_if = "Option::is_none", default)]
    pub size_rw: Option<i64>,
    /// Those bytes and its image's (`size=1`, and `/system/df`).
    #[serde(rename = "SizeRootFs", skip_serializing_if = "Option::is_none", default)]
    pub size_root_fs: Option<i64>,
}

/// `HostConfig` of a summary.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SummaryHostConfig {
    /// `default`, `host`, `none`.
    pub network_mode: String,
}

/// `NetworkSettings` of a summary.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SummaryNetworks {
    /// Network name → endpoint.
    pub networks: BTreeMap<String, serde_json::Value>,
}

/// A mount as containers report it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct MountPoint {
    /// `bind`, `volume`, `tmpfs`.
    #[serde(rename = "Type")]
    pub kind: String,
    /// Volume name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Host path (empty for tmpfs).
    pub source: String,
    /// Path in the container.
    pub destination: String,
    /// Volume driver.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub driver: String,
    /// Mount options as text (`ro`, `z`).
    pub mode: String,
    /// Writable.
    #[serde(rename = "RW")]
    pub rw: bool,
    /// Bind propagation.
    pub propagation: String,
}

/// `GET /containers/{id}/json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerInspect {
    /// 64 hex digits.
    pub id: String,
    /// RFC 3339 creation time.
    pub created: String,
    /// The program run.
    pub path: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Process state.
    pub state: ContainerState,
    /// `sha256:<hex>` of the image.
    pub image: String,
    /// Not kept by shoal (empty, as for a container without one).
    pub resolv_conf_path: String,
    /// Not kept by shoal.
    pub hostname_path: String,
    /// Not kept by shoal.
    pub hosts_path: String,
    /// Not kept by shoal: logs are read through the API.
    pub log_path: String,
    /// `/<name>`.
    pub name: String,
    /// Restarts of this container (a task restarts as a new task: always 0).
    pub restart_count: i64,
    /// Storage driver.
    pub driver: String,
    /// `linux`.
    pub platform: String,
    /// Host configuration that applies.
    pub host_config: HostConfig,
    /// Mounts.
    pub mounts: Vec<MountPoint>,
    /// Container configuration.
    pub config: ContainerConfig,
    /// Networking.
    pub network_settings: NetworkSettings,
    /// Bytes its container wrote over its image (`size=1`).
    #[serde(rename = "SizeRw", skip_serializing_if = "Option::is_none", default)]
    pub size_rw: Option<i64>,
    /// Those bytes and its image's (`size=1`).
    #[serde(rename = "SizeRootFs", skip_serializing_if = "Option::is_none", default)]
    pub size_root_fs: Option<i64>,
}

/// `State` of an inspected container.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerState {
    /// `created`, `running`, `exited`.
    pub status: String,
    /// Its process runs.
    pub running: bool,
    /// Frozen (never for shoal).
    pub paused: bool,
    /// Being restarted by a restart policy (never: the orchestrator starts new tasks).
    pub restarting: bool,
    /// Killed by the OOM killer.
    #[serde(rename = "OOMKilled")]
    pub oom_killed: bool,
    /// Removal failed half-way (never).
    pub dead: bool,
    /// Host PID, 0 when not running.
    pub pid: i64,
    /// Exit code.
    pub exit_code: i64,
    /// Why it failed, if the daemon knows.
    pub error: String,
    /// RFC 3339, Go's zero time before the start.
    pub started_at: String,
    /// RFC 3339, Go's zero time before the exit.
    pub finished_at: String,
    /// Health check state, when there is a check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<ContainerHealth>,
}

/// `State.Health`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerHealth {
    /// `starting`, `healthy`, `unhealthy`.
    pub status: String,
    /// Failed checks in a row (not kept by shoal).
    pub failing_streak: i64,
    /// Recent check results (not kept by shoal).
    pub log: Vec<serde_json::Value>,
}

/// `HostConfig` of an inspected container: the fields that apply to a task.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HostConfig {
    /// `default`, `host`, `none`.
    pub network_mode: String,
    /// Restart policy (tasks restart through their service).
    pub restart_policy: RestartPolicy,
    /// Memory limit, bytes (0: none).
    pub memory: i64,
    /// CPU limit × 10⁹ (0: none).
    pub nano_cpus: i64,
    /// Process limit (null: none).
    pub pids_limit: Option<i64>,
    /// Root filesystem read-only.
    pub readonly_rootfs: bool,
    /// Run an init as PID 1.
    pub init: Option<bool>,
    /// Bind mounts as `src:dst[:ro]`.
    pub binds: Option<Vec<String>>,
    /// Log driver.
    pub log_config: LogConfig,
}

/// `HostConfig.RestartPolicy`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RestartPolicy {
    /// `no`, `always`, `on-failure`, `unless-stopped`.
    pub name: String,
    /// Retries for `on-failure`.
    pub maximum_retry_count: i64,
}

/// `HostConfig.LogConfig`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct LogConfig {
    /// Driver name.
    #[serde(rename = "Type")]
    pub kind: String,
    /// Driver options.
    pub config: BTreeMap<String, String>,
}

/// `Config` of an inspected container.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerConfig {
    /// Host name inside.
    pub hostname: String,
    /// Domain name inside.
    pub domainname: String,
    /// User it runs as.
    pub user: String,
    /// Attached stdin.
    pub attach_stdin: bool,
    /// Attached stdout.
    pub attach_stdout: bool,
    /// Attached stderr.
    pub attach_stderr: bool,
    /// TTY.
    pub tty: bool,
    /// Stdin kept open.
    pub open_stdin: bool,
    /// Stdin closed after the first attach.
    pub stdin_once: bool,
    /// `KEY=value`.
    pub env: Vec<String>,
    /// Command (after the entrypoint).
    pub cmd: Option<Vec<String>>,
    /// Image as the spec names it.
    pub image: String,
    /// Working directory.
    pub working_dir: String,
    /// Entrypoint.
    pub entrypoint: Option<Vec<String>>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// Stop signal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    /// Seconds between the stop signal and SIGKILL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<i64>,
}

/// `NetworkSettings` of an inspected container (task networking comes with overlay networks).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkSettings {
    /// Bridge name.
    pub bridge: String,
    /// Sandbox ID.
    #[serde(rename = "SandboxID")]
    pub sandbox_id: String,
    /// Sandbox key (netns path).
    pub sandbox_key: String,
    /// Published ports.
    pub ports: BTreeMap<String, serde_json::Value>,
    /// Network name → endpoint.
    pub networks: BTreeMap<String, serde_json::Value>,
}

/// `GET /containers/{id}/top`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerTop {
    /// `ps` column titles.
    pub titles: Vec<String>,
    /// One row per process.
    pub processes: Vec<Vec<String>>,
}

/// `POST /containers/{id}/wait`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerWait {
    /// The exit code.
    pub status_code: i64,
}

/// The stats JSON of `GET /containers/{id}/stats` (dockerd's `StatsResponse`, Linux part).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Stats {
    /// `/<name>`.
    pub name: String,
    /// Container ID.
    pub id: String,
    /// When this sample was read.
    pub read: String,
    /// When the previous one was read (Go's zero time for the first).
    pub preread: String,
    /// Process counts.
    pub pids_stats: PidsStats,
    /// Block I/O (not collected).
    pub blkio_stats: serde_json::Value,
    /// Always 0 on Linux.
    pub num_procs: u32,
    /// Windows only.
    pub storage_stats: serde_json::Value,
    /// This sample's CPU.
    pub cpu_stats: CpuStats,
    /// The previous sample's CPU.
    pub precpu_stats: CpuStats,
    /// Memory.
    pub memory_stats: MemoryStats,
}

/// `pids_stats`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PidsStats {
    /// Processes and threads.
    pub current: u64,
    /// Limit (absent when unlimited).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
}

/// `cpu_stats`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CpuStats {
    /// The container's usage.
    pub cpu_usage: CpuUsage,
    /// The host's CPU time, nanoseconds.
    pub system_cpu_usage: u64,
    /// CPUs online.
    pub online_cpus: u32,
    /// Throttling (not collected).
    pub throttling_data: serde_json::Value,
}

/// `cpu_stats.cpu_usage`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct CpuUsage {
    /// Nanoseconds of CPU time.
    pub total_usage: u64,
    /// Kernel part (not split by shoal).
    pub usage_in_kernelmode: u64,
    /// User part (not split by shoal).
    pub usage_in_usermode: u64,
}

/// `memory_stats`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MemoryStats {
    /// Bytes in use.
    pub usage: u64,
    /// Limit, bytes.
    pub limit: u64,
    /// Breakdown; `inactive_file` is what the docker CLI subtracts as cache.
    pub stats: BTreeMap<String, u64>,
}
