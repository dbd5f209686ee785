//! `VolumeOptions.Subpath`: a directory (or file) inside a volume mounted in its place, as
//! dockerd's `safepath` does it. The path is resolved by the kernel beneath the volume's data
//! directory (`openat2` with `RESOLVE_BENEATH`: a `..` or a symbolic link that leaves it is
//! refused, links that stay inside are followed), and the very inode found is pinned by a bind
//! mount of its descriptor under the task's directory; the container mounts the pin, so a
//! container that swaps a directory of a shared volume for a link meanwhile changes nothing.
//!
//! ```text
//! <volume>/_data ─open(O_PATH|O_NOFOLLOW)─► fd ─openat2(sub, RESOLVE_BENEATH)─► fd'
//!        fd' ─bind /proc/self/fd/N─► <task dir>/subpaths/<i>  ─► the container's mount source
//! ```
//!
//! The pins stay mounted while the task exists (a rerun of the container mounts them again)
//! and are detached when it is destroyed ([`release`]).

use std::io;
use std::os::fd::AsRawFd as _;
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag, open, openat2};
use nix::mount::{MntFlags, MsFlags};
use nix::sys::stat::{Mode, SFlag, fstat};

use crate::executor::{Error, Result};

/// The directory of a task's pins.
const PINS: &str = "subpaths";

/// dockerd's check before anything is opened (Go's `filepath.IsLocal`): not empty, not
/// absolute, and no `..` that climbs above where it starts.
pub fn check(subpath: &str) -> Result<()> {
    let mut depth: usize = 0;
    let mut local = !subpath.is_empty() && !subpath.starts_with('/');
    for part in Path::new(subpath).components() {
        match part {
            Component::ParentDir => match depth.checked_sub(1) {
                Some(d) => depth = d,
                None => local = false,
            },
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => local = false,
        }
    }
    if local {
        Ok(())
    } else {
        Err(Error::Invalid(
            "invalid mount config for type \"volume\": subpath must be a relative path within the volume"
                .into(),
        ))
    }
}

/// Resolves `subpath` beneath `data` (a volume's `_data`) and pins what it names at
/// `<task_dir>/subpaths/<index>`, the path to mount. dockerd's words when it does not exist or
/// leaves the volume.
pub fn pin(data: &Path, subpath: &str, task_dir: &Path, index: usize) -> Result<PathBuf> {
    check(subpath)?;
    let base = open(
        data,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| {
        Error::Invalid(format!(
            "cannot access path {}: {}",
            data.display(),
            io::Error::from(e)
        ))
    })?;
    let resolve = ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_MAGICLINKS;
    let found = openat2(
        &base,
        subpath,
        OpenHow::new()
            .flags(OFlag::O_PATH | OFlag::O_CLOEXEC)
            .resolve(resolve),
    )
    .map_err(|e| match e {
        Errno::EXDEV => Error::Invalid(format!(
            "path concatenation escapes the base directory, base: {}, subpath: {}",
            data.display(),
            types::excerpt(subpath)
        )),
        Errno::ENOENT | Errno::ENOTDIR => Error::Invalid(format!(
            "cannot access path {}/{}: no such file or directory",
            data.display(),
            types::excerpt(subpath)
        )),
        e => Error::Invalid(format!(
            "cannot access path {}/{}: {}",
            data.display(),
            types::excerpt(subpath),
            io::Error::from(e)
        )),
    })?;
    let is_dir = fstat(&found)
        .map(|st| SFlag::from_bits_truncate(st.st_mode) & SFlag::S_IFMT == SFlag::S_IFDIR)
        .map_err(|e| Error::io(format!("reading volume subpath {subpath}"), e.into()))?;
    let pins = task_dir.join(PINS);
    std::fs::create_dir_all(&pins).map_err(|e| Error::io(format!("creating {}", pins.display()), e))?;
    let pin = pins.join(index.to_string());
    // A pin of an earlier prepare of this task is replaced by this one.
    unpin(&pin)?;
    let made = if is_dir {
        std::fs::create_dir(&pin)
    } else {
        std::fs::File::create(&pin).map(drop)
    };
    made.map_err(|e| Error::io(format!("creating {}", pin.display()), e))?;
    let source = format!("/proc/self/fd/{}", found.as_raw_fd());
    nix::mount::mount(
        Some(source.as_str()),
        &pin,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|e| Error::io(format!("pinning a volume subpath at {}", pin.display()), e.into()))?;
    Ok(pin)
}

/// Detaches the pin at `pin` (if mounted) and removes it.
fn unpin(pin: &Path) -> Result<()> {
    // Mounted more than once if a prepare raced an earlier one: detach until none is left.
    loop {
        match nix::mount::umount2(pin, MntFlags::MNT_DETACH) {
            Ok(()) => continue,
            Err(Errno::EINVAL | Errno::ENOENT) => break,
            Err(e) => return Err(Error::io(format!("unmounting {}", pin.display()), e.into())),
        }
    }
    let removed = match std::fs::symlink_metadata(pin) {
        Ok(m) if m.is_dir() => std::fs::remove_dir(pin),
        Ok(_) => std::fs::remove_file(pin),
        Err(e) => Err(e),
    };
    match removed {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(format!("removing {}", pin.display()), e)),
    }
}

/// Detaches and removes every pin of the task in `task_dir`.
pub fn release(task_dir: &Path) -> Result<()> {
    let pins = task_dir.join(PINS);
    let entries = match std::fs::read_dir(&pins) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(format!("listing {}", pins.display()), e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(format!("listing {}", pins.display()), e))?;
        unpin(&entry.path())?;
    }
    match std::fs::remove_dir(&pins) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(format!("removing {}", pins.display()), e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_paths_local_to_the_volume_pass_the_first_check() {
        for ok in ["sub", "a/b", "a/../b", "./a", "a/", "a/./b/.."] {
            assert!(check(ok).is_ok(), "{ok}");
        }
        for bad in ["", "/abs", "..", "../x", "a/../../b", "a/../.."] {
            let err = check(bad).unwrap_err().to_string();
            assert!(
                err.contains("subpath must be a relative path within the volume"),
                "{bad}: {err}"
            );
        }
    }

    fn as_root() -> bool {
        crate::executor::process::sys::geteuid() == 0
    }

    #[test]
    fn a_pin_is_the_inode_found_beneath_the_volume_and_links_out_are_refused() {
        if !as_root() {
            eprintln!("skipped: pinning mounts, which needs root");
            return;
        }
        let root = tempfile::tempdir().unwrap();
        let data = root.path().join("_data");
        let task = root.path().join("task");
        std::fs::create_dir_all(data.join("sub/deeper")).unwrap();
        std::fs::create_dir_all(&task).unwrap();
        std::fs::write(data.join("sub/deeper/f"), b"in").unwrap();
        std::fs::write(data.join("file"), b"file").unwrap();
        std::fs::write(root.path().join("secret"), b"outside").unwrap();
        std::os::unix::fs::symlink("sub/deeper", data.join("inside")).unwrap();
        std::os::unix::fs::symlink(root.path(), data.join("absolute")).unwrap();
        std::os::unix::fs::symlink("../", data.join("up")).unwrap();

        let dir = pin(&data, "sub", &task, 0).unwrap();
        assert_eq!(dir, task.join("subpaths/0"));
        assert_eq!(std::fs::read(dir.join("deeper/f")).unwrap(), b"in");
        // A link that stays inside is followed, as dockerd follows it.
        let linked = pin(&data, "inside", &task, 1).unwrap();
        assert_eq!(std::fs::read(linked.join("f")).unwrap(), b"in");
        let file = pin(&data, "file", &task, 2).unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), b"file");
        // Pinned: renaming the directory away and putting a link in its place changes nothing.
        std::fs::rename(data.join("sub"), data.join("moved")).unwrap();
        std::os::unix::fs::symlink(root.path(), data.join("sub")).unwrap();
        assert_eq!(std::fs::read(dir.join("deeper/f")).unwrap(), b"in");

        for (sub, words) in [
            ("absolute", "path concatenation escapes the base directory"),
            ("up/secret", "path concatenation escapes the base directory"),
            ("sub/secret", "path concatenation escapes the base directory"),
            ("nope", "no such file or directory"),
            ("../secret", "subpath must be a relative path within the volume"),
        ] {
            let err = pin(&data, sub, &task, 9).unwrap_err().to_string();
            assert!(err.contains(words), "{sub}: {err}");
        }
        release(&task).unwrap();
        assert!(!task.join("subpaths").exists());
        assert!(data.join("moved/deeper/f").exists());
    }
}
