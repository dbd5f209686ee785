//! Issue 8 item 6 acceptance: a task's processes end with the task, even one that daemonized
//! out of the task's process group (busybox `httpd`, which forks, calls setsid and keeps its
//! port). Driven by the stock docker CLI against a real `shoal agent` running tasks as real
//! processes.

#![allow(clippy::unwrap_used)]
// Waits are on real processes, so deadlines use the real clock.
#![allow(clippy::disallowed_methods)]
#![allow(unsafe_code)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{Agent, eventually, free_port};

const BUSYBOX: &str = "/bin/busybox";

/// A process seen on the host: pid plus start time, so a reused pid is not mistaken for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Proc {
    pid: i32,
    start: u64,
}

impl Proc {
    fn of(pid: i32) -> Option<Proc> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        let after = &stat[stat.rfind(')')? + 1..];
        let mut fields = after.split_whitespace();
        // A zombie has ended; only its parent's wait is missing.
        if fields.next()? == "Z" {
            return None;
        }
        Some(Proc {
            pid,
            start: fields.nth(18)?.parse().ok()?,
        })
    }

    fn alive(&self) -> bool {
        Proc::of(self.pid) == Some(*self)
    }
}

/// Live processes whose command line mentions `marker` (the test's own web root, so nothing
/// of another test matches). httpd forks per connection: those children match too, which is
/// why the checks below compare sets instead of counting.
fn marked(marker: &str) -> Vec<Proc> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(marker)
            && let Some(p) = Proc::of(pid)
        {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// Kills what a failed run left behind: the daemon escaped the harness's group kill before
/// the fix, and must not outlive the test either way.
struct KillMarked(String);

impl Drop for KillMarked {
    fn drop(&mut self) {
        for p in marked(&self.0) {
            // SAFETY: kill(2) on a process whose command line names this test's own directory.
            unsafe {
                libc::kill(p.pid, libc::SIGKILL);
            }
        }
    }
}

/// GET / on the port; the body if a server answered.
fn http_get(port: u16) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(b"GET /index.html HTTP/1.0\r\n\r\n").ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    Some(body)
}

/// The task directories (named after task IDs) under the agent's data dir, with the pid of
/// each one's main process.
fn task_dirs(data_dir: &Path) -> Vec<(String, Option<Proc>)> {
    let Ok(entries) = std::fs::read_dir(data_dir.join("tasks")) else {
        return Vec::new();
    };
    let mut out: Vec<_> = entries
        .flatten()
        .map(|e| {
            let pid = std::fs::read_to_string(e.path().join("task.pid"))
                .ok()
                .and_then(|t| t.split_whitespace().next()?.parse().ok())
                .and_then(Proc::of);
            (e.file_name().to_string_lossy().into_owned(), pid)
        })
        .collect();
    out.sort();
    out
}

/// Running task IDs of a service, full length.
fn running_tasks(m: &Agent, service: &str) -> Vec<String> {
    m.docker_ok(&[
        "service",
        "ps",
        service,
        "--no-trunc",
        "--filter",
        "desired-state=running",
        "--format",
        "{{.ID}}|{{.CurrentState}}",
    ])
    .lines()
    .filter_map(|l| {
        let (id, state) = l.split_once('|')?;
        state.starts_with("Running").then(|| id.to_string())
    })
    .collect()
}

/// Fields drop in order: the agent (which kills its tasks from the files in its data dir)
/// before the marked processes are swept, and the directory last.
struct Site {
    agent: Agent,
    _cleanup: KillMarked,
    www: PathBuf,
    port: u16,
    _root: tempfile::TempDir,
}

/// A one-node swarm running service `web`: a daemonizing httpd on a fresh port, then a sleep
/// as the task's main process. `&&`: the task runs only if its httpd bound the port.
fn site() -> Site {
    assert!(
        Path::new(BUSYBOX).exists(),
        "{BUSYBOX} missing (busybox-static; scripts/test.sh installs it)"
    );
    let root = tempfile::tempdir().unwrap();
    let www = root.path().join("www");
    std::fs::create_dir(&www).unwrap();
    let port = free_port();
    let marker = format!("served-from-{}", www.display());
    std::fs::write(www.join("index.html"), &marker).unwrap();
    let cleanup = KillMarked(www.display().to_string());
    let agent = Agent::start(root.path(), "tp");
    agent.swarm_init();
    let script = format!(
        "{BUSYBOX} httpd -p 127.0.0.1:{port} -h {} && exec {BUSYBOX} sleep 100000",
        www.display()
    );
    agent.docker_ok(&[
        "service", "create", "--detach", "--name", "web", "busybox", "/bin/sh", "-c", &script,
    ]);
    let site = Site {
        agent,
        _cleanup: cleanup,
        www,
        port,
        _root: root,
    };
    eventually(
        &format!("web running and serving on port {port}"),
        Duration::from_secs(60),
        || {
            (running_tasks(&site.agent, "web").len() == 1
                && http_get(port).is_some_and(|b| b.contains(&marker)))
            .then_some(())
        },
    );
    site
}

impl Site {
    fn marker(&self) -> String {
        self.www.display().to_string()
    }

    /// The old task's processes: its main process and its httpd daemon (which left the group).
    fn old_processes(&self) -> Vec<Proc> {
        let tasks = task_dirs(self.agent.data_dir());
        assert_eq!(tasks.len(), 1, "one task directory expected: {tasks:?}");
        let main = tasks[0]
            .1
            .unwrap_or_else(|| panic!("task {} has no live main process", tasks[0].0));
        let mut procs = marked(&self.marker());
        assert!(
            !procs.is_empty(),
            "no httpd of the task found (marker {})",
            self.marker()
        );
        procs.push(main);
        procs
    }

    fn survivors(old: &[Proc]) -> Vec<Proc> {
        old.iter().copied().filter(Proc::alive).collect()
    }
}

#[test]
fn a_daemonized_process_ends_with_its_task_on_update_and_the_new_task_binds_the_port() {
    let site = site();
    let m = &site.agent;
    let old = site.old_processes();
    let old_task = running_tasks(m, "web");
    println!("port {} old task {old_task:?} old processes {old:?}", site.port);

    let started = Instant::now();
    m.docker_ok(&["service", "update", "--detach", "--force", "web"]);
    let new = wait_until(
        "the old task's processes to end and a new task to serve",
        Duration::from_secs(60),
        || {
            let survivors = Site::survivors(&old);
            let running = running_tasks(m, "web");
            // The new task's httpd: marked, not one of the old processes. httpd exits when its
            // bind fails, so a live one means it holds the port.
            let fresh: Vec<Proc> = marked(&site.marker())
                .into_iter()
                .filter(|p| !old.contains(p))
                .collect();
            let body = http_get(site.port);
            let seen =
                format!("survivors {survivors:?} running {running:?} new httpd {fresh:?} http {body:?}");
            let done = survivors.is_empty()
                && running.len() == 1
                && running != old_task
                && !fresh.is_empty()
                && body.is_some_and(|b| b.contains("served-from-"));
            (done.then_some(fresh), seen)
        },
    );
    // The replacement started once and bound the port at the first attempt: no task of the
    // service failed ("Address already in use" while the old daemon held the port).
    let history = m.docker_ok(&[
        "service",
        "ps",
        "web",
        "--no-trunc",
        "--format",
        "{{.ID}}|{{.DesiredState}}|{{.CurrentState}}|{{.Error}}",
    ]);
    let rows: Vec<&str> = history.lines().collect();
    assert_eq!(rows.len(), 2, "want the old task and one replacement: {history}");
    assert!(
        rows.iter()
            .all(|r| r.ends_with('|') && !r.contains("Failed") && !r.contains("Rejected")),
        "a task failed: {history}"
    );
    println!(
        "update --force: old task's processes gone and the new task serving after {:?} (new httpd {new:?})",
        started.elapsed()
    );
}

#[test]
fn a_daemonized_process_ends_with_its_task_on_service_rm() {
    let site = site();
    let m = &site.agent;
    let old = site.old_processes();
    println!("port {} old processes {old:?}", site.port);

    let started = Instant::now();
    m.docker_ok(&["service", "rm", "web"]);
    wait_until(
        "every process of the task to end",
        Duration::from_secs(60),
        || {
            let survivors = Site::survivors(&old);
            let marked_now = marked(&site.marker());
            let dirs = task_dirs(m.data_dir());
            let seen = format!("survivors {survivors:?} marked {marked_now:?} task dirs {dirs:?}");
            let done = survivors.is_empty() && marked_now.is_empty() && dirs.is_empty();
            (done.then_some(()), seen)
        },
    );
    assert!(http_get(site.port).is_none(), "port {} still answers", site.port);
    println!(
        "service rm: every process of the task gone after {:?}",
        started.elapsed()
    );
}

/// Polls `check` (a value once done, and a description of what it saw) until it is done,
/// or panics after `limit` with what it saw last.
fn wait_until<T>(what: &str, limit: Duration, mut check: impl FnMut() -> (Option<T>, String)) -> T {
    let deadline = Instant::now() + limit;
    loop {
        let (done, seen) = check();
        if let Some(v) = done {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}; last seen: {seen}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
