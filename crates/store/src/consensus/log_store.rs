//! The durable Raft log and vote, in one redb file.
//!
//! Tables: `log` (index → sealed postcard entry) and `meta` (vote, committed, last purged,
//! format). Every append commits with `Durability::Immediate` before openraft is told it is
//! flushed. Entries are sealed with the manager's data key, bound to their index
//! ([`crate::crypto`]); the meta values hold no secrets and stay plain.
//!
//! Format `shoal-raft-1` (plain entries, written before sealing existed) is sealed on open
//! (`log_migration`).
//!
//! The newest entries are also kept decoded in memory (`Tail`): openraft reads every entry
//! back right after appending it, once per follower to replicate it and once to apply it, and
//! decoding a `Txn` of thousands of tasks again each time cost the leader time and, worse,
//! left its allocator fragmented (short-lived copies interleaved with the long-lived store).
//! An entry's payload is an `Arc<Txn>`, so serving a read from the tail is a reference count
//! per entry.

use std::fmt::Debug;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::{Arc, Mutex};

use openraft::storage::{IOFlushed, LogState, RaftLogReader, RaftLogStorage};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::log_tail::Tail;
use super::types::{Entry, LogId, TypeConfig, Vote};
use crate::crypto::{DataKey, Purpose};
use crate::{Error, Result};

pub(super) const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("log");
pub(super) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

/// Format marker stored in `meta`; a file without it is foreign and refused.
pub const FORMAT: &str = "shoal-raft-2";
/// The format before entries were sealed; migrated on open.
pub(super) const FORMAT_PLAIN: &str = "shoal-raft-1";

/// Durable log storage; cheap to clone (one shared database and tail).
#[derive(Clone)]
pub struct LogStore {
    db: Arc<Database>,
    tail: Arc<Mutex<Tail>>,
    key: DataKey,
}

/// Most encoded bytes of entries one replication request carries (at least one entry).
/// openraft asks for up to 300 entries, and ours can hold 10,000 tasks each: a follower that
/// fell behind would otherwise be sent hundreds of megabytes at once, a peak of memory on
/// both sides that the allocator does not give back.
const REQUEST_BYTES: usize = 4 << 20;

/// `range` as `start..end`, when its end is bounded.
fn bounds(range: &impl RangeBounds<u64>) -> Option<(u64, u64)> {
    let start = match range.start_bound() {
        Bound::Included(s) => *s,
        Bound::Excluded(s) => s.checked_add(1)?,
        Bound::Unbounded => 0,
    };
    let end = match range.end_bound() {
        Bound::Included(e) => e.checked_add(1)?,
        Bound::Excluded(e) => *e,
        Bound::Unbounded => return None,
    };
    Some((start, end))
}

pub(super) fn io_err(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

pub(super) fn encode<T: Serialize>(value: &T) -> io::Result<Vec<u8>> {
    postcard::to_stdvec(value).map_err(io_err)
}

/// redb's page cache for the log.
const LOG_CACHE_BYTES: usize = 16 * 1024 * 1024;

pub(super) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> io::Result<T> {
    postcard::from_bytes(bytes).map_err(io_err)
}

/// An entry as stored: postcard, sealed under `key` at its index.
pub(super) fn seal_entry(key: &DataKey, entry: &Entry) -> io::Result<Vec<u8>> {
    key.seal(Purpose::LogEntry, entry.log_id.index(), &encode(entry)?)
        .map_err(io_err)
}

/// The entry stored at `index`.
fn open_entry(key: &DataKey, index: u64, stored: &[u8]) -> io::Result<Entry> {
    let plain = key
        .open(Purpose::LogEntry, index, stored)
        .map_err(|e| io_err(format!("log entry {index}: {e}")))?;
    decode(&plain)
}

impl LogStore {
    /// Opens (or creates) `raft.redb` in `dir`, sealing entries with `key`. A file that
    /// exists but lacks our format marker, or that redb cannot read, is refused rather than
    /// re-initialised; a plain (`shoal-raft-1`) log is sealed in place first.
    pub fn open(dir: &Path, key: DataKey) -> Result<LogStore> {
        let path = dir.join("raft.redb");
        let corrupt = |reason: String| Error::Corrupt {
            path: path.display().to_string(),
            reason,
        };
        let existed = path.exists();
        if existed
            && super::log_migration::format_of(&path)
                .map_err(|e| corrupt(e.to_string()))?
                .as_deref()
                == Some(FORMAT_PLAIN)
        {
            let count =
                super::log_migration::seal_plain_log(&path, &key).map_err(|e| corrupt(e.to_string()))?;
            tracing::info!(path = %path.display(), entries = count, "sealed a plain raft log");
        }
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
        let store = LogStore {
            db: Arc::new(db),
            tail: Arc::default(),
            key,
        };
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

    /// Total bytes of stored (sealed) entries from `from` on in the log under `dir`, read
    /// without the data key (benchmarks report log bytes per write).
    pub fn stored_entry_bytes(dir: &Path, from: u64) -> Result<u64> {
        let db = Database::open(dir.join("raft.redb")).map_err(|e| Error::Corrupt {
            path: dir.display().to_string(),
            reason: e.to_string(),
        })?;
        let txn = db.begin_read().map_err(io_err)?;
        let table = txn.open_table(LOG).map_err(io_err)?;
        let mut total = 0u64;
        for item in table.range(from..).map_err(io_err)? {
            let (_, v) = item.map_err(io_err)?;
            total += v.value().len() as u64;
        }
        Ok(total)
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
            let (k, v) = item.map_err(io_err)?;
            out.push(open_entry(&self.key, k.value(), v.value())?);
        }
        Ok(out)
    }

    /// Like `read_range(start..end)`, but stops after `budget` bytes (at least one entry).
    fn read_limited(&self, start: u64, end: u64, budget: usize) -> io::Result<Vec<Entry>> {
        let txn = self.db.begin_read().map_err(io_err)?;
        let table = match txn.open_table(LOG) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(io_err(e)),
        };
        let mut bytes = 0;
        let mut out = Vec::new();
        for item in table.range(start..end).map_err(io_err)? {
            let (k, v) = item.map_err(io_err)?;
            if !out.is_empty() && bytes + v.value().len() > budget {
                break;
            }
            bytes += v.value().len();
            out.push(open_entry(&self.key, k.value(), v.value())?);
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
            Some((k, v)) => Ok(Some(open_entry(&self.key, k.value(), v.value())?.log_id)),
            None => Ok(None),
        }
    }

    /// Drops the tail's entries that no reader needs any more: those applied (`applied`)
    /// and held by every follower (`matched`, the leader's replication progress) that is still
    /// served from the tail. A follower already behind the tail reads from redb anyway and
    /// holds nothing back, so a dead member cannot pin the tail at its cap.
    pub fn release(&self, applied: Option<u64>, matched: &[Option<u64>]) {
        let Some(mut upto) = applied else { return };
        let mut tail = self.tail();
        let Some(first) = tail.first_index() else { return };
        for m in matched {
            match m {
                Some(m) if m + 1 >= first => upto = upto.min(*m),
                None if first <= 1 => return,
                _ => {}
            }
        }
        tail.purge(upto);
    }

    fn tail(&self) -> std::sync::MutexGuard<'_, Tail> {
        // The tail is only a cache of redb: a panic elsewhere cannot leave it inconsistent
        // in a way that matters more than refusing every read would.
        self.tail.lock().unwrap_or_else(|e| e.into_inner())
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
        if let Some((start, end)) = bounds(&range) {
            if start >= end {
                return Ok(Vec::new());
            }
            let held = self.tail().get(start, end);
            if let Some((from, entries)) = held {
                if from == start {
                    return Ok(entries);
                }
                let mut all = self.read_range(start..from)?;
                all.extend(entries);
                return Ok(all);
            }
        }
        self.read_range(range)
    }

    async fn limited_get_log_entries(&mut self, start: u64, end: u64) -> io::Result<Vec<Entry>> {
        if start >= end {
            return Ok(Vec::new());
        }
        {
            let tail = self.tail();
            if tail.first_index().is_some_and(|first| first <= start)
                && tail.next_index().is_some_and(|next| start < next)
            {
                return Ok(tail.take_from(start, end, REQUEST_BYTES));
            }
        }
        self.read_limited(start, end, REQUEST_BYTES)
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
        let mut kept = Vec::new();
        let mut encoded = Vec::new();
        for entry in entries {
            let bytes = seal_entry(&self.key, &entry)?;
            kept.push((entry, bytes.len()));
            encoded.push((kept[kept.len() - 1].0.log_id.index(), bytes));
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
                // After the commit, so that an entry the tail serves is also in redb.
                let mut tail = self.tail();
                for (entry, size) in kept {
                    tail.push(entry, size);
                }
                drop(tail);
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
        // Before redb, so that no reader is served a removed entry from the tail.
        self.tail().truncate(from);
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
        self.tail().purge(upto);
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

#[cfg(test)]
mod tests {
    use openraft::entry::RaftEntry;
    use openraft::testing::log_id;

    use super::*;
    use crate::Txn;

    fn entry(index: u64) -> Entry {
        let txn = Txn {
            id: u128::from(index),
            ops: Vec::new(),
            now: Default::default(),
        };
        Entry::new_normal(log_id::<TypeConfig>(1, 1, index), Arc::new(txn))
    }

    fn indexes(entries: &[Entry]) -> Vec<u64> {
        entries.iter().map(|e| e.log_id.index()).collect()
    }

    #[tokio::test]
    async fn reads_from_the_tail_and_from_disk_agree() {
        let dir = tempfile::tempdir().unwrap();
        let key = DataKey::generate().unwrap();
        let mut store = LogStore::open(dir.path(), key.clone()).unwrap();
        let entries: Vec<Entry> = (1..=2000).map(entry).collect();
        // All written to redb, and the newest 1024 also kept in the tail, as append does.
        let all = entries.clone();
        let sealing = key.clone();
        store
            .blocking(move |db| {
                let txn = db.begin_write().map_err(io_err)?;
                {
                    let mut table = txn.open_table(LOG).map_err(io_err)?;
                    for e in &all {
                        table
                            .insert(e.log_id.index(), seal_entry(&sealing, e)?.as_slice())
                            .map_err(io_err)?;
                    }
                }
                txn.commit().map_err(io_err)
            })
            .await
            .unwrap();
        for e in &entries[entries.len() - 1024..] {
            store.tail().push(e.clone(), seal_entry(&key, e).unwrap().len());
        }
        for (start, end) in [(1, 5), (970, 1100), (1500, 2001), (1999, 2001), (7, 7)] {
            let read = store.try_get_log_entries(start..end).await.unwrap();
            assert_eq!(read, store.read_range(start..end).unwrap(), "{start}..{end}");
            assert_eq!(indexes(&read), (start..end).collect::<Vec<_>>());
        }
        // Released up to what is applied and what every follower still in the tail has; a
        // follower behind the tail holds nothing back.
        assert_eq!(store.tail().first_index(), Some(977));
        store.release(Some(1990), &[Some(1980), Some(5), None]);
        assert_eq!(store.tail().first_index(), Some(1981));
        store.release(Some(1985), &[Some(1999)]);
        assert_eq!(store.tail().first_index(), Some(1986));
        assert_eq!(
            indexes(&store.try_get_log_entries(1900..1990).await.unwrap()),
            (1900..1990).collect::<Vec<_>>()
        );
        // Limited reads, from redb and from the tail: whole entries within the budget.
        let size = seal_entry(&key, &entries[0]).unwrap().len();
        for start in [5, 1500] {
            let read = store.limited_get_log_entries(start, start + 100).await.unwrap();
            assert_eq!(read.len(), REQUEST_BYTES.min(100 * size) / size, "from {start}");
            let one = store.read_limited(start, start + 100, 1).unwrap();
            assert_eq!(indexes(&one), vec![start]);
        }
        assert_eq!(
            indexes(
                &store
                    .tail()
                    .take_from(1990, 2001, 3 * seal_entry(&key, &entries[1989]).unwrap().len())
            ),
            vec![1990, 1991, 1992]
        );
        assert_eq!(
            indexes(&store.read_limited(5, 100, 3 * size).unwrap()),
            vec![5, 6, 7]
        );
        store.truncate_after(Some(entries[1899].log_id)).await.unwrap();
        assert_eq!(
            indexes(&store.try_get_log_entries(1890..2001).await.unwrap()),
            (1890..=1900).collect::<Vec<_>>()
        );
        store.purge(entries[1949].log_id).await.unwrap();
        assert!(store.try_get_log_entries(1..1951).await.unwrap().is_empty());
    }
}
