//! `shoal agent --dev` without `--data-dir` (the README's command): its data dir is temporary,
//! so when it stops nothing can adopt what it ran. Ctrl-C must leave the host as it found it:
//! no container running, no task namespace, no mesh rule holding a published port, no task
//! cgroup, no data dir. Root only, with a loopback `docker-registry` holding busybox-static.
#![allow(clippy::disallowed_methods, clippy::unwrap_used, dead_code, unsafe_code)]

mod common;

#[path = "../../image/tests/common/build.rs"]
mod build;
#[path = "common/busybox.rs"]
mod busybox;
#[path = "../../image/tests/common/registry.rs"]
mod registry;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use busybox::{Cleanup, skip_reason};
use common::{eventually, free_port, stderr, stdout};

const LIMIT: Duration = Duration::from_secs(60);

/// One dev cluster at a time: each makes the ingress sandbox in the host namespace, and every
/// node's host link has the same addresses.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The docker CLI against the socket at `sock`.
fn docker(sock: &Path, args: &[&str]) -> Output {
    Command::new("docker")
        .arg("-H")
        .arg(format!("unix://{}", sock.display()))
        .args(args)
        .output()
        .unwrap()
}

fn docker_ok(sock: &Path, args: &[&str]) -> String {
    let out = docker(sock, args);
    assert!(
        out.status.success(),
        "docker {args:?}: {}{}",
        stdout(&out),
        stderr(&out)
    );
    stdout(&out)
}

/// The processes whose command line mentions `needle`: those still running from the dev
/// cluster's data dir (each task-shim names its task directory).
fn processes_mentioning(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if text.contains(needle) {
                found.push(format!("{}: {text}", entry.file_name().to_string_lossy()));
            }
        }
    }
    found
}

/// Every task cgroup on the host (`shoal/<task>` under each hierarchy).
fn task_cgroup_dirs() -> std::collections::BTreeSet<PathBuf> {
    let mut dirs = std::collections::BTreeSet::new();
    let root = Path::new("/sys/fs/cgroup");
    let mut parents = vec![root.join("shoal")];
    if let Ok(entries) = std::fs::read_dir(root) {
        parents.extend(entries.flatten().map(|e| e.path().join("shoal")));
    }
    for parent in parents {
        if let Ok(entries) = std::fs::read_dir(parent) {
            dirs.extend(entries.flatten().map(|e| e.path()).filter(|p| p.is_dir()));
        }
    }
    dirs
}

/// The dev agent, stopped if a failed assertion leaves it running (SIGINT, then SIGKILL after
/// 30 s), and then the namespaces and nft tables of its tag (once known) swept, so that a
/// failed run leaves the host clean; the containers it leaves are `Cleanup`'s.
struct DevAgent(std::process::Child, Option<String>);

impl DevAgent {
    /// Starts `shoal agent --dev` with its socket, log and temporary data dir under `root`;
    /// returns once it printed that it is ready, with that data dir.
    fn start(root: &Path) -> (DevAgent, PathBuf) {
        let log = root.join("dev.log");
        // The temporary data dir is made under TMPDIR: here, the test's own directory.
        let agent = Command::new(env!("CARGO_BIN_EXE_shoal"))
            .args(["agent", "--dev", "--hostname", "devexit", "--api-socket"])
            .arg(root.join("dev.sock"))
            .env("TMPDIR", root)
            .env("SHOAL_LOG", "info,openraft=warn")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).unwrap())
            .stderr(std::fs::File::create(root.join("dev.err")).unwrap())
            .spawn()
            .unwrap();
        let agent = DevAgent(agent, None);
        let data_dir: PathBuf = eventually("the dev cluster ready", LIMIT, || {
            let printed = std::fs::read_to_string(&log).unwrap_or_default();
            let line = printed
                .lines()
                .find(|l| l.starts_with("shoal dev cluster ready"))?;
            let dir = line.split("(data dir ").nth(1)?.trim_end_matches(')');
            Some(PathBuf::from(dir))
        });
        assert!(data_dir.starts_with(root), "{}", data_dir.display());
        (agent, data_dir)
    }

    fn signal(&self, signal: libc::c_int) {
        // SAFETY: kill(2) on the agent this test started.
        unsafe {
            libc::kill(self.0.id() as i32, signal);
        }
    }

    fn interrupt(&self) {
        self.signal(libc::SIGINT);
    }
}

impl Drop for DevAgent {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            self.interrupt();
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            while self.0.try_wait().ok().flatten().is_none() {
                if std::time::Instant::now() > deadline {
                    let _ = self.0.kill();
                    let _ = self.0.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let Some(tag) = &self.1 else {
            return;
        };
        for pin in netns_pins(tag) {
            let path = Path::new("/run/shoal/netns").join(pin);
            let _ = Command::new("umount").arg("-l").arg(&path).output();
            let _ = std::fs::remove_file(path);
        }
        for table in nft_tables(tag) {
            let _ = Command::new("nft")
                .args(["delete", "table"])
                .args(table.split_whitespace())
                .output();
        }
    }
}

/// The namespace pins of plane `tag` in `/run/shoal/netns`.
fn netns_pins(tag: &str) -> Vec<String> {
    std::fs::read_dir("/run/shoal/netns")
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.contains(tag))
                .collect()
        })
        .unwrap_or_default()
}

/// The nft tables of plane `tag`, as `family name`.
fn nft_tables(tag: &str) -> Vec<String> {
    let out = Command::new("nft").args(["list", "tables"]).output().unwrap();
    stdout(&out)
        .lines()
        .filter_map(|l| l.strip_prefix("table "))
        .filter(|t| t.contains(tag))
        .map(str::to_owned)
        .collect()
}

#[test]
fn ctrl_c_on_a_dev_cluster_leaves_nothing_running() {
    if let Some(why) = skip_reason() {
        eprintln!("skipping: {why}");
        return;
    }
    let (_rt, registry) = busybox::serve_busybox();
    // No other test of this binary makes task cgroups meanwhile.
    let cgroups_before = task_cgroup_dirs();
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let root = tempfile::tempdir().unwrap();
    let sock = root.path().join("dev.sock");
    let (mut agent, data_dir) = DevAgent::start(root.path());
    let mut cleanup = Cleanup {
        data_dir: data_dir.clone(),
        task_ids: Vec::new(),
    };

    let image = format!("{}/busybox:latest", registry.addr);
    let port = free_port().to_string();
    docker_ok(
        &sock,
        &[
            "service",
            "create",
            "-d",
            "--no-healthcheck",
            "--name",
            "web",
            "-p",
            &format!("{port}:8080"),
            &image,
            "busybox",
            "httpd",
            "-f",
            "-p",
            "8080",
        ],
    );
    docker_ok(
        &sock,
        &[
            "run",
            "-d",
            "--no-healthcheck",
            "--name",
            "alone",
            &image,
            "busybox",
            "sleep",
            "100000",
        ],
    );
    let url = format!("http://127.0.0.1:{port}/");
    eventually("the published port answers", LIMIT, || {
        let out = Command::new("busybox")
            .args(["wget", "-q", "-O", "-", &url])
            .output()
            .ok()?;
        // httpd answers 404 for a missing index: any HTTP answer means the mesh reached it.
        (out.status.success() || stderr(&out).contains("404")).then_some(())
    });
    let node_id = docker_ok(&sock, &["info", "--format", "{{.Swarm.NodeID}}"]);
    let tag = node_id.trim()[node_id.trim().len() - 12..].to_owned();
    agent.1 = Some(tag.clone());
    let task = docker_ok(&sock, &["service", "ps", "-q", "--no-trunc", "web"]);
    cleanup.task_ids = vec![task.trim().to_owned()];
    assert!(!processes_mentioning(&data_dir.display().to_string()).is_empty());

    // Ctrl-C.
    agent.interrupt();
    let status = eventually("the agent exits", LIMIT, || agent.0.try_wait().unwrap());
    assert!(status.success(), "{status}");

    assert!(!data_dir.exists(), "the temporary data dir is removed");
    let left = processes_mentioning(&data_dir.display().to_string());
    assert!(left.is_empty(), "still running from the dev cluster: {left:?}");
    let pins = netns_pins(&tag);
    assert!(pins.is_empty(), "namespaces left: {pins:?}");
    let tables = nft_tables(&tag);
    assert!(tables.is_empty(), "nft tables left: {tables:?}");
    let new_cgroups: Vec<_> = task_cgroup_dirs().difference(&cgroups_before).cloned().collect();
    assert!(new_cgroups.is_empty(), "task cgroups left: {new_cgroups:?}");
    // Nothing answers on the published port any more.
    let out = Command::new("busybox")
        .args(["wget", "-q", "-T", "2", "-O", "-", &url])
        .output()
        .unwrap();
    assert!(
        !out.status.success() && !stderr(&out).contains("404"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_closed_terminal_ends_a_dev_cluster_as_ctrl_c_does() {
    if let Some(why) = skip_reason() {
        eprintln!("skipping: {why}");
        return;
    }
    // Closing the terminal sends SIGHUP, whose default action would kill the agent before
    // it removed anything.
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let root = tempfile::tempdir().unwrap();
    let (mut agent, data_dir) = DevAgent::start(root.path());
    agent.signal(libc::SIGHUP);
    let status = eventually("the agent exits", LIMIT, || agent.0.try_wait().unwrap());
    assert!(status.success(), "{status}");
    assert!(!data_dir.exists(), "the temporary data dir is removed");
}
