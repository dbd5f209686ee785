//! A volume's size for `docker system df`, as dockerd counts it (`directory.Size`): the bytes
//! of everything under `_data` that is not a directory (a symbolic link counts its own size),
//! each hard-linked inode once.
//!
//! The walk is bounded, whatever a container left in the volume: it goes depth first holding
//! one open directory per level, at most [`MAX_DEPTH`] levels (deeper ones are not counted),
//! and remembers at most [`MAX_LINKED`] hard-linked inodes (past that, further links count
//! again). What it cannot read or stat is skipped.

use std::collections::HashSet;
use std::fs::ReadDir;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// The deepest level walked (each holds an open directory).
pub const MAX_DEPTH: usize = 128;
/// Hard-linked inodes remembered to count each once.
pub const MAX_LINKED: usize = 65_536;

/// The bytes under `dir`; `None` when `dir` itself cannot be read (dockerd's -1).
pub fn size(dir: &Path) -> Option<u64> {
    let root = std::fs::read_dir(dir).ok()?;
    let mut total: u64 = 0;
    let mut linked: HashSet<(u64, u64)> = HashSet::new();
    let mut levels: Vec<ReadDir> = vec![root];
    while let Some(level) = levels.last_mut() {
        let Some(entry) = level.next() else {
            levels.pop();
            continue;
        };
        let Ok(entry) = entry else {
            continue;
        };
        let Ok(meta) = entry.path().symlink_metadata() else {
            continue;
        };
        if meta.is_dir() {
            if levels.len() < MAX_DEPTH
                && let Ok(next) = std::fs::read_dir(entry.path())
            {
                levels.push(next);
            }
            continue;
        }
        if meta.len() == 0 {
            continue;
        }
        if meta.nlink() > 1 {
            let key = (meta.dev(), meta.ino());
            if linked.contains(&key) {
                continue;
            }
            if linked.len() < MAX_LINKED {
                linked.insert(key);
            }
        }
        total = total.saturating_add(meta.len());
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_and_links_count_hard_links_once_and_directories_not_at_all() {
        let root = tempfile::tempdir().unwrap();
        let d = root.path();
        std::fs::create_dir_all(d.join("a/b")).unwrap();
        std::fs::write(d.join("f"), b"12345").unwrap();
        std::fs::write(d.join("a/b/g"), b"123").unwrap();
        std::fs::hard_link(d.join("f"), d.join("a/same")).unwrap();
        std::os::unix::fs::symlink("a/b/g", d.join("link")).unwrap();
        // 5 + 3 + the link's own 5 bytes ("a/b/g").
        assert_eq!(size(d), Some(13));
        assert_eq!(size(&d.join("missing")), None);
    }

    #[test]
    fn a_tree_deeper_than_the_bound_is_counted_down_to_it() {
        let root = tempfile::tempdir().unwrap();
        let mut dir = root.path().to_path_buf();
        for _ in 0..MAX_DEPTH + 5 {
            std::fs::write(dir.join("f"), b"x").unwrap();
            dir.push("d");
            std::fs::create_dir(&dir).unwrap();
        }
        assert_eq!(size(root.path()), Some(MAX_DEPTH as u64));
    }
}
