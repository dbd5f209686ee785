//! Cluster: the singleton object holding cluster-wide settings, the root CA and join tokens.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Meta;

/// Length of one Raft tick. Swarm ticks once a second; we tick 20× faster so that leader
/// failover takes well under Swarm's 10–20 s while the spec keeps Swarm's tick counts.
pub const RAFT_TICK_MILLIS: u64 = 50;

/// The cluster object (there is exactly one, named `default`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cluster {
    /// Cluster ID; also the O field of every node certificate.
    pub id: String,
    /// Version and timestamps.
    pub meta: Meta,
    /// Operator-controlled settings.
    pub spec: ClusterSpec,
    /// Root CA material and join tokens. Only managers ever hold the store, so the key stays
    /// on managers.
    pub root_ca: RootCa,
    /// Address pools overlay subnets are carved from.
    pub default_addr_pool: Vec<String>,
    /// Prefix length of each subnet carved from the pool.
    pub subnet_size: u32,
    /// UDP port of the VXLAN data path.
    pub data_path_port: u32,
}

/// Operator-controlled cluster settings (Docker's SwarmSpec).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterSpec {
    /// Always `default`.
    pub name: String,
    /// Free-form labels.
    pub labels: BTreeMap<String, String>,
    /// Terminal tasks kept per slot; negative keeps all.
    pub task_history_retention_limit: i64,
    /// Raft settings.
    pub raft: RaftSettings,
    /// How often nodes heartbeat, in nanoseconds.
    pub dispatcher_heartbeat_period: i64,
    /// Validity of node certificates, in nanoseconds.
    pub node_cert_expiry: i64,
    /// Whether managers need an unlock key after a restart.
    pub auto_lock_managers: bool,
    /// Most tasks the services of the cluster may want at once (0: not set; `swarm init`
    /// derives it from the manager's memory and an update with 0 keeps the current value).
    pub max_tasks: u64,
}

impl ClusterSpec {
    /// The task limit in force ([`FALLBACK_MAX_TASKS`] when none was set).
    pub fn task_limit(&self) -> u64 {
        if self.max_tasks == 0 {
            FALLBACK_MAX_TASKS
        } else {
            self.max_tasks
        }
    }
}

/// Task limit of a spec that never had one set (a cluster built in a test, say).
pub const FALLBACK_MAX_TASKS: u64 = 1_000_000;

/// What one task costs a manager, for the default limit: the task object, its history and
/// its share of indexes, watches and Raft entries (measured at 2–3 KiB; rounded up).
pub const TASK_COST_BYTES: u64 = 4096;

/// Smallest default limit, so that a small machine still runs a useful cluster.
pub const MIN_DEFAULT_MAX_TASKS: u64 = 10_000;

/// The default task limit for a manager with `memory_bytes` of RAM: tasks may use a quarter
/// of it, so a single request cannot exhaust the manager.
pub fn max_tasks_for_memory(memory_bytes: u64) -> u64 {
    (memory_bytes / 4 / TASK_COST_BYTES).max(MIN_DEFAULT_MAX_TASKS)
}

/// Raft settings of the cluster spec, in Swarm's units (entries and ticks).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RaftSettings {
    /// Entries between snapshots.
    pub snapshot_interval: u64,
    /// Snapshots kept besides the newest.
    pub keep_old_snapshots: u64,
    /// Entries kept behind a snapshot for slow followers.
    pub log_entries_for_slow_followers: u64,
    /// Ticks between leader heartbeats.
    pub heartbeat_tick: u32,
    /// Ticks without a heartbeat before a follower starts an election.
    pub election_tick: u32,
}

impl Default for ClusterSpec {
    fn default() -> Self {
        ClusterSpec {
            name: "default".to_string(),
            labels: BTreeMap::new(),
            task_history_retention_limit: 5,
            raft: RaftSettings::default(),
            dispatcher_heartbeat_period: DEFAULT_HEARTBEAT_PERIOD_NANOS,
            node_cert_expiry: 90 * 24 * 3600 * 1_000_000_000,
            auto_lock_managers: false,
            max_tasks: 0,
        }
    }
}

impl Default for RaftSettings {
    fn default() -> Self {
        RaftSettings {
            snapshot_interval: 10_000,
            keep_old_snapshots: 0,
            log_entries_for_slow_followers: 500,
            heartbeat_tick: 1,
            election_tick: 10,
        }
    }
}

/// Default heartbeat period: 2 s (Swarm: 5 s). A node is marked down after three missed
/// periods, so a dead node is noticed in about 6 s instead of Swarm's 15 s.
pub const DEFAULT_HEARTBEAT_PERIOD_NANOS: i64 = 2_000_000_000;

/// Root CA material and join tokens.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootCa {
    /// PEM of the root certificate.
    pub ca_cert_pem: String,
    /// PEM of the root key (managers only).
    pub ca_key_pem: String,
    /// Current join tokens.
    pub join_tokens: JoinTokens,
}

impl std::fmt::Debug for RootCa {
    // The key (generated, or the operator's own) stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RootCa")
            .field("ca_cert_pem", &self.ca_cert_pem)
            .field("join_tokens", &self.join_tokens)
            .finish_non_exhaustive()
    }
}

/// The two join tokens: `SWMTKN-1-<CA digest>-<secret>`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinTokens {
    /// Token that joins a worker.
    pub worker: String,
    /// Token that joins a manager.
    pub manager: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_task_limit_is_a_quarter_of_memory() {
        // 24 GiB: a quarter at 4 KiB per task.
        assert_eq!(max_tasks_for_memory(24 << 30), 1_572_864);
        assert_eq!(max_tasks_for_memory(0), MIN_DEFAULT_MAX_TASKS);
        assert_eq!(ClusterSpec::default().task_limit(), FALLBACK_MAX_TASKS);
        let set = ClusterSpec {
            max_tasks: 7,
            ..Default::default()
        };
        assert_eq!(set.task_limit(), 7);
    }
}
