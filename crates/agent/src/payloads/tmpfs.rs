//! The kernel calls of delivery: a tmpfs per task (mode 0700, nosuid, nodev, noexec, sized to
//! what it holds), files written on it with their owner and mode, and its unmount. Nothing here
//! touches a disk: the files exist only in the tmpfs's memory.
#![allow(unsafe_code)]

use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::mounts::cstring;

/// Mounts a tmpfs of at most `size` bytes at `target` (an existing directory), root 0700.
pub fn mount(target: &Path, size: u64) -> io::Result<()> {
    crate::mounts::mount(
        "shoal-payloads",
        target,
        "tmpfs",
        libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        &format!("mode=0700,size={size}"),
    )
}

pub(crate) use crate::mounts::unmount;

/// True when `path` is the root of a tmpfs (its filesystem magic), so a file is never
/// written to a directory that was left unmounted.
pub fn is_tmpfs(path: &Path) -> io::Result<bool> {
    let p = cstring(path.as_os_str().as_bytes())?;
    // SAFETY: statfs fills the zeroed struct we own; the path outlives the call.
    let mut buf: libc::statfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statfs(p.as_ptr(), &mut buf) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(buf.f_type == libc::TMPFS_MAGIC)
}

/// Writes `data` to a new file `path` (parents made as needed), then sets its owner and mode.
pub fn write_file(path: &Path, data: &[u8], uid: u32, gid: u32, mode: u32) -> io::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(data)?;
    std::os::unix::fs::fchown(&f, Some(uid), Some(gid))?;
    // After the chown, which clears set-ID bits.
    f.set_permissions(std::fs::Permissions::from_mode(mode))?;
    Ok(())
}
