//! System shapes: `GET /info` and `GET /version`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{ClusterInfo, is_zero, nullable};

/// `GET /info` (Docker's SystemInfo), the fields a daemon without local containers can fill.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Info {
    /// Daemon identity.
    #[serde(rename = "ID", default, deserialize_with = "nullable")]
    pub id: String,
    /// Local containers (always 0 here).
    #[serde(default, deserialize_with = "nullable")]
    pub containers: i64,
    /// Running local containers.
    #[serde(default, deserialize_with = "nullable")]
    pub containers_running: i64,
    /// Paused local containers.
    #[serde(default, deserialize_with = "nullable")]
    pub containers_paused: i64,
    /// Stopped local containers.
    #[serde(default, deserialize_with = "nullable")]
    pub containers_stopped: i64,
    /// Local images.
    #[serde(default, deserialize_with = "nullable")]
    pub images: i64,
    /// Storage driver name.
    #[serde(default, deserialize_with = "nullable")]
    pub driver: String,
    /// Storage driver facts as label/value pairs.
    #[serde(default, deserialize_with = "nullable")]
    pub driver_status: Vec<Vec<String>>,
    /// Root of the daemon's state.
    #[serde(default, deserialize_with = "nullable")]
    pub docker_root_dir: String,
    /// Available plugins.
    #[serde(default, deserialize_with = "nullable")]
    pub plugins: PluginsInfo,
    /// Memory limit support.
    #[serde(default, deserialize_with = "nullable")]
    pub memory_limit: bool,
    /// Swap limit support.
    #[serde(default, deserialize_with = "nullable")]
    pub swap_limit: bool,
    /// CFS period support.
    #[serde(default, deserialize_with = "nullable")]
    pub cpu_cfs_period: bool,
    /// CFS quota support.
    #[serde(default, deserialize_with = "nullable")]
    pub cpu_cfs_quota: bool,
    /// CPU shares support.
    #[serde(rename = "CPUShares", default, deserialize_with = "nullable")]
    pub cpu_shares: bool,
    /// cpuset support.
    #[serde(rename = "CPUSet", default, deserialize_with = "nullable")]
    pub cpu_set: bool,
    /// PID limit support.
    #[serde(default, deserialize_with = "nullable")]
    pub pids_limit: bool,
    /// IPv4 forwarding enabled.
    #[serde(rename = "IPv4Forwarding", default, deserialize_with = "nullable")]
    pub ipv4_forwarding: bool,
    /// Daemon debug mode.
    #[serde(default, deserialize_with = "nullable")]
    pub debug: bool,
    /// Open file descriptors (debug only).
    #[serde(default, deserialize_with = "nullable")]
    pub n_fd: i64,
    /// Goroutines (debug only).
    #[serde(default, deserialize_with = "nullable")]
    pub n_goroutines: i64,
    /// Default logging driver.
    #[serde(default, deserialize_with = "nullable")]
    pub logging_driver: String,
    /// Cgroup driver.
    #[serde(default, deserialize_with = "nullable")]
    pub cgroup_driver: String,
    /// Cgroup version, `1` or `2`.
    #[serde(default, deserialize_with = "nullable")]
    pub cgroup_version: String,
    /// Event listeners.
    #[serde(default, deserialize_with = "nullable")]
    pub n_events_listener: i64,
    /// Kernel release.
    #[serde(default, deserialize_with = "nullable")]
    pub kernel_version: String,
    /// OS pretty name.
    #[serde(default, deserialize_with = "nullable")]
    pub operating_system: String,
    /// OS version.
    #[serde(rename = "OSVersion", default, deserialize_with = "nullable")]
    pub os_version: String,
    /// `linux`.
    #[serde(rename = "OSType", default, deserialize_with = "nullable")]
    pub os_type: String,
    /// `uname -m` spelling.
    #[serde(default, deserialize_with = "nullable")]
    pub architecture: String,
    /// CPUs available.
    #[serde(rename = "NCPU", default, deserialize_with = "nullable")]
    pub ncpu: i64,
    /// Total memory in bytes.
    #[serde(default, deserialize_with = "nullable")]
    pub mem_total: i64,
    /// Default registry.
    #[serde(default, deserialize_with = "nullable")]
    pub index_server_address: String,
    /// Host name.
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    /// Engine labels, `key=value`.
    #[serde(default, deserialize_with = "nullable")]
    pub labels: Vec<String>,
    /// Built with experimental features.
    #[serde(default, deserialize_with = "nullable")]
    pub experimental_build: bool,
    /// Daemon version.
    #[serde(default, deserialize_with = "nullable")]
    pub server_version: String,
    /// Default container runtime.
    #[serde(default, deserialize_with = "nullable")]
    pub default_runtime: String,
    /// Swarm facts of this node.
    #[serde(default, deserialize_with = "nullable")]
    pub swarm: SwarmInfo,
    /// Live restore enabled.
    #[serde(default, deserialize_with = "nullable")]
    pub live_restore_enabled: bool,
    /// Container isolation (Windows only).
    #[serde(default, deserialize_with = "nullable")]
    pub isolation: String,
    /// Init binary name.
    #[serde(default, deserialize_with = "nullable")]
    pub init_binary: String,
    /// Security options, `name=…,key=value`.
    #[serde(default, deserialize_with = "nullable")]
    pub security_options: Vec<String>,
    /// Warnings for `docker info` to print.
    #[serde(default, deserialize_with = "nullable")]
    pub warnings: Vec<String>,
}

/// Plugin names by kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PluginsInfo {
    /// Volume drivers.
    #[serde(default, deserialize_with = "nullable")]
    pub volume: Vec<String>,
    /// Network drivers.
    #[serde(default, deserialize_with = "nullable")]
    pub network: Vec<String>,
    /// Authorization plugins.
    #[serde(default, deserialize_with = "nullable")]
    pub authorization: Vec<String>,
    /// Log drivers.
    #[serde(default, deserialize_with = "nullable")]
    pub log: Vec<String>,
}

/// The `Swarm` section of `/info`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SwarmInfo {
    /// This node's ID once joined.
    #[serde(rename = "NodeID", default, deserialize_with = "nullable")]
    pub node_id: String,
    /// Address other nodes reach this one at.
    #[serde(default, deserialize_with = "nullable")]
    pub node_addr: String,
    /// `inactive`, `pending`, `active`, `error` or `locked`.
    #[serde(default, deserialize_with = "nullable")]
    pub local_node_state: String,
    /// True on a manager that can serve control calls.
    #[serde(default, deserialize_with = "nullable")]
    pub control_available: bool,
    /// Last error.
    #[serde(default, deserialize_with = "nullable")]
    pub error: String,
    /// Known managers.
    #[serde(default, deserialize_with = "nullable")]
    pub remote_managers: Vec<PeerNode>,
    /// Number of nodes (managers only).
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "is_zero")]
    pub nodes: i64,
    /// Number of managers (managers only).
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "is_zero")]
    pub managers: i64,
    /// The cluster (managers only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterInfo>,
    /// Swarm warnings.
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// A manager by ID and address.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PeerNode {
    /// Node ID.
    #[serde(rename = "NodeID", default, deserialize_with = "nullable")]
    pub node_id: String,
    /// `host:port`.
    #[serde(default, deserialize_with = "nullable")]
    pub addr: String,
}

/// `GET /version` (Docker's SystemVersion).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Version {
    /// Product name.
    #[serde(default, deserialize_with = "nullable")]
    pub platform: ServerPlatform,
    /// Versions of the server's parts.
    #[serde(default, deserialize_with = "nullable")]
    pub components: Vec<ComponentVersion>,
    /// Daemon version.
    #[serde(default, deserialize_with = "nullable")]
    pub version: String,
    /// Highest API version served.
    #[serde(default, deserialize_with = "nullable")]
    pub api_version: String,
    /// Lowest API version served.
    #[serde(rename = "MinAPIVersion", default, deserialize_with = "nullable")]
    pub min_api_version: String,
    /// Source commit.
    #[serde(default, deserialize_with = "nullable")]
    pub git_commit: String,
    /// Toolchain (Docker's field name; ours says `rust`).
    #[serde(default, deserialize_with = "nullable")]
    pub go_version: String,
    /// `linux`.
    #[serde(default, deserialize_with = "nullable")]
    pub os: String,
    /// GOARCH spelling (`amd64`, `arm64`).
    #[serde(default, deserialize_with = "nullable")]
    pub arch: String,
    /// Kernel release.
    #[serde(default, deserialize_with = "nullable")]
    pub kernel_version: String,
    /// Experimental features on.
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "is_zero")]
    pub experimental: bool,
    /// Build time.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub build_time: String,
}

/// Product name of the server.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServerPlatform {
    /// e.g. `shoal`.
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
}

/// One component's version.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ComponentVersion {
    /// Component name (`Engine`).
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    /// Its version.
    #[serde(default, deserialize_with = "nullable")]
    pub version: String,
    /// Free-form details.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub details: BTreeMap<String, String>,
}
