//! Snapshot scheduling on every replica: once the cluster's `SnapshotInterval` entries were
//! applied since the last snapshot, build one (so the log can be truncated). Checked on a
//! short timer: the check is two reads of Raft's metrics, and building is Raft's own work.

use std::time::Duration;

use store::consensus::Consensus;
use tokio_util::sync::CancellationToken;

use crate::workers::Worker;

/// How often the applied index is compared with the last snapshot.
const CHECK_EVERY: Duration = Duration::from_millis(200);

/// Entries between snapshots when the cluster object does not say.
const DEFAULT_INTERVAL: u64 = 10_000;

/// Builds snapshots of `consensus` when due, until `shutdown`, reporting as `worker`.
pub async fn run(consensus: Consensus, worker: Worker, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(CHECK_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let interval = consensus
            .store()
            .view()
            .cluster()
            .map(|c| c.spec.raft.snapshot_interval)
            .unwrap_or(DEFAULT_INTERVAL);
        worker.busy();
        let result = consensus.snapshot_if_due(interval).await;
        if let Err(e) = &result {
            tracing::warn!("snapshot: {e}");
        }
        worker.done(result.map(|_| ()));
    }
}
