//! Reading processes from /proc: children, descendants, memory. The daemons under test run in
//! PID namespaces of their own; everything here uses the root namespace's numbers.

use std::time::{Duration, Instant};

/// Direct children of `pid` (every thread's list: a child belongs to the thread that forked it).
pub fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for t in tasks.flatten() {
            if let Ok(text) = std::fs::read_to_string(t.path().join("children")) {
                out.extend(text.split_whitespace().filter_map(|p| p.parse::<u32>().ok()));
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Every descendant of `pid` (not `pid` itself), parents before children.
pub fn descendants(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let mut next = children(pid);
    while let Some(p) = next.pop() {
        out.push(p);
        next.extend(children(p));
    }
    out
}

/// Whether `pid` exists (zombies included until reaped).
pub fn alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Polls until `pid` is gone or `limit` passes (a namespace's processes die asynchronously
/// after its init is killed).
pub fn wait_gone(pid: u32, limit: Duration) {
    let deadline = Instant::now() + limit;
    while alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The command line, arguments joined by spaces.
pub fn cmdline(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| {
            String::from_utf8_lossy(&b)
                .split('\0')
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

/// The `comm` name.
pub fn comm(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// One field (kB) of a /proc file in `Name:   123 kB` form.
fn kb_field(path: &str, field: &str) -> u64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Resident and proportional set size of one process, in kB.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Memory {
    /// VmRSS: every resident page it maps, shared ones included.
    pub rss_kb: u64,
    /// Pss: shared pages divided among the processes that map them.
    pub pss_kb: u64,
    /// Processes summed.
    pub count: usize,
}

impl Memory {
    /// The memory of `pid` now.
    pub fn of(pid: u32) -> Memory {
        Memory {
            rss_kb: kb_field(&format!("/proc/{pid}/status"), "VmRSS:"),
            pss_kb: kb_field(&format!("/proc/{pid}/smaps_rollup"), "Pss:"),
            count: 1,
        }
    }

    /// The sum over `pids`.
    pub fn sum(pids: impl IntoIterator<Item = u32>) -> Memory {
        pids.into_iter()
            .map(Memory::of)
            .fold(Memory::default(), |a, b| Memory {
                rss_kb: a.rss_kb + b.rss_kb,
                pss_kb: a.pss_kb + b.pss_kb,
                count: a.count + b.count,
            })
    }

    /// RSS in MiB.
    pub fn rss_mib(&self) -> f64 {
        self.rss_kb as f64 / 1024.0
    }

    /// PSS in MiB.
    pub fn pss_mib(&self) -> f64 {
        self.pss_kb as f64 / 1024.0
    }
}

/// The 1-minute load average.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}
