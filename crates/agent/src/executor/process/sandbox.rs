//! A native task in its network sandbox ([`Sandbox`]): the supervisor's child enters it
//! between fork and exec, and the processes the agent runs beside the task (health checks,
//! `docker exec`) join the task's namespaces the same way.
//!
//! ```text
//!  task (the supervisor's child):
//!    setns(netns) ─► unshare(mount ns) ─► `/` rprivate ─► bind resolv.conf, hosts read-only
//!    ─► setgid, setgroups, setuid
//!  health check, exec (the agent's child):
//!    setns(/proc/<task>/ns/net) ─► setns(/proc/<task>/ns/mnt) ─► chdir(cwd) ─► ids
//! ```
//!
//! The ids change last because joining and mounting need the supervisor's privileges; std's
//! own uid/gid handling runs before any pre-exec hook, so a task in a sandbox has its ids
//! changed here instead. Only the task's process gets the private mount namespace: the host's
//! `/etc/resolv.conf` and `/etc/hosts` stay as they are. The files are the agent's and mounted
//! read-only, so the task cannot rewrite what another task may share.
//!
//! Everything the child needs (namespace fds, C strings) is opened and built before the fork:
//! between fork and exec only async-signal-safe calls are allowed.
#![allow(unsafe_code)]

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::executor::Sandbox;

/// How a process enters a task's sandbox, prepared before the fork.
#[derive(Debug)]
pub struct Entry {
    /// The network namespace to join.
    netns: Option<OwnedFd>,
    /// A mount namespace to join (a process beside the task joins the task's).
    mntns: Option<OwnedFd>,
    /// Files to bind-mount read-only in a private mount namespace of its own: (source, target).
    binds: Vec<(CString, CString)>,
    /// Working directory to change to after joining a mount namespace (which resets it).
    cwd: Option<CString>,
    /// Group to run as.
    gid: Option<u32>,
    /// User to run as.
    uid: Option<u32>,
}

impl Entry {
    /// How the task's own process enters `sandbox`; `None` when it is empty. Opens the
    /// namespace now, so a missing one fails with its name here and not in the child.
    pub fn for_task(sandbox: &Sandbox, uid: Option<u32>, gid: Option<u32>) -> Result<Option<Entry>, String> {
        if sandbox.is_empty() {
            return Ok(None);
        }
        let netns = match &sandbox.netns {
            Some(path) => {
                Some(open(path).map_err(|e| format!("opening network namespace {}: {e}", path.display()))?)
            }
            None => None,
        };
        let binds = sandbox
            .files()
            .into_iter()
            .map(|(source, target)| Ok((path_cstring(source)?, path_cstring(Path::new(target))?)))
            .collect::<io::Result<Vec<_>>>()
            .map_err(|e| format!("sandbox file: {e}"))?;
        Ok(Some(Entry {
            netns,
            mntns: None,
            binds,
            cwd: None,
            gid,
            uid,
        }))
    }

    /// How a process beside the running task `pid` enters the same sandbox: the task's
    /// network namespace and, when the sandbox gave it files, its mount namespace; then `cwd`.
    /// `None` when the sandbox is empty (the process stays in the agent's namespaces).
    pub fn beside(
        pid: i32,
        sandbox: &Sandbox,
        cwd: &str,
        uid: Option<u32>,
        gid: Option<u32>,
    ) -> io::Result<Option<Entry>> {
        if sandbox.is_empty() {
            return Ok(None);
        }
        let ns = |kind: &str| open(Path::new(&format!("/proc/{pid}/ns/{kind}")));
        Ok(Some(Entry {
            netns: sandbox.netns.as_ref().map(|_| ns("net")).transpose()?,
            mntns: (!sandbox.files().is_empty()).then(|| ns("mnt")).transpose()?,
            binds: Vec::new(),
            cwd: Some(path_cstring(Path::new(cwd))?),
            gid,
            uid,
        }))
    }

    /// Enters the sandbox. Runs in the forked child before exec: only async-signal-safe
    /// calls, no allocation; a failure names its step on stderr (the task's log, or the
    /// exec's stream) and returns the errno.
    pub fn enter(&self) -> io::Result<()> {
        if let Some(fd) = &self.netns {
            // SAFETY: a valid open fd; CLONE_NEWNET makes the kernel check its type.
            if unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                return Err(failed(b"joining the sandbox's network namespace"));
            }
        }
        if let Some(fd) = &self.mntns {
            // SAFETY: as above; the child is single-threaded, as joining a mount namespace needs.
            if unsafe { libc::setns(fd.as_raw_fd(), libc::CLONE_NEWNS) } != 0 {
                return Err(failed(b"joining the task's mount namespace"));
            }
        }
        if !self.binds.is_empty() {
            self.private_mounts()?;
        }
        if let Some(cwd) = &self.cwd {
            // SAFETY: a NUL-terminated string that outlives the call.
            if unsafe { libc::chdir(cwd.as_ptr()) } != 0 && unsafe { libc::chdir(c"/".as_ptr()) } != 0 {
                return Err(failed(b"changing to the working directory"));
            }
        }
        // SAFETY: set*id take plain integers; setgroups with a null list and size 0 clears
        // the supplementary groups (as std does when root drops to another user).
        unsafe {
            if let Some(gid) = self.gid
                && libc::setgid(gid) != 0
            {
                return Err(failed(b"setting the task's group"));
            }
            if let Some(uid) = self.uid {
                if libc::getuid() == 0 && libc::setgroups(0, std::ptr::null()) != 0 {
                    return Err(failed(b"clearing supplementary groups"));
                }
                if libc::setuid(uid) != 0 {
                    return Err(failed(b"setting the task's user"));
                }
            }
        }
        Ok(())
    }

    /// A private mount namespace with the sandbox's files over the host's.
    fn private_mounts(&self) -> io::Result<()> {
        // SAFETY: unshare takes flags by value; every mount argument below is a
        // NUL-terminated string (or null where the kernel allows it) that outlives the call.
        unsafe {
            if libc::unshare(libc::CLONE_NEWNS) != 0 {
                return Err(failed(b"making a private mount namespace"));
            }
            // Without this the binds below would propagate back to the host's mounts.
            let private = libc::MS_REC | libc::MS_PRIVATE;
            if libc::mount(
                std::ptr::null(),
                c"/".as_ptr(),
                std::ptr::null(),
                private,
                std::ptr::null(),
            ) != 0
            {
                return Err(failed(b"making / private"));
            }
            for (source, target) in &self.binds {
                if libc::mount(
                    source.as_ptr(),
                    target.as_ptr(),
                    std::ptr::null(),
                    libc::MS_BIND,
                    std::ptr::null(),
                ) != 0
                {
                    return Err(failed(b"bind-mounting a sandbox file over /etc"));
                }
                let read_only = libc::MS_BIND | libc::MS_REMOUNT | libc::MS_RDONLY;
                if libc::mount(
                    std::ptr::null(),
                    target.as_ptr(),
                    std::ptr::null(),
                    read_only,
                    std::ptr::null(),
                ) != 0
                {
                    return Err(failed(b"making a sandbox file read-only"));
                }
            }
        }
        Ok(())
    }
}

/// Checks, at prepare, that a native task can enter `sandbox` on this host: it takes root
/// (setns, unshare and mount), and the host files the sandbox's are mounted over must exist.
pub fn check_host(sandbox: &Sandbox) -> crate::executor::Result<()> {
    use crate::executor::Error;
    if sandbox.is_empty() {
        return Ok(());
    }
    if super::sys::geteuid() != 0 {
        return Err(Error::Unsupported(
            "the process executor puts a task in a network sandbox only when the agent runs as root".into(),
        ));
    }
    for (source, target) in sandbox.files() {
        if let Err(e) = std::fs::metadata(target) {
            return Err(Error::io(
                format!("mounting {} over this host's {target}", source.display()),
                e,
            ));
        }
    }
    Ok(())
}

fn open(path: &Path) -> io::Result<OwnedFd> {
    std::fs::File::open(path).map(OwnedFd::from)
}

fn path_cstring(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} holds a NUL byte", path.display()),
        )
    })
}

/// The errno of the call that just failed, after saying which step it was on stderr.
fn failed(step: &'static [u8]) -> io::Error {
    let err = io::Error::last_os_error();
    for part in [b"shoal: sandbox: ".as_slice(), step, b" failed\n"] {
        // SAFETY: write(2) of a static buffer is async-signal-safe; a failed write changes
        // nothing we rely on (the errno was read above).
        unsafe {
            libc::write(libc::STDERR_FILENO, part.as_ptr().cast(), part.len());
        }
    }
    err
}
