//! The kernel calls the oci executor needs beyond the process executor's: overlay mounts,
//! entering a container's namespaces, and bringing its loopback up. Each is wrapped once
//! with its safety argument.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use crate::mounts::cstring;

/// Mounts an overlay at `target` with the given lower (top first), upper and work dirs.
pub fn mount_overlay(target: &Path, data: &str) -> io::Result<()> {
    crate::mounts::mount("overlay", target, "overlay", libc::MS_NODEV, data)
}

pub(crate) use crate::mounts::unmount;

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

/// The namespaces an exec or health check joins, in the order it joins them: the mount
/// namespace last, as it moves the root into the container.
const NAMESPACES: [&str; 6] = ["ipc", "uts", "net", "pid", "cgroup", "mnt"];

/// Opens the namespaces of process `pid` (see [`join_namespaces`]).
pub fn namespace_fds(pid: i32) -> io::Result<Vec<OwnedFd>> {
    NAMESPACES
        .iter()
        .map(|kind| std::fs::File::open(format!("/proc/{pid}/ns/{kind}")).map(OwnedFd::from))
        .collect()
}

/// Joins the namespaces [`namespace_fds`] opened. Only setns calls: async-signal-safe, so
/// usable between fork and exec. The pid namespace applies to children created afterwards.
pub fn join_namespaces(fds: &[OwnedFd]) -> io::Result<()> {
    for fd in fds {
        // SAFETY: a valid open fd; nstype 0 lets the kernel take the type from the fd.
        if unsafe { libc::setns(fd.as_raw_fd(), 0) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Makes `command` enter the namespaces of process `pid` before it runs (for health checks
/// inside a container), then change to `cwd` and become `uid`/`gid`. The namespace files
/// are opened now, in the parent; the child only calls setns, chdir and set*id, which are
/// async-signal-safe. The ids change after every setns, which needs the agent's privileges.
pub fn enter_namespaces(
    command: &mut tokio::process::Command,
    pid: i32,
    cwd: &str,
    uid: u32,
    gid: u32,
) -> io::Result<()> {
    let fds = namespace_fds(pid)?;
    let cwd = cstring(cwd.as_bytes())?;
    // SAFETY: the closure runs in the forked child before exec and only makes syscalls on
    // fds and a string the parent prepared: no allocation, no locks.
    unsafe {
        command.pre_exec(move || {
            join_namespaces(&fds)?;
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

/// The privileges of a container's process, read from `/proc/<pid>/status`, that an exec
/// into it must not exceed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Privileges {
    /// Capability bounding set.
    pub bounding: u64,
    /// Inheritable capabilities.
    pub inheritable: u64,
    /// `no_new_privs` is set.
    pub no_new_privs: bool,
}

impl Privileges {
    /// Reads them from a `/proc/<pid>/status` text.
    pub fn parse(status: &str) -> Option<Privileges> {
        let field = |name: &str| status.lines().find_map(|l| l.strip_prefix(name)).map(str::trim);
        Some(Privileges {
            bounding: u64::from_str_radix(field("CapBnd:")?, 16).ok()?,
            inheritable: u64::from_str_radix(field("CapInh:")?, 16).ok()?,
            no_new_privs: field("NoNewPrivs:").is_some_and(|v| v == "1"),
        })
    }

    /// Narrows this (single-threaded) process to them: capabilities outside the bounding
    /// set are dropped from it, inheritable and ambient ones cut, `no_new_privs` copied. A
    /// later exec as root then gets the container's capabilities, not the agent's.
    pub fn apply(&self) -> io::Result<()> {
        for cap in 0..64u64 {
            if self.bounding & (1 << cap) != 0 {
                continue;
            }
            // SAFETY: prctl with plain integers; EINVAL marks a capability this kernel
            // does not have, which is then not held either.
            if unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) } != 0 {
                let e = io::Error::last_os_error();
                if e.raw_os_error() != Some(libc::EINVAL) {
                    return Err(e);
                }
            }
        }
        let mut header = CapHeader {
            version: CAP_VERSION_3,
            pid: 0,
        };
        let mut data = [CapData::default(); 2];
        // SAFETY: capget fills two CapData (version 3 layout) and reads the header; both
        // live across the call.
        if unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        data[0].inheritable &= self.inheritable as u32;
        data[1].inheritable &= (self.inheritable >> 32) as u32;
        // SAFETY: as above; capset reads the same structures.
        if unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: prctl with plain integers.
        if unsafe {
            libc::prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
                0,
                0,
                0,
            )
        } != 0
        {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: prctl with plain integers.
        if self.no_new_privs
            && unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1 as libc::c_ulong, 0, 0, 0) } != 0
        {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

/// Gives this process the resource limits of process `pid` (a container's ulimits), which
/// its children then inherit. Raising a hard limit needs CAP_SYS_RESOURCE, which the agent's
/// helper has.
pub fn copy_rlimits(pid: i32) -> io::Result<()> {
    for resource in RLIMITS {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: prlimit reads nothing (null new limit) and writes one rlimit into `limit`,
        // which lives across the call.
        if unsafe { libc::prlimit(pid, resource, std::ptr::null(), &mut limit) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: setrlimit reads the rlimit we pass, which lives across the call.
        if unsafe { libc::setrlimit(resource, &limit) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Every resource limit Linux has (`RLIMIT_NLIMITS` is not stable across versions).
const RLIMITS: [libc::__rlimit_resource_t; 16] = [
    libc::RLIMIT_CPU,
    libc::RLIMIT_FSIZE,
    libc::RLIMIT_DATA,
    libc::RLIMIT_STACK,
    libc::RLIMIT_CORE,
    libc::RLIMIT_RSS,
    libc::RLIMIT_NPROC,
    libc::RLIMIT_NOFILE,
    libc::RLIMIT_MEMLOCK,
    libc::RLIMIT_AS,
    libc::RLIMIT_LOCKS,
    libc::RLIMIT_SIGPENDING,
    libc::RLIMIT_MSGQUEUE,
    libc::RLIMIT_NICE,
    libc::RLIMIT_RTPRIO,
    libc::RLIMIT_RTTIME,
];

/// `_LINUX_CAPABILITY_VERSION_3`: two 32-bit words per set.
const CAP_VERSION_3: u32 = 0x2008_0522;

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

// The kernel reads and writes every field; Rust code only touches the inheritable ones.
#[allow(dead_code)]
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_process_privileges() {
        let status = "Name:\tsh\nCapInh:\t0000000000000000\nCapBnd:\t00000000a80425fb\nNoNewPrivs:\t1\n";
        assert_eq!(
            Privileges::parse(status),
            Some(Privileges {
                bounding: 0xa80425fb,
                inheritable: 0,
                no_new_privs: true,
            })
        );
        assert_eq!(Privileges::parse("Name:\tsh\n"), None);
    }
}
