//! Where a secret's bytes may not be: files on a disk, the memory of an agent that never got
//! them; and the mounts a task's tmpfs makes. Shared by the secret and stack tests.
//!
//! Include it with `#[path = "common/leaks.rs"] mod leaks;`.

use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Mount points under `dir` (from this process's mountinfo; the agents share its mount
/// namespace).
pub fn mounts_under(dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    text.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| Path::new(m).starts_with(dir))
        .map(str::to_string)
        .collect()
}

/// Every regular file under `dir` on the same filesystem as `dir`: what is on the disk (a
/// task's tmpfs and the containers' overlay mounts are other filesystems; the overlays' layers
/// and writable directories are on it and are searched).
pub fn files_on_disk(dir: &Path) -> Vec<PathBuf> {
    let dev = std::fs::metadata(dir).unwrap().dev();
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(meta) = std::fs::symlink_metadata(e.path()) else {
                continue;
            };
            if meta.dev() != dev {
                continue;
            }
            if meta.is_dir() {
                todo.push(e.path());
            } else if meta.is_file() {
                out.push(e.path());
            }
        }
    }
    out
}

pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Whether `needle` is anywhere in the writable memory (heap, stacks, data) of process `pid`,
/// where bytes a process received would be.
pub fn in_memory(pid: u32, needle: &[u8]) -> bool {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    let mut mem = std::fs::File::open(format!("/proc/{pid}/mem")).unwrap();
    const CHUNK: u64 = 16 << 20;
    let overlap = needle.len() as u64 - 1;
    for line in maps.lines() {
        let mut fields = line.split_whitespace();
        let (Some(range), Some(perms)) = (fields.next(), fields.next()) else {
            continue;
        };
        if !perms.starts_with("rw") {
            continue;
        }
        let Some((a, b)) = range.split_once('-') else {
            continue;
        };
        let (Ok(mut pos), Ok(end)) = (u64::from_str_radix(a, 16), u64::from_str_radix(b, 16)) else {
            continue;
        };
        while pos < end {
            let len = (end - pos).min(CHUNK);
            let mut buf = vec![0u8; len as usize];
            // A mapping that went away meanwhile, or one the kernel will not show (vvar).
            if mem.seek(SeekFrom::Start(pos)).is_err() || mem.read_exact(&mut buf).is_err() {
                break;
            }
            if contains(&buf, needle) {
                return true;
            }
            if pos + len >= end || len <= overlap {
                break;
            }
            pos += len - overlap;
        }
    }
    false
}
