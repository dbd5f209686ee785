//! Docker's copy-up: a volume mounted empty over a path the image fills gets the image's
//! content there first (unless the mount says `NoCopy`), with owners and modes, and the
//! volume's root takes the owner and mode of the image's directory.
//!
//! The source is the task's root filesystem before its container starts: the image's layers
//! under a fresh upper directory, so nothing changes it while it is read. Its symbolic links
//! are resolved inside that root (an absolute link means the root's path, never the node's),
//! and copied as links, never followed. Directories, regular files and links are copied;
//! hard links become separate files; devices, FIFOs and sockets are skipped with a warning.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

/// How many symbolic links one resolution follows (Linux's own limit).
const MAX_LINKS: usize = 40;

/// `path` (absolute, as in the container) resolved inside `root`: each symbolic link on the
/// way is followed as the container would see it, and `..` stops at the root. `None` when a
/// part of it does not exist (or a loop of links).
pub fn resolve_in_root(root: &Path, path: &str) -> io::Result<Option<PathBuf>> {
    let mut pending: VecDeque<OsString> = components(Path::new(path));
    let mut done: Vec<OsString> = Vec::new();
    let mut links = 0;
    while let Some(part) = pending.pop_front() {
        if part == ".." {
            done.pop();
            continue;
        }
        let mut candidate = root.to_path_buf();
        candidate.extend(&done);
        candidate.push(&part);
        let meta = match std::fs::symlink_metadata(&candidate) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        if !meta.file_type().is_symlink() {
            done.push(part);
            continue;
        }
        links += 1;
        if links > MAX_LINKS {
            return Ok(None);
        }
        let target = std::fs::read_link(&candidate)?;
        if target.is_absolute() {
            done.clear();
        }
        for (i, p) in components(&target).into_iter().enumerate() {
            pending.insert(i, p);
        }
    }
    let mut out = root.to_path_buf();
    out.extend(&done);
    Ok(Some(out))
}

/// The normal and `..` parts of `path` (`.` and the root dropped).
fn components(path: &Path) -> VecDeque<OsString> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(p) => Some(p.to_os_string()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect()
}

/// Copies what `rootfs` holds at `target` into the volume directory `data` if `data` is
/// empty and the image has a directory there (Docker's rule). True when it copied.
pub fn copy_up(rootfs: &Path, target: &str, data: &Path) -> io::Result<bool> {
    if std::fs::read_dir(data)?.next().is_some() {
        return Ok(false);
    }
    let Some(source) = resolve_in_root(rootfs, target)? else {
        return Ok(false);
    };
    let meta = std::fs::symlink_metadata(&source)?;
    if !meta.is_dir() {
        return Ok(false);
    }
    // The volume's root takes the image directory's owner and mode.
    own(data, &meta)?;
    let mut stack = vec![(source, data.to_path_buf())];
    while let Some((from, to)) = stack.pop() {
        for entry in std::fs::read_dir(&from)? {
            let entry = entry?;
            let src = entry.path();
            let dst = to.join(entry.file_name());
            let meta = std::fs::symlink_metadata(&src)?;
            let kind = meta.file_type();
            if kind.is_symlink() {
                std::os::unix::fs::symlink(std::fs::read_link(&src)?, &dst)?;
                std::os::unix::fs::lchown(&dst, Some(meta.uid()), Some(meta.gid()))?;
            } else if kind.is_dir() {
                std::fs::create_dir(&dst)?;
                own(&dst, &meta)?;
                stack.push((src, dst));
            } else if kind.is_file() {
                std::fs::copy(&src, &dst)?;
                own(&dst, &meta)?;
            } else {
                tracing::warn!(path = %src.display(), "volume copy-up skips a device, FIFO or socket");
            }
        }
    }
    Ok(true)
}

/// Owner first, then the mode (a chown clears set-id bits).
fn own(path: &Path, meta: &std::fs::Metadata) -> io::Result<()> {
    std::os::unix::fs::lchown(path, Some(meta.uid()), Some(meta.gid()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(meta.mode() & 0o7777))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_resolve_inside_the_root() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        std::fs::create_dir_all(r.join("real/dir")).unwrap();
        std::os::unix::fs::symlink("/real", r.join("abs")).unwrap();
        std::os::unix::fs::symlink("real/dir", r.join("rel")).unwrap();
        std::os::unix::fs::symlink("../../../../etc", r.join("real/up")).unwrap();
        std::os::unix::fs::symlink("loop", r.join("loop")).unwrap();
        assert_eq!(resolve_in_root(r, "/abs/dir").unwrap(), Some(r.join("real/dir")));
        assert_eq!(resolve_in_root(r, "/rel").unwrap(), Some(r.join("real/dir")));
        // `..` past the root stays in it: the image's /etc is absent here.
        assert_eq!(resolve_in_root(r, "/real/up").unwrap(), None);
        assert_eq!(resolve_in_root(r, "/../real").unwrap(), Some(r.join("real")));
        assert_eq!(resolve_in_root(r, "/loop").unwrap(), None);
        assert_eq!(resolve_in_root(r, "/missing").unwrap(), None);
    }

    #[test]
    fn an_empty_volume_gets_the_images_content_with_modes() {
        let root = tempfile::tempdir().unwrap();
        let rootfs = root.path().join("rootfs");
        std::fs::create_dir_all(rootfs.join("app/sub")).unwrap();
        std::fs::write(rootfs.join("app/sub/f"), b"abc").unwrap();
        std::fs::set_permissions(rootfs.join("app/sub/f"), std::fs::Permissions::from_mode(0o640)).unwrap();
        std::fs::set_permissions(rootfs.join("app"), std::fs::Permissions::from_mode(0o750)).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", rootfs.join("app/link")).unwrap();
        let data = root.path().join("data");
        std::fs::create_dir(&data).unwrap();
        assert!(copy_up(&rootfs, "/app", &data).unwrap());
        assert_eq!(std::fs::read(data.join("sub/f")).unwrap(), b"abc");
        let mode = |p: &Path| std::fs::symlink_metadata(p).unwrap().mode() & 0o7777;
        assert_eq!(mode(&data.join("sub/f")), 0o640);
        assert_eq!(mode(&data), 0o750);
        assert_eq!(
            std::fs::read_link(data.join("link")).unwrap(),
            Path::new("/etc/passwd")
        );
        // The file's 3 bytes and the link's own (its target's length).
        assert_eq!(
            crate::volumes::usage::size(&data),
            Some(3 + "/etc/passwd".len() as u64)
        );
        // Not empty any more: a second mount copies nothing; nor does a path the image lacks.
        assert!(!copy_up(&rootfs, "/app", &data).unwrap());
        let other = root.path().join("other");
        std::fs::create_dir(&other).unwrap();
        assert!(!copy_up(&rootfs, "/nothing", &other).unwrap());
    }
}
