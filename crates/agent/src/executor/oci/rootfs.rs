//! A task's root filesystem: an overlay of the image's layers (read-only lowerdirs, shared by
//! every task of the image) and a per-task upper and work directory, mounted at
//! `<task>/bundle/rootfs`. Where the kernel has no overlayfs (or refuses it on this
//! filesystem), the layers are copied into the rootfs directory instead, whiteouts applied.
//!
//! ```text
//!  <task>/bundle/rootfs   overlay mount (or a plain copy)
//!  <task>/upper, work     the task's writes
//! ```

use std::path::{Path, PathBuf};

use super::sys;
use crate::executor::{Error, Result};

/// The bundle directory inside a task directory.
pub const BUNDLE: &str = "bundle";

/// The rootfs of a task directory.
pub fn rootfs_of(task_dir: &Path) -> PathBuf {
    task_dir.join(BUNDLE).join("rootfs")
}

/// How the rootfs was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Made {
    /// An overlay mount.
    Overlay,
    /// A copy of the layers.
    Copy,
}

/// Mounts (or copies) `layers` (bottom first) as the rootfs of `task_dir`. Idempotent: an
/// already mounted rootfs is left as is.
pub fn prepare(task_dir: &Path, layers: &[PathBuf]) -> Result<Made> {
    let rootfs = rootfs_of(task_dir);
    let upper = task_dir.join("upper");
    let work = task_dir.join("work");
    for dir in [&rootfs, &upper, &work] {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    }
    if is_mount_point(&rootfs) {
        return Ok(Made::Overlay);
    }
    if layers.is_empty() {
        return Err(Error::Invalid("the image has no layers".into()));
    }
    // The merged root takes its owner and mode from the upper dir, and the agent's umask
    // (0077) would make it 0700: give it the image's root attributes instead.
    let top = std::fs::metadata(&layers[layers.len() - 1])
        .map_err(|e| Error::io(format!("reading {}", layers[layers.len() - 1].display()), e))?;
    for dir in [&upper, &rootfs] {
        std::fs::set_permissions(dir, top.permissions())
            .map_err(|e| Error::io(format!("setting the mode of {}", dir.display()), e))?;
    }
    for l in layers {
        if l.as_os_str().to_string_lossy().contains([',', ':']) {
            return Err(Error::Invalid(format!(
                "layer path {} has a ',' or ':', which overlayfs cannot take",
                l.display()
            )));
        }
    }
    let lower: Vec<String> = layers.iter().rev().map(|l| l.display().to_string()).collect();
    let data = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.join(":"),
        upper.display(),
        work.display()
    );
    match sys::mount_overlay(&rootfs, &data) {
        Ok(()) => Ok(Made::Overlay),
        Err(e) => {
            tracing::info!(error = %e, rootfs = %rootfs.display(), "overlay mount failed; copying the layers");
            for layer in layers {
                copy_layer(layer, &rootfs)?;
            }
            Ok(Made::Copy)
        }
    }
}

/// Unmounts the rootfs of `task_dir` if it is mounted. Must succeed before the directory
/// is deleted, or the deletion would walk into the image's layers.
pub fn release(task_dir: &Path) -> Result<()> {
    let rootfs = rootfs_of(task_dir);
    if !is_mount_point(&rootfs) {
        return Ok(());
    }
    sys::unmount(&rootfs).map_err(|e| Error::io(format!("unmounting {}", rootfs.display()), e))?;
    if is_mount_point(&rootfs) {
        return Err(Error::Shim(format!("{} is still mounted", rootfs.display())));
    }
    Ok(())
}

/// Whether `path` is a mount point. The kernel says so in `statx` (Linux 5.8 on): reading
/// the mount table instead costs a pass over every mount of the node on each task's prepare
/// and release, which grew with the tasks running (a tenth of a task start at 20 tasks).
/// Older kernels: the table.
pub fn is_mount_point(path: &Path) -> bool {
    use rustix::fs::{AtFlags, CWD, StatxAttributes, StatxFlags};
    match rustix::fs::statx(CWD, path, AtFlags::NO_AUTOMOUNT, StatxFlags::empty()) {
        Ok(st) if st.stx_attributes_mask.contains(StatxAttributes::MOUNT_ROOT) => {
            st.stx_attributes.contains(StatxAttributes::MOUNT_ROOT)
        }
        Ok(_) | Err(rustix::io::Errno::NOSYS) => listed_in_mount_table(path),
        Err(_) => false,
    }
}

/// Whether the kernel's mount table lists `path` as a mount point.
fn listed_in_mount_table(path: &Path) -> bool {
    let Ok(canon) = std::fs::canonicalize(path) else {
        return false;
    };
    let Ok(table) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return false;
    };
    let want = canon.to_string_lossy();
    table
        .lines()
        .any(|line| line.split(' ').nth(4).is_some_and(|mp| unescape(mp) == want))
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape(field: &str) -> String {
    field
        .replace("\\040", " ")
        .replace("\\011", "\t")
        .replace("\\012", "\n")
        .replace("\\134", "\\")
}

/// Copies one layer over `dest`, applying its whiteouts (`.wh.<name>` files and overlay's
/// 0:0 character devices delete; `.wh..wh..opq` empties the directory first).
fn copy_layer(layer: &Path, dest: &Path) -> Result<()> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let io = |what: &Path, e| Error::io(format!("copying layer at {}", what.display()), e);
    if layer.join(".wh..wh..opq").exists() {
        for entry in std::fs::read_dir(dest).map_err(|e| io(dest, e))?.flatten() {
            remove_any(&entry.path()).map_err(|e| io(&entry.path(), e))?;
        }
    }
    for entry in std::fs::read_dir(layer).map_err(|e| io(layer, e))?.flatten() {
        let name = entry.file_name();
        let name_s = name.to_string_lossy();
        let from = entry.path();
        let to = dest.join(&name);
        if name_s == ".wh..wh..opq" {
            continue;
        }
        if let Some(hidden) = name_s.strip_prefix(".wh.") {
            let _ = remove_any(&dest.join(hidden));
            continue;
        }
        let meta = std::fs::symlink_metadata(&from).map_err(|e| io(&from, e))?;
        let ft = meta.file_type();
        if ft.is_char_device() && meta.rdev() == 0 {
            let _ = remove_any(&to);
        } else if ft.is_dir() {
            if std::fs::symlink_metadata(&to).is_ok_and(|m| !m.is_dir()) {
                remove_any(&to).map_err(|e| io(&to, e))?;
            }
            if !to.exists() {
                std::fs::create_dir(&to).map_err(|e| io(&to, e))?;
                std::fs::set_permissions(&to, meta.permissions()).map_err(|e| io(&to, e))?;
            }
            copy_layer(&from, &to)?;
        } else if ft.is_symlink() {
            let _ = remove_any(&to);
            let target = std::fs::read_link(&from).map_err(|e| io(&from, e))?;
            std::os::unix::fs::symlink(target, &to).map_err(|e| io(&to, e))?;
        } else if ft.is_file() {
            let _ = remove_any(&to);
            std::fs::copy(&from, &to).map_err(|e| io(&from, e))?;
        }
        // Devices, fifos and sockets in a layer are skipped: the runtime creates /dev.
    }
    Ok(())
}

fn remove_any(path: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_layers_with_whiteouts() {
        let t = tempfile::tempdir().unwrap();
        let (l1, l2, out) = (t.path().join("l1"), t.path().join("l2"), t.path().join("out"));
        std::fs::create_dir_all(l1.join("d")).unwrap();
        std::fs::create_dir_all(l2.join("d")).unwrap();
        std::fs::create_dir_all(&out).unwrap();
        std::fs::write(l1.join("a"), "1").unwrap();
        std::fs::write(l1.join("d/x"), "x").unwrap();
        std::fs::write(l2.join(".wh.a"), "").unwrap();
        std::fs::write(l2.join("d/.wh..wh..opq"), "").unwrap();
        std::fs::write(l2.join("d/y"), "y").unwrap();
        copy_layer(&l1, &out).unwrap();
        copy_layer(&l2, &out).unwrap();
        assert!(!out.join("a").exists());
        assert!(!out.join("d/x").exists());
        assert_eq!(std::fs::read_to_string(out.join("d/y")).unwrap(), "y");
    }

    #[test]
    fn the_kernels_mount_roots_are_the_mount_tables() {
        let t = tempfile::tempdir().unwrap();
        let link = t.path().join("link-to-proc");
        std::os::unix::fs::symlink("/proc", &link).unwrap();
        for (path, mounted) in [
            (Path::new("/"), true),
            (Path::new("/proc"), true),
            (link.as_path(), true),
            (Path::new("/proc/self"), false),
            (t.path(), false),
            (Path::new("/no/such/path"), false),
        ] {
            assert_eq!(is_mount_point(path), mounted, "{}", path.display());
            assert_eq!(listed_in_mount_table(path), mounted, "{}", path.display());
        }
    }
}
