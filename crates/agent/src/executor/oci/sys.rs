//! The kernel calls the oci executor needs beyond the process executor's: overlay mounts,
//! entering a container's namespaces, and bringing its loopback up. Each is wrapped once
//! with its safety argument.
#![allow(unsafe_code)]

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

fn cstring(text: &[u8]) -> io::Result<CString> {
    CString::new(text).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL byte in argument"))
}

/// Mounts an overlay at `target` with the given lower (top first), upper and work dirs.
pub fn mount_overlay(target: &Path, data: &str) -> io::Result<()> {
    let source = cstring(b"overlay")?;
    let fstype = cstring(b"overlay")?;
    let target = cstring(target.as_os_str().as_bytes())?;
    let data = cstring(data.as_bytes())?;
    // SAFETY: every pointer is a NUL-terminated string that outlives the call; the kernel
    // copies them and keeps no reference.
    let rc = unsafe {
        libc::mount(
            source.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            libc::MS_NODEV,
            data.as_ptr().cast(),
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Unmounts `target` (detaching it if busy). EINVAL (not a mount point) and ENOENT are fine.
pub fn unmount(target: &Path) -> io::Result<()> {
    let target = cstring(target.as_os_str().as_bytes())?;
    // SAFETY: a NUL-terminated path that outlives the call.
    let rc = unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
    if rc != 0 {
        let err = io::Error::last_os_error();
        return match err.raw_os_error() {
            Some(libc::EINVAL) | Some(libc::ENOENT) => Ok(()),
            _ => Err(err),
        };
    }
    Ok(())
}

/// Restores the default action of `signal` (the shim ignores some; a container's init must
/// not inherit that, since ignored signals stay ignored across exec).
pub fn default_signal(signal: i32) {
    // SAFETY: SIG_DFL is a valid disposition for any catchable signal.
    unsafe {
        libc::signal(signal, libc::SIG_DFL);
    }
}

/// Joins the namespace behind `fd` (an open `/proc/<pid>/ns/<kind>`) in this thread.
pub fn setns(fd: &OwnedFd) -> io::Result<()> {
    // SAFETY: a valid open fd; nstype 0 lets the kernel take the type from the fd.
    let rc = unsafe { libc::setns(fd.as_raw_fd(), 0) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Sets IFF_UP on the interface `lo` of the calling thread's network namespace.
pub fn loopback_up() -> io::Result<()> {
    // SAFETY: socket() takes plain integers and returns a new fd or -1.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the fd was just returned to us and is owned by nothing else.
    let sock: OwnedFd = unsafe { std::os::fd::FromRawFd::from_raw_fd(fd) };
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS/SIOCSIFFLAGS read and write the ifreq we pass, which lives across
    // both calls; the flags member is the one these requests use.
    unsafe {
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) != 0 {
            return Err(io::Error::last_os_error());
        }
        req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Makes `command` enter the namespaces of process `pid` before it runs (for health checks
/// inside a container), then change to `cwd` and become `uid`/`gid`. The namespace files
/// are opened now, in the parent; the child only calls setns, chdir and set*id, which are
/// async-signal-safe. The mount namespace is entered last, as it moves the root into the
/// container; the ids change after every setns, which needs the agent's privileges.
pub fn enter_namespaces(
    command: &mut tokio::process::Command,
    pid: i32,
    cwd: &str,
    uid: u32,
    gid: u32,
) -> io::Result<()> {
    let mut fds = Vec::new();
    for kind in ["ipc", "uts", "net", "pid", "cgroup", "mnt"] {
        let file = std::fs::File::open(format!("/proc/{pid}/ns/{kind}"))?;
        fds.push(OwnedFd::from(file));
    }
    let cwd = cstring(cwd.as_bytes())?;
    // SAFETY: the closure runs in the forked child before exec and only makes syscalls on
    // fds and a string the parent prepared: no allocation, no locks.
    unsafe {
        command.pre_exec(move || {
            for fd in &fds {
                if libc::setns(fd.as_raw_fd(), 0) != 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            if libc::chdir(cwd.as_ptr()) != 0 && libc::chdir(c"/".as_ptr()) != 0 {
                return Err(io::Error::last_os_error());
            }
            if libc::setgroups(0, std::ptr::null()) != 0 || libc::setgid(gid) != 0 || libc::setuid(uid) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    Ok(())
}
