//! The few kernel calls the process executor needs that std does not offer, each wrapped
//! once with its safety argument. Everything else uses std and tokio.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// Opens a pidfd for `pid`: a handle that keeps naming that very process (no pid reuse
/// races) and becomes readable when it exits, child of ours or not.
pub fn pidfd_open(pid: i32) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags by value and returns a new fd or -1; no
    // memory is shared with the kernel.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the syscall just returned this fd to us and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Resolves when the process behind `fd` has exited (a pidfd turns readable then).
pub async fn pidfd_exited(fd: OwnedFd) -> io::Result<()> {
    // SAFETY: `fd` is an OwnedFd moved into the AsyncFd, which therefore keeps it open and
    // unchanged for its whole lifetime, as `register` requires.
    let afd = unsafe { tokio::io::unix::AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }?;
    afd.readable().await.map(|mut g| g.retain_ready())
}

/// Sends `signal` to the process behind a pidfd. ESRCH (already exited) is not an error.
pub fn pidfd_send_signal(fd: &OwnedFd, signal: i32) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: the fd is a live pidfd we own; a null siginfo is allowed and means "as kill()".
    let rc = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            fd.as_raw_fd(),
            signal,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if rc < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::ESRCH) {
            return Ok(());
        }
        return Err(e);
    }
    Ok(())
}

/// Sends `signal` to every process in process group `pgid`. ESRCH (group empty) is fine.
pub fn kill_group(pgid: i32, signal: i32) -> io::Result<()> {
    if pgid <= 1 {
        // kill(-1) or kill(0) would hit far more than one task's group.
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("refusing to signal process group {pgid}"),
        ));
    }
    kill(-pgid, signal)
}

/// Sends `signal` to process `pid`. ESRCH (it has exited) is fine.
pub fn kill_process(pid: i32, signal: i32) -> io::Result<()> {
    if pid <= 1 {
        // 0 and -1 name groups, 1 is init: never a task's process.
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("refusing to signal process {pid}"),
        ));
    }
    kill(pid, signal)
}

fn kill(target: i32, signal: i32) -> io::Result<()> {
    // SAFETY: kill takes plain integers; a negative target names a process group.
    let rc = unsafe { libc::kill(target, signal) };
    if rc < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::ESRCH) {
            return Ok(());
        }
        return Err(e);
    }
    Ok(())
}

/// Starts a new session so the supervisor outlives its parent's terminal and process group.
pub fn setsid() {
    // SAFETY: setsid has no arguments; failing (already a group leader) is harmless.
    unsafe {
        libc::setsid();
    }
}

/// Ignores `signal` in this process (the supervisor must not die of its parent's hangup).
pub fn ignore_signal(signal: i32) {
    // SAFETY: installing SIG_IGN touches no memory of ours and is async-signal-safe.
    unsafe {
        libc::signal(signal, libc::SIG_IGN);
    }
}

/// Makes this process a child subreaper: descendants orphaned by their parent (a daemon
/// that double-forks to detach) are reparented to us instead of init, so the supervisor can
/// still find and end them.
pub fn set_child_subreaper() -> io::Result<()> {
    // SAFETY: prctl(PR_SET_CHILD_SUBREAPER, 1) takes plain integers and touches no memory.
    let rc = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1 as libc::c_ulong, 0, 0, 0) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// What a wait for any child found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reaped {
    /// Child `pid` ended with this raw wait status.
    Child {
        /// The child.
        pid: i32,
        /// Its raw wait status.
        status: i32,
    },
    /// Children exist but none has ended yet (only with `block == false`).
    Running,
    /// No children at all.
    NoChildren,
}

/// Reaps one ended child of this process, any child (`waitpid(-1)`); blocks when `block`.
pub fn reap_any(block: bool) -> io::Result<Reaped> {
    let mut status = 0;
    loop {
        let flags = if block { 0 } else { libc::WNOHANG };
        // SAFETY: waitpid writes only into `status`, a live local.
        let pid = unsafe { libc::waitpid(-1, &mut status, flags) };
        if pid > 0 {
            return Ok(Reaped::Child { pid, status });
        }
        if pid == 0 {
            return Ok(Reaped::Running);
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::ECHILD) => return Ok(Reaped::NoChildren),
            Some(libc::EINTR) => continue,
            _ => return Err(e),
        }
    }
}

/// The effective user ID.
pub fn geteuid() -> u32 {
    // SAFETY: geteuid cannot fail and has no arguments.
    unsafe { libc::geteuid() }
}

/// When the process started, in clock ticks since boot (field 22 of /proc/PID/stat): with
/// the pid it identifies a process across pid reuse.
pub fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may contain spaces; fields after the
    // last ')' are plain. starttime is field 22, i.e. the 20th after the name.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(19)?.parse().ok()
}

/// The type (`CLONE_NEWNET`, `CLONE_NEWNS`, …) of the namespace behind an nsfs file; an error
/// for any other file.
pub fn namespace_type(file: &std::fs::File) -> io::Result<i32> {
    use std::os::fd::AsRawFd;
    /// `NS_GET_NSTYPE`, `_IO(0xb7, 0x3)`.
    const NS_GET_NSTYPE: libc::c_ulong = 0xb703;
    // SAFETY: an ioctl without an argument on an open fd; it reads and writes no memory of ours.
    let kind = unsafe { libc::ioctl(file.as_raw_fd(), NS_GET_NSTYPE as _) };
    if kind < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(kind)
}

/// The umask a task starts with: the daemon runs with 0077 so its own state is owner-only,
/// but a task's files should come out as a normal program's would.
pub const TASK_UMASK: libc::mode_t = 0o022;

/// Pre-exec work in the forked task process: restore default dispositions for signals the
/// supervisor ignores (ignored dispositions survive exec), give back the usual umask, then
/// join the task's cgroups.
///
/// Only async-signal-safe calls are allowed here (we are between fork and exec), so the
/// cgroup paths arrive as ready C strings and errors are plain errno values.
pub fn pre_exec_hook(cgroup_procs: &[std::ffi::CString]) -> io::Result<()> {
    for signal in [libc::SIGHUP, libc::SIGINT, libc::SIGPIPE, libc::SIGTERM] {
        // SAFETY: restoring SIG_DFL is async-signal-safe and touches no memory of ours.
        unsafe {
            libc::signal(signal, libc::SIG_DFL);
        }
    }
    // SAFETY: umask(2) is async-signal-safe and cannot fail.
    unsafe {
        libc::umask(TASK_UMASK);
    }
    for path in cgroup_procs {
        // SAFETY: `path` is a valid NUL-terminated string that outlives the call; open, write
        // and close are async-signal-safe; "0" moves the calling process into the cgroup.
        unsafe {
            let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            let rc = libc::write(fd, b"0".as_ptr().cast(), 1);
            let err = io::Error::last_os_error();
            libc::close(fd);
            if rc < 0 {
                return Err(err);
            }
        }
    }
    Ok(())
}

/// Gives a healthcheck command (run by the supervisor, like the task) the task's umask.
pub fn set_task_umask(command: &mut tokio::process::Command) {
    // SAFETY: the hook makes one async-signal-safe call and touches no memory of ours.
    unsafe {
        command.pre_exec(|| {
            libc::umask(TASK_UMASK);
            Ok(())
        });
    }
}

/// Installs [`pre_exec_hook`] on a command, then the entry into the task's network sandbox
/// when it has one (which also changes the ids: leave them unset on `command` then).
pub fn set_pre_exec(
    command: &mut std::process::Command,
    cgroup_procs: Vec<std::ffi::CString>,
    sandbox: Option<super::sandbox::Entry>,
) {
    use std::os::unix::process::CommandExt;
    // SAFETY: the hook and the entry only make async-signal-safe calls (see pre_exec_hook
    // and Entry::enter) and allocate nothing: the C strings and fds were made before the
    // fork and are only borrowed.
    unsafe {
        command.pre_exec(move || {
            pre_exec_hook(&cgroup_procs)?;
            match &sandbox {
                Some(entry) => entry.enter(),
                None => Ok(()),
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_start_time_and_refuses_wide_kills() {
        assert!(start_time(std::process::id() as i32).is_some());
        assert!(start_time(i32::MAX).is_none());
        assert!(kill_group(1, 0).is_err());
        assert!(kill_group(0, 0).is_err());
        let fd = pidfd_open(std::process::id() as i32).unwrap();
        pidfd_send_signal(&fd, 0).unwrap();
    }
}
