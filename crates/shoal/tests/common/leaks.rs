//! Where a secret's bytes may not be: files on a disk, the memory of an agent that never got
//! them; and the mounts a task's tmpfs makes. Shared by the secret and stack tests.
//!
//! Include it with `#[path = "common/leaks.rs"] mod leaks;`.

use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

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
/// where bytes a process received would be. Mappings with no resident page are skipped (never
/// touched: all zeros); the rest is streamed to `grep -F` (a debug build's byte loop would
/// take minutes over an agent's memory), a newline between mappings so no match spans two.
pub fn in_memory(pid: u32, needle: &[u8]) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap();
    let mut regions = Vec::new();
    let mut current: Option<(u64, u64, bool)> = None;
    for line in smaps.lines() {
        let first = line.split_whitespace().next().unwrap_or_default();
        if let Some((a, b)) = first.split_once('-')
            && let (Ok(a), Ok(b)) = (u64::from_str_radix(a, 16), u64::from_str_radix(b, 16))
        {
            let writable = line
                .split_whitespace()
                .nth(1)
                .is_some_and(|p| p.starts_with("rw"));
            current = Some((a, b, writable));
        } else if let Some(kb) = line.strip_prefix("Rss:")
            && let Some((a, b, true)) = current
            && kb.trim().trim_end_matches("kB").trim() != "0"
        {
            regions.push((a, b));
        }
    }
    let mut mem = std::fs::File::open(format!("/proc/{pid}/mem")).unwrap();
    let mut grep = Command::new("grep")
        .args(["-q", "-a", "-F", "--"])
        .arg(std::ffi::OsStr::from_bytes(needle))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("run grep");
    let mut input = grep.stdin.take().unwrap();
    const CHUNK: u64 = 16 << 20;
    'regions: for (start, end) in regions {
        let mut pos = start;
        while pos < end {
            let len = (end - pos).min(CHUNK);
            let mut buf = vec![0u8; len as usize];
            // A mapping that went away meanwhile, or one the kernel will not show.
            if mem.seek(SeekFrom::Start(pos)).is_err() || mem.read_exact(&mut buf).is_err() {
                break;
            }
            // grep stops reading at its first match: a closed pipe means found.
            if input.write_all(&buf).is_err() {
                break 'regions;
            }
            pos += len;
        }
        if input.write_all(b"\n").is_err() {
            break;
        }
    }
    drop(input);
    grep.wait().unwrap().success()
}
