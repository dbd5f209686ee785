//! The node's containers as the backend reports them to `/containers/*`: a task container is
//! a task this node holds, with what its executor knows about the process.
//!
//! Container IDs: dockerd's are 64 hex digits and tools expect that shape, while a task ID has
//! 25 characters. A task's container ID is therefore the SHA-256 of its task ID, in hex:
//! stable across agent restarts, unique per task, and found again from the task alone
//! ([`container_id`]). `docker ps` shows its first 12 digits as for any container.

use std::sync::Arc;

use types::{Task, Timestamp};

/// Where a container is, in dockerd's words (`State.Status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerStatus {
    /// Prepared, never started.
    Created,
    /// Its process runs.
    Running,
    /// Its process ended.
    Exited,
}

impl ContainerStatus {
    /// dockerd's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ContainerStatus::Created => "created",
            ContainerStatus::Running => "running",
            ContainerStatus::Exited => "exited",
        }
    }
}

/// One container of this node.
#[derive(Debug, Clone)]
pub struct ContainerView {
    /// 64 hex digits (see [`container_id`]).
    pub id: String,
    /// The task it runs (name, labels and spec come from it).
    pub task: Arc<Task>,
    /// `sha256:<hex>` of the image it runs, empty when the node has no such image.
    pub image_id: String,
    /// Where it is.
    pub status: ContainerStatus,
    /// Host PID of the main process, 0 when not running.
    pub pid: i64,
    /// Exit code once exited (128 + N after signal N).
    pub exit_code: i64,
    /// Why the exit status is unknown, if it is.
    pub error: String,
    /// When the process started.
    pub started_at: Option<Timestamp>,
    /// When it ended.
    pub finished_at: Option<Timestamp>,
    /// The program and arguments as run.
    pub argv: Vec<String>,
    /// The environment as run.
    pub env: Vec<String>,
    /// Health check verdict (`starting`, `healthy`, `unhealthy`), `None` without a check.
    pub health: Option<String>,
    /// When the daemon read this (for dockerd's "Up 5 minutes").
    pub read_at: Timestamp,
    /// Its endpoints, one per network (`NetworkSettings.Networks`; standalone containers').
    pub networks: Vec<ContainerNetwork>,
    /// The directory of what it wrote over its image, when the node keeps it (for sizes).
    pub writable_layer: Option<std::path::PathBuf>,
}

/// A container's endpoint on one network, as `docker inspect` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerNetwork {
    /// The network's name (the key of `NetworkSettings.Networks`).
    pub name: String,
    /// The network's ID.
    pub network_id: String,
    /// The endpoint's ID (64 hex digits, as `network inspect` lists it).
    pub endpoint_id: String,
    /// Its address, with the subnet's prefix length and gateway.
    pub ip_address: std::net::Ipv4Addr,
    /// The subnet's prefix length.
    pub prefix_len: u8,
    /// The subnet's gateway.
    pub gateway: Option<std::net::Ipv4Addr>,
    /// The interface's MAC address.
    pub mac_address: String,
    /// The names it answers to on the network besides its own.
    pub aliases: Vec<String>,
}

impl ContainerView {
    /// The container's name without dockerd's leading slash: Swarm's task name, or a
    /// standalone container's own name.
    pub fn name(&self) -> String {
        if is_standalone(&self.task) {
            return self.task.service_name.clone();
        }
        self.task.name()
    }
}

/// A standalone container's synthetic task (`docker run`): no service, its container name in
/// `service_name` (never stored in the Raft store).
pub fn is_standalone(task: &Task) -> bool {
    task.service_id.is_empty()
}

/// A stats sample of one container (`GET /containers/{id}/stats`), from its cgroups.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerStats {
    /// When it was read.
    pub read: Timestamp,
    /// Memory in use, bytes.
    pub memory_usage: u64,
    /// Memory limit, bytes (the host's memory when unlimited).
    pub memory_limit: u64,
    /// Page cache in the usage (dockerd's CLI subtracts it), bytes.
    pub memory_cache: u64,
    /// CPU time used by the container, nanoseconds.
    pub cpu_total: u64,
    /// CPU time of the whole host, nanoseconds (the denominator of CPU %).
    pub system_cpu: u64,
    /// CPUs online.
    pub online_cpus: u32,
    /// Processes and threads in the container.
    pub pids: u64,
    /// Process limit, 0 when unlimited.
    pub pids_limit: u64,
}

/// `GET /containers/{id}/top`: `ps` columns and one row per process of the container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerTop {
    /// Column titles.
    pub titles: Vec<String>,
    /// Rows.
    pub processes: Vec<Vec<String>>,
}

/// The container ID of a task: its task ID's SHA-256 in hex.
pub fn container_id(task_id: &str) -> String {
    sha256_hex(task_id.as_bytes())
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_ids_are_sha256_of_the_task_id() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let id = container_id("x3k2v9q0m1n2b3v4c5x6z7l8k");
        assert_eq!(id.len(), 64);
        assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
    }
}
