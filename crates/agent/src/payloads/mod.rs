//! Secrets and configs on this node: kept in memory as the dispatcher sends them (only those
//! the node's tasks reference), and written for each task onto a tmpfs of its own, never to
//! disk.
//!
//! ```text
//! assignments ── payloads / payloads_removed ─► Payloads (memory: kind+ID → bytes)
//! runner ── prepare ─► files_for(task) ─► <root>/<task>/ tmpfs 0700 ─► secrets/…, configs/…
//!                                           └─► Sandbox.payload_files ─► executor mounts them
//! runner ── task ended / removed ─► release(task) ─► unmount, rmdir
//! agent start ─► new(root) sweeps every tmpfs a previous run left
//! ```
//!
//! The tmpfs lives under the node's data dir (`<data-dir>/payloads/<task>`), so nodes sharing a
//! host (tests) never see each other's; a file on it is in memory only. Executors bind-mount
//! the files read-only into the task (`oci`, `docker`) or hand a process task the directory
//! (`SHOAL_SECRETS_DIR`, `SHOAL_CONFIGS_DIR`).

pub mod files;
mod tmpfs;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use types::{Payload, PayloadKind, Task};

pub use files::PlannedFile;

use crate::executor::sandbox::PayloadFile;

/// ContainerSpec fields the agent itself delivers (as files on the task's tmpfs): executors
/// accept them rather than refusing them as unknown.
pub const DELIVERED: [&str; 2] = ["Secrets", "Configs"];

/// Room left on a task's tmpfs beyond its files (directories, rounding to pages).
const TMPFS_SLACK: u64 = 1 << 20;

/// What a task's tmpfs holds, for the executor.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskFiles {
    /// The tmpfs root (`secrets/` and `configs/` below it); `None` when the task has no files.
    pub dir: Option<PathBuf>,
    /// Each file and where it goes in the task.
    pub files: Vec<PayloadFile>,
}

/// Why a task's files could not be made.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The references are unusable.
    #[error("{0}")]
    Plan(#[from] files::PlanError),
    /// The node does not hold a payload the task references (the dispatcher sends it with the
    /// task, so this means it was removed meanwhile).
    #[error("{kind} {id} referenced by task {task} is not on this node")]
    Missing {
        /// `secret` or `config`.
        kind: &'static str,
        /// Its ID.
        id: String,
        /// The task.
        task: String,
    },
    /// A kernel call failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: std::io::Error,
    },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |source| Error::Io { what, source }
}

fn kind_name(kind: PayloadKind) -> &'static str {
    match kind {
        PayloadKind::Secret => "secret",
        PayloadKind::Config => "config",
    }
}

/// The node's secrets and configs, and the tasks' tmpfs mounts (see the module doc).
#[derive(Debug)]
pub struct Payloads {
    root: PathBuf,
    held: Mutex<HashMap<(PayloadKind, String), Payload>>,
}

impl Payloads {
    /// The payload layer with tmpfs mounts under `root`; sweeps what an earlier run of the
    /// agent left there (its memory is gone, so are the bytes it had).
    pub fn new(root: PathBuf) -> Result<Payloads, Error> {
        std::fs::create_dir_all(&root).map_err(io(format!("creating {}", root.display())))?;
        if let Ok(entries) = std::fs::read_dir(&root) {
            for entry in entries.flatten() {
                let path = entry.path();
                tmpfs::unmount(&path).map_err(io(format!("unmounting {}", path.display())))?;
                let _ = std::fs::remove_dir_all(&path);
            }
        }
        Ok(Payloads {
            root,
            held: Mutex::new(HashMap::new()),
        })
    }

    fn held(&self) -> std::sync::MutexGuard<'_, HashMap<(PayloadKind, String), Payload>> {
        // A map of values; a panic elsewhere cannot leave it half-written.
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies an assignment message's payloads: with `full`, `payloads` is the whole set.
    pub fn apply(&self, full: bool, payloads: Vec<Payload>, removed: &[(PayloadKind, String)]) {
        if !payloads.is_empty() || !removed.is_empty() {
            // IDs only, never the bytes: the record of what reached this node (the multi-host
            // tests read it to show a node without such a task never got a secret).
            let added: Vec<String> = payloads
                .iter()
                .map(|p| format!("{} {}", kind_name(p.kind), p.id))
                .collect();
            tracing::debug!(full, ?added, ?removed, "payloads applied");
        }
        let mut held = self.held();
        if full {
            held.clear();
        }
        for key in removed {
            held.remove(key);
        }
        for p in payloads {
            held.insert((p.kind, p.id.clone()), p);
        }
    }

    /// The IDs held now, sorted (for tests and diagnostics; never the bytes).
    pub fn held_ids(&self) -> Vec<(PayloadKind, String)> {
        let mut ids: Vec<_> = self.held().keys().cloned().collect();
        ids.sort();
        ids
    }

    /// The task's tmpfs dir.
    pub fn dir_of(&self, task_id: &str) -> PathBuf {
        self.root.join(task_id)
    }

    /// Makes `task`'s tmpfs with a file per reference (again from scratch if one was left).
    /// A task without references gets nothing.
    pub fn files_for(&self, task: &Task) -> Result<TaskFiles, Error> {
        let planned = files::plan(task)?;
        if planned.is_empty() {
            return Ok(TaskFiles::default());
        }
        let mut data = Vec::with_capacity(planned.len());
        {
            let held = self.held();
            for f in &planned {
                let p = held.get(&(f.kind, f.id.clone())).ok_or_else(|| Error::Missing {
                    kind: kind_name(f.kind),
                    id: f.id.clone(),
                    task: task.id.clone(),
                })?;
                data.push(p.data.clone());
            }
        }
        let dir = self.dir_of(&task.id);
        self.release(&task.id)?;
        std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
        let size = data.iter().map(|d| d.0.len() as u64).sum::<u64>() + TMPFS_SLACK;
        tmpfs::mount(&dir, size).map_err(io(format!("mounting a tmpfs at {}", dir.display())))?;
        // The bytes must never reach a disk: refuse to write unless the tmpfs is really there.
        if !tmpfs::is_tmpfs(&dir).map_err(io(format!("checking {}", dir.display())))? {
            return Err(Error::Io {
                what: format!("{} is not a tmpfs after mounting one", dir.display()),
                source: std::io::Error::other("refusing to write secrets to disk"),
            });
        }
        for sub in ["secrets", "configs"] {
            let path = dir.join(sub);
            std::fs::create_dir(&path).map_err(io(format!("creating {}", path.display())))?;
        }
        let mut out = TaskFiles {
            dir: Some(dir.clone()),
            files: Vec::with_capacity(planned.len()),
        };
        for (f, bytes) in planned.iter().zip(data) {
            let path = dir.join(&f.on_tmpfs);
            if let Err(e) = tmpfs::write_file(&path, &bytes.0, f.uid, f.gid, f.mode) {
                let _ = self.release(&task.id);
                return Err(io(format!("writing {} for task {}", f.in_task, task.id))(e));
            }
            out.files.push(PayloadFile {
                source: path,
                target: f.in_task.clone(),
            });
        }
        Ok(out)
    }

    /// Unmounts and removes `task_id`'s tmpfs, if it has one.
    pub fn release(&self, task_id: &str) -> Result<(), Error> {
        let dir = self.dir_of(task_id);
        if !dir.exists() {
            return Ok(());
        }
        tmpfs::unmount(&dir).map_err(io(format!("unmounting {}", dir.display())))?;
        std::fs::remove_dir_all(&dir).map_err(io(format!("removing {}", dir.display())))?;
        Ok(())
    }

    /// The root the tasks' tmpfs mounts are under.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

#[cfg(test)]
mod tests;
