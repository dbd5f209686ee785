//! A sandbox joined by a process that is already running (`docker network connect` on a running
//! container): the sandbox is made without a namespace of its own, then its endpoints go into
//! the process's namespace; a later run of the same container (its next `docker start`) moves
//! them into the new process's namespace. The process's `resolv.conf` and `hosts` are written
//! through its root, as dockerd rewrites a connected container's.
//!
//! ```text
//! sandbox(task, own_netns) ─► join(task, pid) ─► veth into /proc/<pid>/ns/net + VIP table
//!                              (again with the next run's pid: the old endpoints dropped first)
//! release(task)            ─► veth and VIP table gone; the process keeps running
//! ```

use std::io::{Read as _, Write as _};
use std::os::fd::AsFd as _;
use std::path::Path;

use nix::fcntl::{OFlag, OpenHow, ResolveFlag, open, openat2};
use nix::sys::stat::Mode;

use super::error::Result;
use super::node::{Mode as PlaneMode, NodeNetwork};

/// The largest file read back from a container's root before it is replaced (its
/// `resolv.conf`/`hosts` are a few hundred bytes; a larger one is not kept for restoring).
const KEEP_AT_MOST: u64 = 64 * 1024;

impl NodeNetwork {
    /// Puts task `task_id`'s sandbox (made with `own_netns`) into the namespace of the running
    /// process `pid`; a sandbox already in another process's namespace (an earlier run) leaves
    /// it first. A task without a sandbox is left alone.
    pub async fn join(&self, task_id: &str, pid: i64) -> Result<()> {
        let PlaneMode::Plane { plane, .. } = &self.mode else {
            return Ok(());
        };
        let wanted = std::path::PathBuf::from(format!("/proc/{pid}/ns/net"));
        {
            let mut state = self.state.lock().await;
            let Some(sandbox) = state.sandboxes.get_mut(task_id) else {
                return Ok(());
            };
            if sandbox.netns.as_deref() == Some(wanted.as_path()) {
                return Ok(());
            }
            if let Some(old) = sandbox.netns.take() {
                // The earlier run's namespace is usually gone with its process, taking the
                // veths with it; whatever is left of them goes now.
                for a in &sandbox.attachments {
                    if let Err(error) = plane.detach(a.vni, a.address, Some(&old)).await {
                        tracing::warn!(task = %task_id, network = %a.network_id, %error, "dropping an earlier run's endpoint failed");
                    }
                }
            }
        }
        self.started(task_id, pid).await
    }
}

/// Replaces `/etc/<name>` inside the root of running process `pid` with `text`, resolving the
/// path inside that root (a symlink in the image cannot lead out of it); the earlier content
/// when it was a file of at most 64 KiB.
pub fn replace_in_root(pid: i64, name: &str, text: &str) -> std::io::Result<Option<String>> {
    let root = open(
        Path::new(&format!("/proc/{pid}/root")),
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    let path = format!("etc/{name}");
    let resolve = ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS;
    let earlier = openat2(
        root.as_fd(),
        path.as_str(),
        OpenHow::new()
            .flags(OFlag::O_RDONLY | OFlag::O_CLOEXEC)
            .resolve(resolve),
    )
    .ok()
    .and_then(|fd| {
        let mut text = String::new();
        let read = std::fs::File::from(fd)
            .take(KEEP_AT_MOST + 1)
            .read_to_string(&mut text)
            .ok()?;
        (read as u64 <= KEEP_AT_MOST).then_some(text)
    });
    let fd = openat2(
        root.as_fd(),
        path.as_str(),
        OpenHow::new()
            .flags(OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_TRUNC | OFlag::O_CLOEXEC)
            .mode(Mode::from_bits_truncate(0o644))
            .resolve(resolve),
    )?;
    // Written in place, not through a rename: a file bind-mounted there stays the one seen.
    std::fs::File::from(fd).write_all(text.as_bytes())?;
    Ok(earlier)
}
