//! The durable Raft log and vote, in one redb file.
//!
//! Tables: `log` (index → postcard entry) and `meta` (vote, committed, last purged, format).
//! Every append commits with `Durability::Immediate` before openraft is told it is flushed.

use std::fmt::Debug;
use std::io;
use std::ops::RangeBounds;
use std::path::Path;
use std::sync::Arc;

use openraft::storage::{IOFlushed, LogState, RaftLogReader, RaftLogStorage};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::types::{Entry, LogId, TypeConfig, Vote};
use crate::{Error, Result};

const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("log");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

/// Format marker stored in `meta`; a file without it is foreign and refused.
pub const FORMAT: &str = "shoal-raft-1";

/// Durable log storage; cheap to clone (one shared database).
#[derive(Clone)]
pub struct LogStore {
    db: Arc<Database>,
}

fn io_err(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

fn encode<T: Serialize>(value: &T) -> io::Result<Vec<u8>> {
    postcard::to_stdvec(value).map_err(io_err)
}

/// redb's page cache for the log.
const LOG_CACHE_BYTES: usize = 16 * 1024 * 1024;

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> io::Result<T> {
    postcard::from_bytes(bytes).map_err(io_err)
}

impl LogStore {
    /// Opens (or creates) `raft.redb` in `dir`. A file that exists but lacks our format
    /// marker, or that redb cannot read, is refused rather than re-initialised.
    pub fn open(dir: &Path) -> Result<LogStore> {
        let path = dir.join("raft.redb");
        let corrupt = |reason: String| Error::Corrupt {
            path: path.display().to_string(),
            reason,
        };
        let existed = path.exists();
        // redb caches up to 1 GiB by default, and written pages stay cached: on a busy leader
        // that was most of its memory. The log is appended, read back once or twice while
        // replicating (recent entries) and then compacted, so a small cache serves it.
        let mut builder = redb::Builder::new();
        builder.set_cache_size(LOG_CACHE_BYTES);
        let db = if existed {
            builder.open(&path)
        } else {
            builder.create(&path)
        }
        .map_err(|e| corrupt(e.to_string()))?;
        let store = LogStore { db: Arc::new(db) };
        if existed {
            match store
                .meta_get::<String>("format")
                .map_err(|e| corrupt(e.to_string()))?
            {
                Some(f) if f == FORMAT => {}
                Some(other) => return Err(corrupt(format!("format {other:?}, expected {FORMAT:?}"))),
                None => return Err(corrupt("no format marker: not a shoal raft log".into())),
            }
        } else {
            store
                .meta_put("format", &FORMAT.to_string())
                .map_err(|e| corrupt(e.to_string()))?;
        }
        Ok(store)
    }

    fn meta_get<T: DeserializeOwned>(&self, key: &str) -> io::Result<Option<T>> {
        let txn = self.db.begin_read().map_err(io_err)?;
        let table = match txn.open_table(META) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(io_err(e)),
        };
        match table.get(key).map_err(io_err)? {
            Some(v) => Ok(Some(decode(v.value())?)),
            None => Ok(None),
        }
    }

    fn meta_put<T: Serialize>(&self, key: &str, value: &T) -> io::Result<()> {
        let bytes = encode(value)?;
        let txn = self.db.begin_write().map_err(io_err)?;
        {
            let mut table = txn.open_table(META).map_err(io_err)?;
            table.insert(key, bytes.as_slice()).map_err(io_err)?;
        }
        txn.commit().map_err(io_err)
    }

    /// Total bytes of the encoded entries in `range` (benchmarks report log bytes per write).
    pub fn entry_bytes(&self, range: impl RangeBounds<u64>) -> io::Result<u64> {
        let txn = self.db.begin_read().map_err(io_err)?;
        let table = txn.open_table(LOG).map_err(io_err)?;
        let mut total = 0u64;
        for item in table.range(range).map_err(io_err)? {
            let (_, v) = item.map_err(io_err)?;
            total += v.value().len() as u64;
        }
        Ok(total)
    }

    fn read_range<RB: RangeBounds<u64>>(&self, range: RB) -> io::Result<Vec<Entry>> {
        let txn = self.db.begin_read().map_err(io_err)?;
        let table = match txn.open_table(LOG) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(io_err(e)),
        };
        let mut out = Vec::new();
        for item in table.range(range).map_err(io_err)? {
            let (_, v) = item.map_err(io_err)?;
            out.push(decode(v.value())?);
        }
        Ok(out)
    }

    fn last_entry_id(&self) -> io::Result<Option<LogId>> {
        let txn = self.db.begin_read().map_err(io_err)?;
        let table = match txn.open_table(LOG) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(io_err(e)),
        };
        match table.last().map_err(io_err)? {
            Some((_, v)) => Ok(Some(decode::<Entry>(v.value())?.log_id)),
            None => Ok(None),
        }
    }

    /// Runs blocking redb work off the async executor.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Database) -> io::Result<T> + Send + 'static,
    ) -> io::Result<T> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || work(&db))
            .await
            .map_err(io_err)?
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> io::Result<Vec<Entry>> {
        self.read_range(range)
    }

    async fn read_vote(&mut self) -> io::Result<Option<Vote>> {
        self.meta_get("vote")
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> io::Result<LogState<TypeConfig>> {
        let last_purged: Option<LogId> = self.meta_get("last_purged")?;
        let last = self.last_entry_id()?.or(last_purged);
        Ok(LogState {
            last_purged_log_id: last_purged,
            last_log_id: last,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> io::Result<()> {
        let vote = *vote;
        let this = self.clone();
        self.blocking(move |_| this.meta_put("vote", &vote)).await
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> io::Result<()> {
        // Committed is an optimisation (replay on restart), so it need not be fsynced apart
        // from the log; it rides along with the next durable commit.
        let bytes = encode(&committed)?;
        self.blocking(move |db| {
            let mut txn = db.begin_write().map_err(io_err)?;
            txn.set_durability(redb::Durability::None).map_err(io_err)?;
            {
                let mut table = txn.open_table(META).map_err(io_err)?;
                table.insert("committed", bytes.as_slice()).map_err(io_err)?;
            }
            txn.commit().map_err(io_err)
        })
        .await
    }

    async fn read_committed(&mut self) -> io::Result<Option<LogId>> {
        Ok(self.meta_get::<Option<LogId>>("committed")?.flatten())
    }

    async fn append<I>(&mut self, entries: I, callback: IOFlushed<TypeConfig>) -> io::Result<()>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let mut encoded = Vec::new();
        for entry in entries {
            encoded.push((entry.log_id.index(), encode(&entry)?));
        }
        let result = self
            .blocking(move |db| {
                let txn = db.begin_write().map_err(io_err)?;
                {
                    let mut table = txn.open_table(LOG).map_err(io_err)?;
                    for (index, bytes) in &encoded {
                        table.insert(*index, bytes.as_slice()).map_err(io_err)?;
                    }
                }
                txn.commit().map_err(io_err)
            })
            .await;
        match result {
            Ok(()) => {
                callback.io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                callback.io_completed(Err(io::Error::new(e.kind(), e.to_string())));
                Err(e)
            }
        }
    }

    async fn truncate_after(&mut self, last_log_id: Option<LogId>) -> io::Result<()> {
        let from = last_log_id.map(|id| id.index() + 1).unwrap_or(0);
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(io_err)?;
            {
                let mut table = txn.open_table(LOG).map_err(io_err)?;
                table.retain_in(from.., |_, _| false).map_err(io_err)?;
            }
            txn.commit().map_err(io_err)
        })
        .await
    }

    async fn purge(&mut self, log_id: LogId) -> io::Result<()> {
        let upto = log_id.index();
        let bytes = encode(&log_id)?;
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(io_err)?;
            {
                let mut meta = txn.open_table(META).map_err(io_err)?;
                meta.insert("last_purged", bytes.as_slice()).map_err(io_err)?;
                let mut table = txn.open_table(LOG).map_err(io_err)?;
                table.retain_in(..=upto, |_, _| false).map_err(io_err)?;
            }
            txn.commit().map_err(io_err)
        })
        .await
    }
}
