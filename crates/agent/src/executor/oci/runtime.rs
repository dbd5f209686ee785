//! The container runtime, run inside the task supervisor (`shoal task-shim`): youki's
//! `libcontainer` creates the container from the bundle the agent prepared, with its
//! stdout/stderr on pipes the supervisor reads into the task's log. The container's init is
//! created as a sibling of libcontainer's intermediate process, that is as a child of the
//! supervisor, which waits for it like any task process; the container therefore outlives
//! the agent.
//!
//! ```text
//!  shim: pipes ─► ContainerBuilder(bundle).build() ─► lo up in its netns ─► start() ─► pid
//!  agent (remove): Container::load(state root).delete(force) ─► cgroups and state gone
//! ```

use std::io::PipeReader;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use libcontainer::container::Container;
use libcontainer::container::builder::ContainerBuilder;
use libcontainer::syscall::syscall::SyscallType;
use serde::{Deserialize, Serialize};

use super::sys;
use crate::executor::{Error, Result};

/// The oci part of a task's launch spec: where the bundle and the runtime's state are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OciLaunch {
    /// The bundle directory (holds `config.json`).
    pub bundle: PathBuf,
    /// libcontainer's state root (one directory per container).
    pub state_root: PathBuf,
    /// The task's state directory (for the health checker to find the pid).
    pub task_dir: PathBuf,
    /// Container user, for health checks.
    pub uid: u32,
    /// Container group, for health checks.
    pub gid: u32,
    /// Working directory inside the container, for health checks.
    pub cwd: String,
    /// Set when the container's stdin is open (`stdin.rs`); else it reads nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdin: Option<super::stdin::StdinPipe>,
    /// Set when the container has a terminal (`console.rs`), with its first size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tty: Option<ConsoleSize>,
    /// How health checks enter the container (`exec.rs`); absent in a spec written before
    /// they ran through the exec helper.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec_shim: Option<super::exec::ExecShim>,
    /// The anonymous volumes its mounts made (removed with the container when its volumes
    /// go too); absent when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub anonymous_volumes: Vec<String>,
    /// Every volume its mounts use, named or anonymous: an anonymous volume another container
    /// still uses is kept when its own container goes (`OciExecutor::remove_container`);
    /// absent in a spec written before it was kept, or when none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<String>,
}

/// A terminal's size in characters; 0 leaves the kernel's default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsoleSize {
    /// Rows.
    pub height: u16,
    /// Columns.
    pub width: u16,
}

/// Where a started container's output comes from.
pub enum Output {
    /// Its stdout and stderr pipes.
    Pipes {
        /// Its stdout.
        stdout: PipeReader,
        /// Its stderr.
        stderr: PipeReader,
    },
    /// The master of its terminal (stdin, stdout and stderr are the terminal).
    Terminal(OwnedFd),
}

/// A created and started container, from the supervisor's side.
pub struct Started {
    /// The container init's pid (in the supervisor's namespace).
    pub pid: i32,
    /// Its output.
    pub output: Output,
}

/// Creates and starts the container `id`. Must run in a single-threaded process (it forks).
pub fn create_and_start(id: &str, oci: &OciLaunch) -> std::result::Result<Started, String> {
    if let Some(size) = oci.tty {
        return create_and_start_terminal(id, oci, size);
    }
    let (out_r, out_w) = std::io::pipe().map_err(|e| format!("creating stdout pipe: {e}"))?;
    let (err_r, err_w) = std::io::pipe().map_err(|e| format!("creating stderr pipe: {e}"))?;
    let (stdin_r, feed) = match oci.stdin {
        Some(pipe) => {
            let (reader, feed) = super::stdin::Feed::new(&oci.task_dir, pipe)?;
            (Some(reader), Some(feed))
        }
        None => (None, None),
    };
    // Signals the supervisor ignores would stay ignored in the container's process.
    for s in [libc::SIGHUP, libc::SIGINT, libc::SIGPIPE, libc::SIGTERM] {
        sys::default_signal(s);
    }
    let built = ContainerBuilder::new(id.to_string(), SyscallType::Linux)
        .with_root_path(&oci.state_root)
        .map_err(|e| format!("runtime state root {}: {e}", oci.state_root.display()))
        .and_then(|b| b.validate_id().map_err(|e| format!("container id {id:?}: {e}")))
        .map(|b| b.with_stdout(out_w).with_stderr(err_w))
        .map(|b| match stdin_r {
            Some(r) => b.with_stdin(r),
            None => b,
        })
        .and_then(|b| {
            b.as_init(&oci.bundle)
                .with_systemd(false)
                .with_detach(true)
                .build()
                .map_err(|e| format!("creating container: {e}"))
        });
    for s in [libc::SIGHUP, libc::SIGINT, libc::SIGPIPE, libc::SIGTERM] {
        crate::executor::process::sys::ignore_signal(s);
    }
    let mut container = built?;
    // Only now that the runtime has forked may the stdin copier's thread run.
    if let Some(feed) = feed {
        feed.start();
    }
    let pid = start(&mut container)?;
    Ok(Started {
        pid,
        output: Output::Pipes {
            stdout: out_r,
            stderr: err_r,
        },
    })
}

/// [`create_and_start`] with a terminal: libcontainer makes the pty in the container and
/// hands the master over the console socket (`console.rs`), which the supervisor keeps.
fn create_and_start_terminal(
    id: &str,
    oci: &OciLaunch,
    size: ConsoleSize,
) -> std::result::Result<Started, String> {
    let handover = super::console::Handover::bind(&oci.task_dir)?;
    for s in [libc::SIGHUP, libc::SIGINT, libc::SIGPIPE, libc::SIGTERM] {
        sys::default_signal(s);
    }
    let built = ContainerBuilder::new(id.to_string(), SyscallType::Linux)
        .with_root_path(&oci.state_root)
        .map_err(|e| format!("runtime state root {}: {e}", oci.state_root.display()))
        .and_then(|b| b.validate_id().map_err(|e| format!("container id {id:?}: {e}")))
        .map(|b| b.with_console_socket(Some(handover.path())))
        .and_then(|b| {
            b.as_init(&oci.bundle)
                .with_systemd(false)
                .with_detach(true)
                .build()
                .map_err(|e| format!("creating container: {e}"))
        });
    for s in [libc::SIGHUP, libc::SIGINT, libc::SIGPIPE, libc::SIGTERM] {
        crate::executor::process::sys::ignore_signal(s);
    }
    let mut container = built?;
    let master = match handover.receive() {
        Ok(master) => master,
        Err(e) => {
            let _ = container.delete(true);
            return Err(e);
        }
    };
    if size.height > 0 && size.width > 0 {
        let terminal =
            crate::executor::exec::Terminal::from_master(master.try_clone().map_err(|e| e.to_string())?);
        if let Err(e) = terminal.resize(size.height, size.width) {
            eprintln!("task-shim: setting the terminal's first size: {e}");
        }
    }
    let pid = start(&mut container)?;
    Ok(Started {
        pid,
        output: Output::Terminal(master),
    })
}

/// Brings the created container's loopback up and starts it; its init's pid.
fn start(container: &mut Container) -> std::result::Result<i32, String> {
    let pid = container
        .pid()
        .map(|p| p.as_raw())
        .ok_or_else(|| "the runtime reported no pid for the container".to_string())?;
    // A fresh network namespace has its loopback down; bring it up before the task runs.
    if let Err(e) = loopback_up(pid) {
        let _ = container.delete(true);
        return Err(format!("bringing up loopback in the container: {e}"));
    }
    if let Err(e) = container.start() {
        let _ = container.delete(true);
        return Err(format!("starting container: {e}"));
    }
    Ok(pid)
}

/// Sets `lo` up in the network namespace of `pid`, from a thread of its own (setns moves
/// only the calling thread, which then ends).
fn loopback_up(pid: i32) -> std::io::Result<()> {
    let ns = std::os::fd::OwnedFd::from(std::fs::File::open(format!("/proc/{pid}/ns/net"))?);
    std::thread::spawn(move || {
        sys::setns(&ns)?;
        sys::loopback_up()
    })
    .join()
    .map_err(|_| std::io::Error::other("loopback thread panicked"))?
}

/// Deletes container `id` from the runtime state (its cgroups included), killing what still
/// runs. A container the runtime does not know is fine.
pub fn delete(state_root: &Path, id: &str) -> Result<()> {
    let dir = state_root.join(id);
    if !dir.exists() {
        return Ok(());
    }
    match Container::load(dir.clone()) {
        Ok(mut container) => container
            .delete(true)
            .map_err(|e| Error::Shim(format!("deleting container {id}: {e}")))?,
        // A create that failed half-way leaves a directory without a readable state; the
        // runtime never started anything from it, so dropping the directory is all there is.
        Err(e) => tracing::warn!(container = %id, error = %e, "unreadable runtime state; removing it"),
    }
    // Deleting the state directory is the runtime's job; make sure, as a retry must converge.
    match std::fs::remove_dir_all(&dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(Error::io(format!("removing {}", dir.display()), e))
        }
        _ => Ok(()),
    }
}
