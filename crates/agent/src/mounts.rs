//! The mount calls the executors and the payload tmpfs share, each wrapped once with its
//! safety argument.
#![allow(unsafe_code)]

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// `text` as a C string; a NUL byte inside is an invalid argument, not a panic.
pub(crate) fn cstring(text: &[u8]) -> io::Result<CString> {
    CString::new(text).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL byte in argument"))
}

/// Mounts a `fstype` filesystem named `source` at `target` (an existing directory) with
/// `flags` and the filesystem's `data` options.
pub(crate) fn mount(
    source: &str,
    target: &Path,
    fstype: &str,
    flags: libc::c_ulong,
    data: &str,
) -> io::Result<()> {
    let source = cstring(source.as_bytes())?;
    let fstype = cstring(fstype.as_bytes())?;
    let target = cstring(target.as_os_str().as_bytes())?;
    let data = cstring(data.as_bytes())?;
    // SAFETY: every pointer is a NUL-terminated string that outlives the call; the kernel
    // copies them and keeps no reference.
    let rc = unsafe {
        libc::mount(
            source.as_ptr(),
            target.as_ptr(),
            fstype.as_ptr(),
            flags,
            data.as_ptr().cast(),
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Unmounts `target`, detaching it if it is busy (a container may still hold a bind mount of
/// one of its files; the filesystem goes with the last reference). Not a mount point, or
/// gone: fine.
pub(crate) fn unmount(target: &Path) -> io::Result<()> {
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
