//! What an executor tells about one task's container beyond its status, for the Engine API's
//! `/containers/*` (`docker ps`, `inspect`, `top`, `stats`): the process, when it started and
//! ended, the command it runs and the cgroup directories that account for it.
//!
//! Times come from the task directory's files (`task.pid` is written when the process
//! starts, `exit.json` when it ends), so they survive an agent restart without a new format.

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use types::Timestamp;

use super::Phase;
use super::process::handle::TaskHandle;
use super::process::launch::{EXIT, TASK_PID};

/// A task's container as the executor sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Details {
    /// Where the task is (prepared, running, exited with its exit).
    pub phase: Phase,
    /// Host PID of the task's main process (0 when not running).
    pub pid: i64,
    /// When the process started.
    pub started_at: Option<Timestamp>,
    /// When it exited.
    pub finished_at: Option<Timestamp>,
    /// The program and its arguments as run (the image's entrypoint and cmd filled in).
    pub argv: Vec<String>,
    /// The environment as run (`KEY=value`).
    pub env: Vec<String>,
    /// The health check's verdict (`starting`, `healthy`, `unhealthy`), `None` without one.
    pub health: Option<String>,
    /// The cgroup directories that hold the task's processes (v2: one; v1: one per controller).
    pub cgroups: Vec<PathBuf>,
    /// The anonymous volumes its container mounts (oci: its mounts' and its image's `VOLUME`s).
    pub anonymous_volumes: Vec<String>,
    /// What its container wrote over its image, for sizes (`docker ps --size`, `system df`):
    /// oci, the overlay's upper directory (or the copied rootfs where overlayfs was not
    /// there); `None` for executors without one (process) or that keep it (docker).
    pub writable_layer: Option<PathBuf>,
}

/// The details of a task held as a [`TaskHandle`] (process and oci executors).
pub fn of_handle(handle: &TaskHandle, cgroups: Vec<PathBuf>) -> Details {
    let phase = handle.phase();
    let pid = match phase {
        Phase::Running => handle.container().pid,
        _ => 0,
    };
    let finished_at = match phase {
        Phase::Exited(_) => modified(&handle.dir.join(EXIT)),
        _ => None,
    };
    Details {
        phase,
        pid,
        started_at: modified(&handle.dir.join(TASK_PID)),
        finished_at,
        argv: handle.launch.argv.clone(),
        env: handle.launch.env.clone(),
        health: handle.health().map(str::to_owned),
        cgroups,
        anonymous_volumes: handle
            .launch
            .oci
            .as_ref()
            .map(|o| o.anonymous_volumes.clone())
            .unwrap_or_default(),
        writable_layer: handle.launch.oci.as_ref().map(|_| writable_layer(&handle.dir)),
    }
}

/// An oci task's writable layer: the overlay's upper directory when its rootfs is the overlay,
/// else the rootfs itself (the layers were copied into it).
fn writable_layer(task_dir: &Path) -> PathBuf {
    let rootfs = super::oci::rootfs::rootfs_of(task_dir);
    if super::oci::rootfs::is_mount_point(&rootfs) {
        task_dir.join("upper")
    } else {
        rootfs
    }
}

/// The cgroup directories named `<parent>/<task>` under the cgroup mount (`root`): the v2
/// hierarchy's and every v1 controller's that has one.
pub fn cgroup_dirs(root: &Path, parent: &str, task_id: &str) -> Vec<PathBuf> {
    let mut candidates = vec![root.join(parent).join(task_id)];
    if let Ok(entries) = std::fs::read_dir(root) {
        let mut more: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path().join(parent).join(task_id))
            .collect();
        more.sort();
        candidates.extend(more);
    }
    candidates.into_iter().filter(|d| d.is_dir()).collect()
}

fn modified(path: &Path) -> Option<Timestamp> {
    let time = std::fs::metadata(path).ok()?.modified().ok()?;
    let nanos = time.duration_since(UNIX_EPOCH).ok()?.as_nanos();
    Some(Timestamp(i64::try_from(nanos).ok()?))
}
