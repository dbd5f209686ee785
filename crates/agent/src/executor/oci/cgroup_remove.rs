//! A container's cgroups, removed before the runtime deletes the container. libcontainer's
//! own removal (libcgroups 0.7) SIGKILLs what `cgroup.procs` lists, then tries `rmdir` four
//! times, the last 40 ms after the kill, and gives up ("could not delete"). Under load the
//! killed processes take longer than that to leave the cgroup (at a load of 16 on 2 cores:
//! 29 ms median, 72 ms p90), so the delete failed, the task's runtime state stayed behind
//! and its removal was never done (a drain waited out its whole deadline). Here the removal
//! waits for them instead, bounded and off the blocking pool; libcontainer then finds no
//! cgroup left to remove.
//!
//! ```text
//!  for each hierarchy's <parent>/<task id>, until it is gone or LIMIT passes:
//!    every cgroup of its tree: thaw ─► cgroup.kill (v2) or SIGKILL each pid of cgroup.procs
//!    ─► rmdir children first ─► EBUSY: wait 5 ms, 10, 20 … 200 ms and go again
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::executor::{Error, Result};

/// How long the processes of a container's cgroups may take to go once killed.
pub const LIMIT: Duration = Duration::from_secs(15);

/// First pause between rounds; doubled each round up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(5);

/// Longest pause between rounds.
const MAX_PAUSE: Duration = Duration::from_millis(200);

/// Kills the processes of `dirs` (cgroup directories, one per hierarchy) and removes them,
/// with their child cgroups; waits up to `limit` for killed processes to leave. Directories
/// already gone are fine.
pub async fn remove(dirs: &[PathBuf], limit: Duration) -> Result<()> {
    let deadline = tokio::time::Instant::now() + limit;
    for dir in dirs {
        let mut pause = FIRST_PAUSE;
        loop {
            match round(dir) {
                Ok(true) => break,
                Ok(false) => {}
                Err(e) => return Err(Error::io(format!("removing cgroup {}", dir.display()), e)),
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::Shim(format!(
                    "cgroup {} still holds processes {:?} {limit:?} after they were killed",
                    dir.display(),
                    pids(dir)
                )));
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(MAX_PAUSE);
        }
    }
    Ok(())
}

/// One pass over `dir`'s tree: true once `dir` is gone.
fn round(dir: &Path) -> std::io::Result<bool> {
    let tree = tree(dir);
    for cgroup in &tree {
        thaw(cgroup);
        kill_all(cgroup);
    }
    for cgroup in &tree {
        match std::fs::remove_dir(cgroup) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            // Busy: processes still leaving (or a child cgroup made meanwhile); next round.
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => return Ok(false),
            Err(e) => return Err(e),
        }
    }
    Ok(!dir.exists())
}

/// `dir` and the cgroups below it, children before their parents.
fn tree(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    // Depth-first with an explicit stack: cgroup trees are shallow, but a container may
    // make its own below its cgroup and nothing here should recurse on its say.
    let mut stack = vec![(dir.to_path_buf(), false)];
    while let Some((path, expanded)) = stack.pop() {
        if expanded {
            out.push(path);
            continue;
        }
        let Ok(entries) = std::fs::read_dir(&path) else {
            continue;
        };
        stack.push((path, true));
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push((entry.path(), false));
            }
        }
    }
    out
}

/// A frozen cgroup's processes cannot act on SIGKILL (v1 freezer); thaw it first.
fn thaw(cgroup: &Path) {
    let v1 = cgroup.join("freezer.state");
    if std::fs::read_to_string(&v1).is_ok_and(|s| s.trim() != "THAWED") {
        let _ = std::fs::write(&v1, "THAWED");
    }
    let v2 = cgroup.join("cgroup.freeze");
    if std::fs::read_to_string(&v2).is_ok_and(|s| s.trim() == "1") {
        let _ = std::fs::write(&v2, "0");
    }
}

/// SIGKILLs every process of `cgroup` (the kernel's `cgroup.kill` where v2 has it).
fn kill_all(cgroup: &Path) {
    if std::fs::write(cgroup.join("cgroup.kill"), "1").is_ok() {
        return;
    }
    for pid in pids(cgroup) {
        // A process that left since the read is gone already; nothing to report.
        let _ = crate::executor::process::sys::kill_process(pid, libc::SIGKILL);
    }
}

/// The processes `cgroup.procs` lists.
fn pids(cgroup: &Path) -> Vec<i32> {
    std::fs::read_to_string(cgroup.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    use super::*;

    #[test]
    fn tree_lists_children_before_parents() {
        let root = tempfile::tempdir().unwrap();
        let top = root.path().join("c");
        for d in ["c/a/x", "c/b"] {
            std::fs::create_dir_all(root.path().join(d)).unwrap();
        }
        let t = tree(&top);
        let pos = |p: &str| t.iter().position(|d| d == &root.path().join(p)).unwrap();
        assert_eq!(t.len(), 4);
        assert!(pos("c/a/x") < pos("c/a") && pos("c/a") < pos("c") && pos("c/b") < pos("c"));
        assert!(tree(&root.path().join("missing")).is_empty());
    }

    /// A real v1 cgroup holding a shell that ignores SIGTERM and two children: all are
    /// killed and the cgroup (with a child cgroup) goes. Needs root and the v1 pids
    /// hierarchy; returns early otherwise.
    #[tokio::test]
    async fn kills_what_lingers_and_removes_the_tree() {
        let hierarchy = Path::new("/sys/fs/cgroup/pids");
        if crate::executor::process::sys::geteuid() != 0 || !hierarchy.join("cgroup.procs").is_file() {
            eprintln!("skipping: needs root and the cgroup v1 pids hierarchy");
            return;
        }
        let dir = hierarchy.join(format!("shoal-remove-test-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("inner")).unwrap();
        let procs = dir.join("cgroup.procs");
        let script = format!(
            "echo $$ > {}; trap '' TERM; sleep 1000 & sleep 1000 & echo ready; wait",
            procs.display()
        );
        let mut child = Command::new("sh")
            .args(["-c", &script])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready");
        assert_eq!(pids(&dir).len(), 3, "the shell and its two children");
        // The shell is this test's child: reaped here (a zombie has left the cgroup).
        let reaper = std::thread::spawn(move || child.wait());
        remove(std::slice::from_ref(&dir), LIMIT).await.unwrap();
        assert!(!dir.exists());
        let status = reaper.join().unwrap().unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(libc::SIGKILL)
        );
    }
}
