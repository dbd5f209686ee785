//! A node's named volumes on disk: the file I/O beside `types::volume`'s rules. The Engine
//! API's `/volumes` calls (through the daemon) and the oci executor's volume mounts both use
//! one [`VolumeStore`] over `<data-dir>/volumes`.
//!
//! ```text
//! <volumes>/                  0700 (the agent's)
//!   <name>/                   0700
//!     volume.json             0600  types::volume::Record: labels, creation time
//!     _data/                  0755  what containers mount (as Docker's local driver makes it)
//!   .removing-<name>/         a volume being removed (renamed first, so a mount racing the
//!                             removal makes a fresh volume instead of half of the old one)
//! ```
//!
//! A volume made by an older shoal has only `_data`: it reads with no labels and its
//! directory's modification time as its creation time.

pub mod copy;
pub mod usage;

use std::collections::BTreeMap;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use thiserror::Error;
use types::Timestamp;
use types::volume::{self, Record, Volume, VolumeError};

/// The record's file name inside a volume's directory.
const RECORD: &str = "volume.json";
/// The data directory containers mount.
const DATA: &str = "_data";
/// Prefix of a volume being removed (not a valid volume name, so never listed).
const REMOVING: &str = ".removing-";

/// Why a volume operation failed.
#[derive(Debug, Error)]
pub enum Error {
    /// Refused by the rules (bad name, in use, …).
    #[error(transparent)]
    Rule(#[from] VolumeError),
    /// The node's files (a retry may help if the disk recovers).
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The cause.
        source: io::Error,
    },
}

fn io_error(context: impl Into<String>) -> impl FnOnce(io::Error) -> Error {
    let context = context.into();
    move |source| Error::Io { context, source }
}

/// Result of the volume store.
pub type Result<T> = std::result::Result<T, Error>;

/// What happened to a volume, for the node's events (dockerd's `create` and `destroy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// A call made it.
    Created,
    /// A call removed it.
    Removed,
}

/// Told of every volume a store makes or removes (the daemon turns them into events).
pub type Observer = std::sync::Arc<dyn Fn(&str, Change) + Send + Sync>;

/// The node's volumes under one directory.
#[derive(Clone)]
pub struct VolumeStore {
    dir: PathBuf,
    observer: Option<Observer>,
}

impl std::fmt::Debug for VolumeStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VolumeStore").field("dir", &self.dir).finish()
    }
}

/// A volume a create or a mount produced, and whether this call made it.
#[derive(Debug, Clone)]
pub struct Ensured {
    /// The volume.
    pub volume: Volume,
    /// True when this call created it.
    pub created: bool,
}

impl VolumeStore {
    /// The volumes under `dir` (created 0700 if missing).
    pub fn open(dir: &Path) -> Result<VolumeStore> {
        std::fs::create_dir_all(dir).map_err(io_error(format!("creating {}", dir.display())))?;
        Ok(VolumeStore {
            dir: dir.to_path_buf(),
            observer: None,
        })
    }

    /// The same store, telling `observer` of each volume it makes or removes.
    pub fn observed(mut self, observer: Option<Observer>) -> VolumeStore {
        self.observer = observer;
        self
    }

    fn tell(&self, name: &str, change: Change) {
        if let Some(observer) = &self.observer {
            observer(name, change);
        }
    }

    /// Where volume `name`'s data lives (the name is checked first).
    pub fn data_dir(&self, name: &str) -> Result<PathBuf> {
        volume::check_name(name)?;
        Ok(self.dir.join(name).join(DATA))
    }

    /// Every volume, by name.
    pub fn list(&self) -> Result<Vec<Volume>> {
        let entries =
            std::fs::read_dir(&self.dir).map_err(io_error(format!("listing {}", self.dir.display())))?;
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(io_error(format!("listing {}", self.dir.display())))?;
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            if volume::check_name(&name).is_err() {
                continue;
            }
            match self.read(&name) {
                Ok(v) => out.push(v),
                // Removed between the listing and the read.
                Err(Error::Rule(VolumeError::NotFound(_))) => {}
                Err(e) => return Err(e),
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Volume `name`.
    pub fn get(&self, name: &str) -> Result<Volume> {
        volume::check_name(name).map_err(|_| VolumeError::NotFound(types::excerpt(name)))?;
        self.read(name)
    }

    fn read(&self, name: &str) -> Result<Volume> {
        let dir = self.dir.join(name);
        let data = dir.join(DATA);
        let meta = match std::fs::metadata(&data) {
            Ok(m) if m.is_dir() => m,
            Ok(_) => return Err(VolumeError::NotFound(name.to_string()).into()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(VolumeError::NotFound(name.to_string()).into());
            }
            Err(e) => return Err(io_error(format!("reading {}", data.display()))(e)),
        };
        let record = match std::fs::read(dir.join(RECORD)) {
            Ok(bytes) => serde_json::from_slice::<Record>(&bytes).map_err(|e| Error::Io {
                context: format!("reading {}", dir.join(RECORD).display()),
                source: io::Error::new(io::ErrorKind::InvalidData, e),
            })?,
            // An older shoal's volume: only `_data`.
            Err(e) if e.kind() == io::ErrorKind::NotFound => Record::new(
                Timestamp(meta.mtime() * 1_000_000_000 + meta.mtime_nsec()),
                BTreeMap::new(),
            ),
            Err(e) => return Err(io_error(format!("reading {}", dir.join(RECORD).display()))(e)),
        };
        Ok(Volume {
            name: name.to_string(),
            mountpoint: data.to_string_lossy().into_owned(),
            created_at: Timestamp(record.created_at),
            labels: record.labels,
        })
    }

    /// Creates volume `name` with `labels`, or answers with the existing one (its labels
    /// unchanged, as dockerd). `now` is the creation time; `None` takes the kernel's stamp on
    /// the new directory (the executor has no clock).
    pub fn create(
        &self,
        name: &str,
        labels: BTreeMap<String, String>,
        now: Option<Timestamp>,
    ) -> Result<Ensured> {
        volume::check_name(name)?;
        let dir = self.dir.join(name);
        match std::fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                // Made by another call (or an older shoal); its data directory may still be
                // on its way, and mounting needs it.
                self.make_data(&dir)?;
                return Ok(Ensured {
                    volume: self.read(name)?,
                    created: false,
                });
            }
            Err(e) => return Err(io_error(format!("creating {}", dir.display()))(e)),
        }
        let private = std::fs::Permissions::from_mode(0o700);
        std::fs::set_permissions(&dir, private)
            .map_err(io_error(format!("setting the mode of {}", dir.display())))?;
        let created_at = match now {
            Some(now) => now,
            None => {
                let m = std::fs::metadata(&dir).map_err(io_error(format!("reading {}", dir.display())))?;
                Timestamp(m.mtime() * 1_000_000_000 + m.mtime_nsec())
            }
        };
        let record = Record::new(created_at, labels);
        write_record(&dir, &record)?;
        self.make_data(&dir)?;
        let volume = self.read(name)?;
        self.tell(name, Change::Created);
        Ok(Ensured {
            volume,
            created: true,
        })
    }

    /// `_data`, 0755 as Docker's local driver makes it, whatever the agent's umask.
    fn make_data(&self, dir: &Path) -> Result<()> {
        let data = dir.join(DATA);
        match std::fs::create_dir(&data) {
            Ok(()) => std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755))
                .map_err(io_error(format!("setting the mode of {}", data.display()))),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(io_error(format!("creating {}", data.display()))(e)),
        }
    }

    /// Removes volume `name` (the caller checked that nothing uses it): the bytes it held.
    pub fn remove(&self, name: &str) -> Result<u64> {
        volume::check_name(name).map_err(|_| VolumeError::NotFound(types::excerpt(name)))?;
        let dir = self.dir.join(name);
        let doomed = self.dir.join(format!("{REMOVING}{name}"));
        // A removal cut short earlier.
        remove_tree(&doomed)?;
        match std::fs::rename(&dir, &doomed) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(VolumeError::NotFound(name.to_string()).into());
            }
            Err(e) => return Err(io_error(format!("removing {}", dir.display()))(e)),
        }
        // Counted as `docker system df` counts it, by the same bounded walk.
        let size = usage::size(&doomed.join(DATA)).unwrap_or(0);
        remove_tree(&doomed)?;
        self.tell(name, Change::Removed);
        Ok(size)
    }
}

fn remove_tree(dir: &Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_error(format!("removing {}", dir.display()))(e)),
    }
}

/// Writes the record through a rename, 0600.
fn write_record(dir: &Path, record: &Record) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join(RECORD);
    let tmp = dir.join(format!("{RECORD}.tmp"));
    let bytes = serde_json::to_vec(record).map_err(|e| Error::Io {
        context: "encoding a volume record".into(),
        source: io::Error::other(e),
    })?;
    let context = format!("writing {}", path.display());
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io_error(context.clone()))?;
    f.write_all(&bytes)
        .and_then(|()| f.sync_all())
        .map_err(io_error(context.clone()))?;
    std::fs::rename(&tmp, &path).map_err(io_error(context))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn create_keeps_labels_and_time_and_answers_an_existing_name_unchanged() {
        let root = tempfile::tempdir().unwrap();
        let store = VolumeStore::open(&root.path().join("volumes")).unwrap();
        let made = store
            .create("db", labels(&[("a", "1")]), Some(Timestamp(7)))
            .unwrap();
        assert!(made.created);
        assert_eq!(made.volume.labels, labels(&[("a", "1")]));
        assert_eq!(made.volume.created_at, Timestamp(7));
        let dir = root.path().join("volumes/db");
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("volume.json")), 0o600);
        assert_eq!(mode(&dir.join("_data")), 0o755);
        assert_eq!(made.volume.mountpoint, dir.join("_data").to_string_lossy());

        let again = store
            .create("db", labels(&[("b", "2")]), Some(Timestamp(9)))
            .unwrap();
        assert!(!again.created);
        assert_eq!(again.volume, made.volume);
        assert_eq!(store.list().unwrap(), vec![made.volume.clone()]);
        assert_eq!(store.get("db").unwrap(), made.volume);
    }

    #[test]
    fn the_observer_hears_each_volume_made_and_removed_once() {
        let root = tempfile::tempdir().unwrap();
        let heard = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = heard.clone();
        let observer: Observer = std::sync::Arc::new(move |name: &str, change| {
            log.lock().unwrap().push((name.to_string(), change));
        });
        let store = VolumeStore::open(root.path()).unwrap().observed(Some(observer));
        store.create("db", BTreeMap::new(), None).unwrap();
        store.create("db", BTreeMap::new(), None).unwrap();
        store.remove("db").unwrap();
        assert!(store.remove("db").is_err());
        assert_eq!(
            *heard.lock().unwrap(),
            vec![
                ("db".to_string(), Change::Created),
                ("db".to_string(), Change::Removed)
            ]
        );
    }

    #[test]
    fn an_older_volume_without_a_record_reads_and_odd_entries_are_skipped() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("old/_data")).unwrap();
        std::fs::create_dir_all(root.path().join(".removing-x/_data")).unwrap();
        std::fs::create_dir_all(root.path().join("nodata")).unwrap();
        let store = VolumeStore::open(root.path()).unwrap();
        let list = store.list().unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].name, "old");
        assert!(list[0].labels.is_empty());
        assert!(list[0].created_at.0 > 0);
    }

    #[test]
    fn remove_reports_the_bytes_and_a_missing_or_bad_name_is_not_found() {
        let root = tempfile::tempdir().unwrap();
        let store = VolumeStore::open(root.path()).unwrap();
        store.create("db", BTreeMap::new(), None).unwrap();
        std::fs::write(store.data_dir("db").unwrap().join("f"), b"hello").unwrap();
        assert_eq!(store.remove("db").unwrap(), 5);
        assert!(!root.path().join("db").exists());
        assert!(!root.path().join(".removing-db").exists());
        for name in ["db", "../etc", ".removing-db"] {
            assert!(
                matches!(store.remove(name), Err(Error::Rule(VolumeError::NotFound(_)))),
                "{name}"
            );
            assert!(matches!(
                store.get(name),
                Err(Error::Rule(VolumeError::NotFound(_)))
            ));
        }
        assert!(matches!(
            store.create("../x", BTreeMap::new(), None),
            Err(Error::Rule(VolumeError::Name(_)))
        ));
    }
}
