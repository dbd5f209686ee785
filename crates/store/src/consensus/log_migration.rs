//! Sealing a log written before sealing existed (format `shoal-raft-1`, plain postcard
//! entries): the entries are copied sealed into a new file that replaces the old one by
//! rename, together with the meta rows and the new format marker.
//!
//! ```text
//! raft.redb (plain) ──read──► raft.redb.sealing (meta + sealed entries, fsync) ──rename──► raft.redb
//! ```

use std::io;
use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable};

use super::log_store::{FORMAT, LOG, META, decode, encode, io_err, seal_entry};
use super::types::Entry;
use super::v1::V1Entry;
use crate::crypto::DataKey;

/// The format marker of the log file at `path`, if it has one.
pub(super) fn format_of(path: &Path) -> io::Result<Option<String>> {
    let db = Database::open(path).map_err(io_err)?;
    let txn = db.begin_read().map_err(io_err)?;
    let table = match txn.open_table(META) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
        Err(e) => return Err(io_err(e)),
    };
    match table.get("format").map_err(io_err)? {
        Some(v) => Ok(Some(decode(v.value())?)),
        None => Ok(None),
    }
}

/// Rewrites a plain (`shoal-raft-1`) log at `path` as a sealed one: a new file gets the meta
/// rows and every entry sealed, then replaces the old one by rename. Sealing in place would
/// leave the plain bytes in redb's freed pages; a new file holds none of them, and a crash
/// before the rename leaves the old file to migrate again.
pub(super) fn seal_plain_log(path: &Path, key: &DataKey) -> io::Result<u64> {
    let tmp = path.with_extension("redb.sealing");
    let _ = std::fs::remove_file(&tmp);
    let old = Database::open(path).map_err(io_err)?;
    let new = Database::create(&tmp).map_err(io_err)?;
    let read = old.begin_read().map_err(io_err)?;
    let write = new.begin_write().map_err(io_err)?;
    let mut count = 0u64;
    {
        let mut meta = write.open_table(META).map_err(io_err)?;
        for item in read.open_table(META).map_err(io_err)?.iter().map_err(io_err)? {
            let (k, v) = item.map_err(io_err)?;
            meta.insert(k.value(), v.value()).map_err(io_err)?;
        }
        meta.insert("format", encode(&FORMAT.to_string())?.as_slice())
            .map_err(io_err)?;
        let mut log = write.open_table(LOG).map_err(io_err)?;
        match read.open_table(LOG) {
            Ok(table) => {
                for item in table.iter().map_err(io_err)? {
                    let (k, v) = item.map_err(io_err)?;
                    // Format 1 holds the types as they were then (see `v1.rs`).
                    let entry: Entry = decode::<V1Entry>(v.value())?.upgrade();
                    log.insert(k.value(), seal_entry(key, &entry)?.as_slice())
                        .map_err(io_err)?;
                    count += 1;
                }
            }
            Err(redb::TableError::TableDoesNotExist(_)) => {}
            Err(e) => return Err(io_err(e)),
        }
    }
    write.commit().map_err(io_err)?;
    drop((read, old, new));
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use openraft::entry::RaftEntry;
    use openraft::storage::RaftLogReader;
    use openraft::testing::log_id;

    use super::*;
    use crate::Txn;
    use crate::consensus::log_store::{FORMAT_PLAIN, LogStore};
    use crate::consensus::types::TypeConfig;

    fn entry(index: u64, id: u128) -> Entry {
        let txn = Txn {
            id,
            ops: Vec::new(),
            now: Default::default(),
        };
        Entry::new_normal(log_id::<TypeConfig>(1, 1, index), Arc::new(txn))
    }

    #[tokio::test]
    async fn a_plain_log_is_sealed_on_open_and_keeps_its_entries() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("raft.redb");
        let marker = 0x5eed_f00d_dead_beef_0123_4567_89ab_cdef_u128;
        // A shoal-raft-1 file: plain postcard entries.
        {
            let db = Database::create(&path).unwrap();
            let txn = db.begin_write().unwrap();
            {
                let mut meta = txn.open_table(META).unwrap();
                meta.insert("format", encode(&FORMAT_PLAIN.to_string()).unwrap().as_slice())
                    .unwrap();
                let mut log = txn.open_table(LOG).unwrap();
                for i in 1..=50 {
                    let e = entry(i, marker);
                    log.insert(i, encode(&e).unwrap().as_slice()).unwrap();
                }
            }
            txn.commit().unwrap();
        }
        let needle = encode(&marker).unwrap();
        let plain = std::fs::read(&path).unwrap();
        assert!(
            plain.windows(needle.len()).any(|w| w == needle),
            "fixture is plain"
        );

        let key = DataKey::generate().unwrap();
        let mut store = LogStore::open(dir.path(), key.clone()).unwrap();
        let read = store.try_get_log_entries(1..51).await.unwrap();
        let indexes: Vec<u64> = read.iter().map(|e| e.log_id.index()).collect();
        assert_eq!(indexes, (1..=50).collect::<Vec<_>>());
        drop(store);
        let sealed = std::fs::read(&path).unwrap();
        assert!(
            !sealed.windows(needle.len()).any(|w| w == needle),
            "a plain entry survived the migration"
        );
        // Opens again (no second migration) only with the same key.
        let mut again = LogStore::open(dir.path(), key).unwrap();
        assert_eq!(again.try_get_log_entries(1..51).await.unwrap().len(), 50);
        drop(again);
        let mut other = LogStore::open(dir.path(), DataKey::generate().unwrap()).unwrap();
        assert!(
            other.try_get_log_entries(1..2).await.is_err(),
            "opened with a foreign key"
        );
    }
}
