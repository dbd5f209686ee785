//! Recovery of a manager whose storage failed: once a probe write in its Raft directory
//! passes again (space freed, file system remounted read-write), the replica is re-opened in
//! this process, catches up from the leader and serves again. No restart is needed.
//!
//! ```text
//!  every PROBE_EVERY: manager healthy? ─yes─► nothing
//!                          │no (Raft stopped on a storage error)
//!                          ▼
//!                    probe: write PROBE_BYTES + fsync + delete in the Raft dir
//!                          │ok                                   │error
//!                          ▼                                     ▼
//!              stop the replica, start it again (Resume)     try again later
//! ```

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::node::RunningNode;

/// How often a failed replica's storage is probed.
const PROBE_EVERY: Duration = Duration::from_secs(1);

/// Size of the probe write: room for some Raft entries, not just an inode.
const PROBE_BYTES: usize = 1 << 20;

const PROBE_FILE: &str = ".storage-probe";

/// Writes, syncs and deletes a probe file in `dir`: Ok when the storage takes writes again.
pub fn probe(dir: &Path) -> std::io::Result<()> {
    let path = dir.join(PROBE_FILE);
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&path)?;
        f.write_all(&vec![0u8; PROBE_BYTES])?;
        f.sync_all()
    })();
    // Never leave the probe behind to eat the space it was testing for.
    let _ = std::fs::remove_file(&path);
    result
}

/// Runs until `node` shuts down: re-opens its replica whenever it stopped on a storage error
/// and the storage works again.
pub async fn run(node: Arc<RunningNode>) {
    let mut tick = tokio::time::interval(PROBE_EVERY);
    // Set while a re-open failed: the manager slot is then empty and must be filled again
    // (the old replica's files may still have been held for a moment).
    let mut pending: Option<String> = None;
    loop {
        tokio::select! {
            _ = node.shutdown_token().cancelled() => return,
            _ = tick.tick() => {}
        }
        let reason = match (node.try_manager(), pending.take()) {
            (None, Some(reason)) => reason,
            (Some(m), _) => match m.health() {
                manager::health::Health::Stopped(reason) => reason,
                _ => continue,
            },
            (None, None) => continue,
        };
        let slot_empty = node.try_manager().is_none();
        let dir = node.raft_dir();
        let probed = tokio::task::spawn_blocking(move || probe(&dir)).await;
        match probed {
            Ok(Ok(())) => {
                tracing::warn!(%reason, "storage takes writes again: re-opening the raft replica");
                match node.restart_manager().await {
                    Ok(()) => tracing::info!("raft replica re-opened"),
                    Err(e) => {
                        tracing::warn!("re-opening the raft replica failed (will retry): {e:#}");
                        pending = Some(reason);
                    }
                }
            }
            Ok(Err(e)) => {
                tracing::debug!("storage probe failed: {e}");
                pending = slot_empty.then_some(reason);
            }
            Err(e) => {
                tracing::debug!("storage probe did not run: {e}");
                pending = slot_empty.then_some(reason);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_passes_on_a_writable_dir_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        probe(dir.path()).unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        assert!(probe(&dir.path().join("missing")).is_err());
    }
}
