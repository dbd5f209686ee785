//! The Raft state machine: applies committed entries to the [`Store`] and keeps snapshots as
//! files (`snapshots/<index>.snap`, postcard of meta + state).

use std::io;
use std::path::{Path, PathBuf};

use futures::{Stream, TryStreamExt};
use openraft::EntryPayload;
use openraft::storage::{EntryResponder, RaftSnapshotBuilder, RaftStateMachine};
use serde::{Deserialize, Serialize};

use super::types::{LogId, Snapshot, SnapshotMeta, StoredMembership, TypeConfig};
use crate::{Error, Result, State, Store};

/// Applies entries to the shared [`Store`] and manages snapshot files.
#[derive(Clone)]
pub struct StateMachine {
    store: Store,
    dir: PathBuf,
    last_applied: Option<LogId>,
    membership: StoredMembership,
    keep_old: usize,
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
    /// Opens the snapshot directory and loads the newest snapshot into `store`.
    pub fn open(dir: &Path, store: Store, keep_old: usize) -> Result<StateMachine> {
        let dir = dir.join("snapshots");
        std::fs::create_dir_all(&dir)?;
        let mut sm = StateMachine {
            store,
            dir,
            last_applied: None,
            membership: StoredMembership::default(),
            keep_old,
        };
        if let Some(path) = sm.newest_file()? {
            let corrupt = |reason: String| Error::Corrupt {
                path: path.display().to_string(),
                reason,
            };
            let bytes = std::fs::read(&path)?;
            let file: SnapshotFile = postcard::from_bytes(&bytes).map_err(|e| corrupt(e.to_string()))?;
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

    /// Writes a snapshot file atomically (temp file, fsync, rename) and prunes old ones.
    fn write_file(&self, meta: &SnapshotMeta, data: &[u8]) -> io::Result<()> {
        use std::io::Write;
        let index = meta.last_log_id.as_ref().map(|l| l.index()).unwrap_or(0);
        let bytes = postcard::to_stdvec(&SnapshotFile {
            meta: meta.clone(),
            data: data.to_vec(),
        })
        .map_err(io_err)?;
        let tmp = self.dir.join(format!("{index}.snap.tmp"));
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, self.dir.join(format!("{index}.snap")))?;
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
        let file: SnapshotFile = postcard::from_bytes(&std::fs::read(path)?).map_err(io_err)?;
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
