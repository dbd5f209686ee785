//! The Raft state machine: applies committed entries to the [`Store`] and keeps snapshots as
//! files (`snapshots/<index>.snap`: a magic line, then postcard of meta + state sealed with
//! the manager's data key, bound to the snapshot's index). A file without the magic line is
//! a plain snapshot from before sealing; it is read and rewritten sealed on open.

use std::io;
use std::path::{Path, PathBuf};

use futures::{Stream, TryStreamExt};
use openraft::EntryPayload;
use openraft::storage::{EntryResponder, RaftSnapshotBuilder, RaftStateMachine};
use serde::{Deserialize, Serialize};

use super::types::{LogId, Snapshot, SnapshotMeta, StoredMembership, TypeConfig};
use crate::crypto::{DataKey, Purpose};
use crate::{Error, Result, State, Store};

/// First bytes of a sealed snapshot file.
const MAGIC: &[u8] = b"shoal-snapshot-2\n";

/// Applies entries to the shared [`Store`] and manages snapshot files.
#[derive(Clone)]
pub struct StateMachine {
    store: Store,
    dir: PathBuf,
    last_applied: Option<LogId>,
    membership: StoredMembership,
    keep_old: usize,
    key: DataKey,
}

#[derive(Serialize, Deserialize)]
struct SnapshotFile {
    meta: SnapshotMeta,
    data: Vec<u8>,
}

fn io_err(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

impl StateMachine {
    /// Opens the snapshot directory (sealing plain snapshots left by older versions) and
    /// loads the newest snapshot into `store`.
    pub fn open(dir: &Path, store: Store, keep_old: usize, key: DataKey) -> Result<StateMachine> {
        let dir = dir.join("snapshots");
        std::fs::create_dir_all(&dir)?;
        let mut sm = StateMachine {
            store,
            dir,
            last_applied: None,
            membership: StoredMembership::default(),
            keep_old,
            key,
        };
        for (index, path) in sm.snapshot_files()? {
            let bytes = std::fs::read(&path)?;
            if bytes.starts_with(MAGIC) {
                continue;
            }
            let corrupt = |e: postcard::Error| Error::Corrupt {
                path: path.display().to_string(),
                reason: format!("neither sealed nor a plain snapshot: {e}"),
            };
            let mut file: SnapshotFile = postcard::from_bytes(&bytes).map_err(corrupt)?;
            // A plain snapshot holds format 1's tables (see `v1.rs`).
            let state = super::v1::V1State::decode(&file.data).map_err(corrupt)?.upgrade();
            file.data = state.encode().map_err(corrupt)?;
            sm.write_sealed(index, &file)?;
            tracing::info!(path = %path.display(), "sealed a plain snapshot");
        }
        if let Some(path) = sm.newest_file()? {
            let corrupt = |reason: String| Error::Corrupt {
                path: path.display().to_string(),
                reason,
            };
            let file = sm.read_file(&path).map_err(|e| corrupt(e.to_string()))?;
            let state = State::decode(&file.data).map_err(|e| corrupt(e.to_string()))?;
            sm.last_applied = file.meta.last_log_id;
            sm.membership = file.meta.last_membership.clone();
            sm.store.reset(state);
        }
        Ok(sm)
    }

    fn snapshot_files(&self) -> io::Result<Vec<(u64, PathBuf)>> {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let path = entry?.path();
            let index = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".snap"))
                .and_then(|n| n.parse::<u64>().ok());
            if let Some(index) = index {
                files.push((index, path));
            }
        }
        files.sort();
        Ok(files)
    }

    fn newest_file(&self) -> io::Result<Option<PathBuf>> {
        Ok(self.snapshot_files()?.pop().map(|(_, p)| p))
    }

    /// Reads and opens a sealed snapshot file.
    fn read_file(&self, path: &Path) -> io::Result<SnapshotFile> {
        let index = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".snap"))
            .and_then(|n| n.parse::<u64>().ok())
            .ok_or_else(|| io_err(format!("{} is not a snapshot file name", path.display())))?;
        let bytes = std::fs::read(path)?;
        let sealed = bytes
            .strip_prefix(MAGIC)
            .ok_or_else(|| io_err("not a sealed snapshot"))?;
        let plain = self.key.open(Purpose::Snapshot, index, sealed).map_err(io_err)?;
        postcard::from_bytes(&plain).map_err(io_err)
    }

    /// Writes `<index>.snap` sealed, atomically (temp file, fsync, rename).
    fn write_sealed(&self, index: u64, file: &SnapshotFile) -> io::Result<()> {
        use std::io::Write;
        let plain = postcard::to_stdvec(file).map_err(io_err)?;
        let sealed = self.key.seal(Purpose::Snapshot, index, &plain).map_err(io_err)?;
        let tmp = self.dir.join(format!("{index}.snap.tmp"));
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(MAGIC)?;
        f.write_all(&sealed)?;
        f.sync_all()?;
        std::fs::rename(&tmp, self.dir.join(format!("{index}.snap")))?;
        std::fs::File::open(&self.dir)?.sync_all()
    }

    /// Writes a snapshot file and prunes old ones.
    fn write_file(&self, meta: &SnapshotMeta, data: &[u8]) -> io::Result<()> {
        let index = meta.last_log_id.as_ref().map(|l| l.index()).unwrap_or(0);
        self.write_sealed(
            index,
            &SnapshotFile {
                meta: meta.clone(),
                data: data.to_vec(),
            },
        )?;
        let files = self.snapshot_files()?;
        let excess = files.len().saturating_sub(1 + self.keep_old);
        for (_, path) in files.into_iter().take(excess) {
            let _ = std::fs::remove_file(path);
        }
        Ok(())
    }

    fn read_newest(&self) -> io::Result<Option<Snapshot>> {
        let Some(path) = self.newest_file()? else {
            return Ok(None);
        };
        let file = self.read_file(&path)?;
        Ok(Some(Snapshot {
            meta: file.meta,
            snapshot: file.data,
        }))
    }
}

/// Builds one snapshot from the state captured when the builder was made, so entries applied
/// while it encodes cannot slip into a snapshot whose meta says they are not in it.
pub struct SnapshotBuilder {
    state: std::sync::Arc<State>,
    meta: SnapshotMeta,
    sm: StateMachine,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    type SnapshotData = Vec<u8>;

    async fn build_snapshot(&mut self) -> io::Result<Snapshot> {
        let data = self.state.encode().map_err(io_err)?;
        let (sm, m, d) = (self.sm.clone(), self.meta.clone(), data.clone());
        tokio::task::spawn_blocking(move || sm.write_file(&m, &d))
            .await
            .map_err(io_err)??;
        Ok(Snapshot {
            meta: self.meta.clone(),
            snapshot: data,
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotData = Vec<u8>;
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(&mut self) -> io::Result<(Option<LogId>, StoredMembership)> {
        Ok((self.last_applied, self.membership.clone()))
    }

    async fn apply<S>(&mut self, mut entries: S) -> io::Result<()>
    where
        S: Stream<Item = io::Result<EntryResponder<TypeConfig>>> + Unpin + Send,
    {
        while let Some((entry, responder)) = entries.try_next().await? {
            let index = entry.log_id.index();
            self.last_applied = Some(entry.log_id);
            let response = match &entry.payload {
                EntryPayload::Blank => {
                    self.store.advance(index);
                    Ok(index)
                }
                EntryPayload::Normal(txn) => self.store.apply(txn, index),
                EntryPayload::Membership(m) => {
                    self.membership = StoredMembership::new(Some(entry.log_id), m.clone());
                    self.store.advance(index);
                    Ok(index)
                }
            };
            if let Some(responder) = responder {
                responder.send(response);
            }
        }
        Ok(())
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        // Entries are applied on this task, so the store's view matches `last_applied` here.
        SnapshotBuilder {
            state: self.store.view(),
            meta: SnapshotMeta {
                last_log_id: self.last_applied,
                last_membership: self.membership.clone(),
            },
            sm: self.clone(),
        }
    }

    async fn install_snapshot(&mut self, meta: &SnapshotMeta, snapshot: Vec<u8>) -> io::Result<()> {
        let state = State::decode(&snapshot).map_err(io_err)?;
        let this = self.clone();
        let (m, d) = (meta.clone(), snapshot);
        tokio::task::spawn_blocking(move || this.write_file(&m, &d))
            .await
            .map_err(io_err)??;
        self.last_applied = meta.last_log_id;
        self.membership = meta.last_membership.clone();
        self.store.reset(state);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> io::Result<Option<Snapshot>> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.read_newest())
            .await
            .map_err(io_err)?
    }
}
