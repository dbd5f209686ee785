//! Filesystem steps shared by layer unpacking: walking a path inside a layer without following
//! symlinks, removing entries, copying a whole tree (the flattened layout), and xattrs.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use crate::error::{IoContext, Result};

/// Longest path accepted inside a layer (Linux's PATH_MAX).
pub(crate) const MAX_PATH: usize = 4096;

/// Why a path inside a layer was refused.
pub(crate) type Refusal = String;

/// Turns a tar path into a relative path of plain components: leading `/` and `.` are dropped
/// (tar writers differ on them), `..` is refused.
pub(crate) fn clean(path: &[u8]) -> std::result::Result<PathBuf, Refusal> {
    if path.len() > MAX_PATH {
        return Err(format!("path of {} bytes is too long", path.len()));
    }
    if path.contains(&0) {
        return Err("path contains a NUL byte".into());
    }
    let mut out = PathBuf::new();
    for c in Path::new(OsStr::from_bytes(path)).components() {
        match c {
            Component::Normal(part) => out.push(part),
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir => {
                return Err(format!("path {:?} contains ..", String::from_utf8_lossy(path)));
            }
            Component::Prefix(_) => return Err("path has a prefix".into()),
        }
    }
    Ok(out)
}

/// Makes sure every directory above `rel` exists under `root` as a real directory, creating
/// missing ones (0755, as tar does); a symlink or file on the way is refused, so nothing is
/// ever written outside `root`.
pub(crate) fn ensure_parents(root: &Path, rel: &Path) -> std::result::Result<(), Refusal> {
    let mut here = root.to_path_buf();
    let Some(parent) = rel.parent() else { return Ok(()) };
    for part in parent.components() {
        here.push(part);
        match std::fs::symlink_metadata(&here) {
            Ok(m) if m.is_dir() => {}
            Ok(m) if m.file_type().is_symlink() => {
                return Err(format!("{} passes through a symlink", rel.display()));
            }
            Ok(_) => return Err(format!("{} passes through a non-directory", rel.display())),
            Err(_) => {
                std::fs::create_dir(&here).map_err(|e| format!("create {}: {e}", here.display()))?;
                std::fs::set_permissions(&here, std::fs::Permissions::from_mode(0o755))
                    .map_err(|e| format!("chmod {}: {e}", here.display()))?;
            }
        }
    }
    Ok(())
}

/// Checks that every directory above `rel` is a real directory (no creation).
pub(crate) fn parents_are_dirs(root: &Path, rel: &Path) -> bool {
    let mut here = root.to_path_buf();
    let Some(parent) = rel.parent() else { return true };
    parent.components().all(|part| {
        here.push(part);
        std::fs::symlink_metadata(&here).is_ok_and(|m| m.is_dir())
    })
}

/// Removes whatever is at `path` (a directory with its contents); never follows a symlink.
pub(crate) fn remove_any(path: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Copies `path`'s extended attributes to `to` (both symlink-safe).
pub(crate) fn copy_xattrs(from: &Path, to: &Path) -> std::io::Result<()> {
    let len = match rustix::fs::llistxattr_query(from) {
        Ok(n) => n,
        // Filesystems without xattrs have nothing to copy.
        Err(rustix::io::Errno::OPNOTSUPP) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    if len == 0 {
        return Ok(());
    }
    let mut names = vec![0u8; len];
    let n = rustix::fs::llistxattr(from, &mut names[..])?;
    for name in names[..n].split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let name = OsStr::from_bytes(name);
        let size = rustix::fs::lgetxattr_query(from, name)?;
        let mut value = vec![0u8; size];
        let got = rustix::fs::lgetxattr(from, name, &mut value[..])?;
        rustix::fs::lsetxattr(to, name, &value[..got], rustix::fs::XattrFlags::empty())?;
    }
    Ok(())
}

/// Copies the tree at `from` to `to` (which must not exist) with owners, modes, times,
/// xattrs, devices and hardlinks; used by the flattened layout, where each layer directory
/// is a whole root filesystem.
pub(crate) fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    let mut links: HashMap<(u64, u64), PathBuf> = HashMap::new();
    let mut dirs = Vec::new();
    copy_entry(from, to, &mut links, &mut dirs)
        .ctx(|| format!("copy {} to {}", from.display(), to.display()))?;
    // Directory times last: creating children moved them.
    for (path, meta) in dirs.iter().rev() {
        set_times(path, meta).ctx(|| format!("set times of {}", path.display()))?;
    }
    Ok(())
}

fn copy_entry(
    from: &Path,
    to: &Path,
    links: &mut HashMap<(u64, u64), PathBuf>,
    dirs: &mut Vec<(PathBuf, std::fs::Metadata)>,
) -> std::io::Result<()> {
    let meta = std::fs::symlink_metadata(from)?;
    let ft = meta.file_type();
    if ft.is_dir() {
        std::fs::create_dir(to)?;
        for entry in std::fs::read_dir(from)? {
            let entry = entry?;
            copy_entry(&entry.path(), &to.join(entry.file_name()), links, dirs)?;
        }
    } else if meta.nlink() > 1
        && !ft.is_symlink()
        && let Some(first) = links.get(&(meta.dev(), meta.ino()))
    {
        return std::fs::hard_link(first, to);
    } else if ft.is_symlink() {
        std::os::unix::fs::symlink(std::fs::read_link(from)?, to)?;
    } else if ft.is_file() {
        std::fs::copy(from, to)?;
    } else {
        let kind = rustix::fs::FileType::from_raw_mode(meta.mode());
        rustix::fs::mknodat(
            rustix::fs::CWD,
            to,
            kind,
            rustix::fs::Mode::from_raw_mode(meta.mode() & 0o7777),
            meta.rdev(),
        )?;
    }
    if meta.nlink() > 1 && !ft.is_dir() && !ft.is_symlink() {
        links.insert((meta.dev(), meta.ino()), to.to_path_buf());
    }
    std::os::unix::fs::lchown(to, Some(meta.uid()), Some(meta.gid()))?;
    if !ft.is_symlink() {
        std::fs::set_permissions(to, std::fs::Permissions::from_mode(meta.mode() & 0o7777))?;
    }
    copy_xattrs(from, to)?;
    if ft.is_dir() {
        dirs.push((to.to_path_buf(), meta));
    } else {
        set_times(to, &meta)?;
    }
    Ok(())
}

fn set_times(path: &Path, meta: &std::fs::Metadata) -> std::io::Result<()> {
    let mtime = filetime::FileTime::from_last_modification_time(meta);
    filetime::set_symlink_file_times(path, mtime, mtime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_keeps_paths_inside() {
        assert_eq!(clean(b"./etc/passwd").unwrap(), PathBuf::from("etc/passwd"));
        assert_eq!(clean(b"/etc//passwd").unwrap(), PathBuf::from("etc/passwd"));
        assert_eq!(clean(b"./").unwrap(), PathBuf::new());
        assert!(clean(b"../etc/passwd").is_err());
        assert!(clean(b"a/../../b").is_err());
        assert!(clean(&vec![b'a'; MAX_PATH + 1]).is_err());
    }
}
