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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootCa {
    /// PEM of the root certificate.
    pub ca_cert_pem: String,
    /// PEM of the root key (managers only).
    pub ca_key_pem: String,
    /// Current join tokens.
    pub join_tokens: JoinTokens,
}

/// The two join tokens: `SWMTKN-1-<CA digest>-<secret>`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinTokens {
    /// Token that joins a worker.
    pub worker: String,
    /// Token that joins a manager.
    pub manager: String,
}
