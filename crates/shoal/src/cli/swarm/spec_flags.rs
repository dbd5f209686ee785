//! Swarm spec flags shared by `swarm init` and `swarm update`; only flags given change the
//! spec, so the daemon keeps its defaults (or current values) for the rest.

use api::model::SwarmSpec;

use crate::cli::duration;

/// Cluster settings an operator may set.
#[derive(clap::Args, Debug, Default)]
pub struct SpecFlags {
    /// Number of log entries between Raft snapshots.
    #[arg(long, value_name = "N")]
    snapshot_interval: Option<u64>,
    /// Number of additional Raft snapshots to retain.
    #[arg(long, value_name = "N")]
    max_snapshots: Option<u64>,
    /// Task history retention limit.
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    task_history_limit: Option<i64>,
    /// Most tasks the cluster's services may want at once (shoal's admission limit).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    max_tasks: Option<u64>,
    /// Validity period for node certificates (e.g. 2160h).
    #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
    cert_expiry: Option<i64>,
    /// Dispatcher heartbeat period (e.g. 5s).
    #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
    dispatcher_heartbeat: Option<i64>,
    /// Lock managers after a restart until the unlock key is given (`--autolock=false`: off).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub autolock: Option<bool>,
}

impl SpecFlags {
    /// Writes the given flags into `spec`.
    pub fn apply(&self, spec: &mut SwarmSpec) {
        if let Some(n) = self.snapshot_interval {
            spec.raft.snapshot_interval = n;
        }
        if let Some(n) = self.max_snapshots {
            spec.raft.keep_old_snapshots = Some(n);
        }
        if let Some(n) = self.task_history_limit {
            spec.orchestration.task_history_retention_limit = Some(n);
        }
        if let Some(n) = self.max_tasks {
            spec.orchestration.max_tasks = Some(n);
        }
        if let Some(nanos) = self.cert_expiry {
            spec.ca_config.node_cert_expiry = nanos;
        }
        if let Some(nanos) = self.dispatcher_heartbeat {
            spec.dispatcher.heartbeat_period = nanos;
        }
        if let Some(on) = self.autolock {
            spec.encryption_config.auto_lock_managers = on;
        }
    }

    /// True when no flag was given.
    pub fn is_empty(&self) -> bool {
        self.snapshot_interval.is_none()
            && self.max_snapshots.is_none()
            && self.task_history_limit.is_none()
            && self.max_tasks.is_none()
            && self.cert_expiry.is_none()
            && self.dispatcher_heartbeat.is_none()
            && self.autolock.is_none()
    }
}
