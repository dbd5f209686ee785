//! Ending everything a task started once its main process is gone, as a container's processes
//! all die with its init.
//!
//! ```text
//!  task exits (or is stopped) ─► SIGKILL its process group
//!    ─► round: SIGKILL every process in the task's cgroups
//!              SIGKILL every descendant of the supervisor (a subreaper: daemons that
//!                detached with setsid + double fork are reparented to it, not to init)
//!              reap whatever ended
//!    ─► repeat until the supervisor has no children and the cgroups are empty
//! ```
//!
//! Rounds repeat because a process may fork between the listing and the kill; SIGKILL'd
//! processes fork no more, so each round leaves fewer. The cgroup catches what the tree misses
//! (a process that escaped through a supervisor that died); the tree catches everything when
//! there is no cgroup (an unprivileged agent).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use super::cgroup::Cgroups;
use super::sys::{self, Reaped};

/// Pause between rounds: long enough for the kernel to deliver the kills and reparent orphans.
const ROUND_PAUSE: Duration = Duration::from_millis(10);

/// Rounds before giving up (10 s in all): only a process stuck in the kernel (state D) can
/// outlast SIGKILL that long.
const MAX_ROUNDS: u32 = 1000;

/// One process as `/proc/<pid>/stat` describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcEntry {
    /// Process ID.
    pub pid: i32,
    /// Parent's process ID.
    pub ppid: i32,
    /// Already exited, waiting to be reaped (state `Z`): killing it does nothing.
    pub zombie: bool,
}

/// The live (non-zombie) processes below `root` in the process tree, `root` excluded.
pub fn live_descendants(table: &[ProcEntry], root: i32) -> Vec<i32> {
    let mut children: BTreeMap<i32, Vec<&ProcEntry>> = BTreeMap::new();
    for p in table {
        children.entry(p.ppid).or_default().push(p);
    }
    let mut seen = BTreeSet::new();
    let mut stack = vec![root];
    let mut out = Vec::new();
    while let Some(parent) = stack.pop() {
        for child in children.get(&parent).into_iter().flatten() {
            // `seen` guards against a pid listed twice in a table read while processes churn.
            if child.pid != root && seen.insert(child.pid) {
                if !child.zombie {
                    out.push(child.pid);
                }
                stack.push(child.pid);
            }
        }
    }
    out.sort_unstable();
    out
}

/// Parses the pid, state and ppid out of a `/proc/<pid>/stat` line.
pub fn parse_stat(stat: &str) -> Option<ProcEntry> {
    let pid = stat.split_whitespace().next()?.parse().ok()?;
    // The command name (field 2) is in parentheses and may contain anything; after the last
    // ')' come the state (field 3) and the ppid (field 4).
    let mut after = stat[stat.rfind(')')? + 1..].split_whitespace();
    let state = after.next()?;
    let ppid = after.next()?.parse().ok()?;
    Some(ProcEntry {
        pid,
        ppid,
        zombie: state == "Z" || state == "X",
    })
}

/// Every process on the host (those that vanish while we read are skipped).
pub fn process_table() -> Vec<ProcEntry> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
        })
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter_map(|s| parse_stat(&s))
        .collect()
}

/// How a sweep ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Swept {
    /// Nothing of the task is left.
    Clean,
    /// These processes were still there after every round.
    Left(Vec<i32>),
}

/// Kills every process of the task: the cgroups' members and the descendants of this process
/// (the supervisor), until none is left. Children that end are reaped here.
pub fn sweep(cgroups: &[PathBuf]) -> Swept {
    let me = std::process::id() as i32;
    let mut left = Vec::new();
    for _ in 0..MAX_ROUNDS {
        Cgroups::kill(cgroups);
        left = live_descendants(&process_table(), me);
        for pid in &left {
            let _ = sys::kill_process(*pid, libc::SIGKILL);
        }
        let no_children = reap_ended();
        let cgroups_empty = cgroups.iter().all(|dir| cgroup_empty(dir));
        if no_children && cgroups_empty {
            return Swept::Clean;
        }
        std::thread::sleep(ROUND_PAUSE);
    }
    Swept::Left(left)
}

/// Reaps every ended child; true when no child is left at all.
fn reap_ended() -> bool {
    loop {
        match sys::reap_any(false) {
            Ok(Reaped::Child { .. }) => continue,
            Ok(Reaped::NoChildren) => return true,
            Ok(Reaped::Running) | Err(_) => return false,
        }
    }
}

fn cgroup_empty(dir: &std::path::Path) -> bool {
    match std::fs::read_to_string(dir.join("cgroup.procs")) {
        Ok(procs) => procs.trim().is_empty(),
        // A cgroup that is gone holds nothing.
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pid: i32, ppid: i32) -> ProcEntry {
        ProcEntry {
            pid,
            ppid,
            zombie: false,
        }
    }

    #[test]
    fn finds_the_whole_subtree_and_nothing_else() {
        // 10 is the supervisor; 11 its task; 12 a daemon reparented to it; 13 the daemon's
        // per-connection child; 14 a zombie child of 12 (not killable, but its own children are
        // walked); 15 below the zombie; 20 and 21 are strangers.
        let mut zombie = p(14, 12);
        zombie.zombie = true;
        let table = [
            p(1, 0),
            p(10, 1),
            p(11, 10),
            p(12, 10),
            p(13, 12),
            zombie,
            p(15, 14),
            p(20, 1),
            p(21, 20),
        ];
        assert_eq!(live_descendants(&table, 10), vec![11, 12, 13, 15]);
        assert_eq!(live_descendants(&table, 20), vec![21]);
        assert!(live_descendants(&table, 99).is_empty());
        // A table with a cycle (pids reused mid-read) still ends.
        assert_eq!(live_descendants(&[p(2, 3), p(3, 2)], 2), vec![3]);
    }

    #[test]
    fn parses_stat_lines_with_odd_command_names() {
        let e = parse_stat("42 (my (odd) name) S 7 42 42 0 -1").unwrap();
        assert_eq!(e, p(42, 7));
        assert!(parse_stat("43 (z) Z 1 0").unwrap().zombie);
        assert_eq!(parse_stat("garbage"), None);
        let me = std::process::id() as i32;
        assert!(process_table().iter().any(|e| e.pid == me));
    }
}
