//! A cluster of N simulated hosts for multi-host acceptance tests: each host is a network
//! namespace of netplane's `Testbed`, running one `shoal agent --executor oci` formed into a
//! swarm with the stock docker CLI.
//!
//! ```text
//!   Testbed <prefix>: h0 (x.x.x.1) ─┐
//!                     h1 (x.x.x.2) ─┼─ bridge in <prefix>-sw (no traffic leaves the namespaces)
//!                     h2 (x.x.x.3) ─┘
//!   each hN: nsenter --net=<prefix>-hN shoal agent --executor oci --data-dir <tmp>/hN --api-socket <tmp>/hN.sock
//!   h0: docker swarm init; the others: docker swarm join (worker, or manager when asked)
//!   every host: docker import <busybox-static rootfs> bb:1 (no registry needed)
//! ```
//!
//! The agents share the test's mount namespace, as a real host's daemon does, so what they pin
//! (namespaces, overlay mounts) stays visible to the test after a `kill -9`. Dropping the
//! cluster kills every agent by PID, then every process left in the hosts' namespaces or in the
//! agents' task cgroups, unmounts what is mounted under its directory and removes the
//! namespaces (the hosts', those its agents pinned, and those of the prefixes handed to
//! [`Cluster::adopt`]).
//!
//! Include it with `#[path = "common/hosts.rs"] mod hosts;` beside `mod common;`.

use std::net::Ipv4Addr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use netplane::testbed::Testbed;

use crate::common::{eventually, stderr, stdout};

/// The image every host has, imported from the host's busybox-static.
pub const IMAGE: &str = "bb:1";

/// How long forming the cluster, or one awaited condition, may take.
pub const LIMIT: Duration = Duration::from_secs(120);

/// Each cluster of one test binary gets its own host subnet, so nothing looks alike in logs
/// even though the hosts of different clusters never share a namespace.
static NEXT_SUBNET: AtomicU8 = AtomicU8::new(0);

/// Why a multi-host test cannot run here, if it cannot.
pub fn skip_reason() -> Option<&'static str> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("network namespaces and containers need root");
    }
    if !Path::new("/bin/busybox").exists() && !Path::new("/usr/bin/busybox").exists() {
        return Some("needs Debian's busybox-static (scripts/test.sh installs it)");
    }
    for tool in ["nsenter", "nft", "docker"] {
        if which(tool).is_none() {
            return Some("needs nsenter (util-linux), nft (nftables) and the docker CLI");
        }
    }
    None
}

fn which(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(tool))
        .find(|f| f.is_file())
}

/// One host's `shoal agent`.
pub struct HostAgent {
    /// Host name the agent reports (`<prefix>-hN`), also its node's name.
    pub name: String,
    /// Its Docker API socket.
    pub sock: PathBuf,
    /// Its data directory.
    pub data_dir: PathBuf,
    /// Its address on the test bed's switch.
    pub address: Ipv4Addr,
    /// Its node ID, once it joined the swarm.
    pub node_id: String,
    netns: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl HostAgent {
    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let mut child = Command::new("nsenter")
            .arg(format!("--net={}", self.netns.display()))
            .arg("--")
            .arg(env!("CARGO_BIN_EXE_shoal"))
            .args(["agent", "--executor", "oci", "--hostname", &self.name])
            .arg("--data-dir")
            .arg(&self.data_dir)
            .arg("--api-socket")
            .arg(&self.sock)
            // Payload receipts at debug: the record of which secrets reached which node.
            .env("SHOAL_LOG", "info,openraft=warn,agent::payloads=debug")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn nsenter … shoal agent");
        let sock = self.sock.clone();
        let ready = eventually(&format!("{} API socket", self.name), LIMIT, || {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(Err(status));
            }
            std::os::unix::net::UnixStream::connect(&sock)
                .ok()
                .map(|_| Ok(()))
        });
        if let Err(status) = ready {
            panic!(
                "shoal agent {} exited ({status}) before serving\n--- log ---\n{}",
                self.name,
                self.log_tail()
            );
        }
        self.child = Some(child);
    }

    /// The agent's PID (nsenter execs it, so the child is the agent itself), while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// `kill -9` and reap; its tasks keep running, as after a real crash.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Its whole log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last 60 lines of its log.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<_> = text.lines().collect();
        lines[lines.len().saturating_sub(60)..].join("\n")
    }

    /// The host's network namespace.
    pub fn netns(&self) -> &Path {
        &self.netns
    }

    /// The data plane's owner tag of this node (`common::plane_tag`).
    pub fn tag(&self) -> String {
        crate::common::plane_tag(&self.node_id)
    }

    /// The namespaces its data plane pinned (overlays and task sandboxes), as paths.
    pub fn pinned_netns(&self) -> Vec<PathBuf> {
        crate::common::plane_pins(&self.tag())
    }
}

/// N hosts, one agent each, formed into one swarm; torn down on drop.
pub struct Cluster {
    /// The agents, host 0 (which ran `swarm init`) first.
    pub hosts: Vec<HostAgent>,
    /// The test bed's prefix: every namespace of this cluster starts with it.
    pub prefix: String,
    rt: tokio::runtime::Runtime,
    bed: Option<Testbed>,
    root: tempfile::TempDir,
    image_tar: PathBuf,
}

/// Three hosts of which two stay: host 0 the manager and host 1 a worker, running two
/// replicas of `web`; host 2 has left and been removed, free to try a join token later.
/// Returns the cluster and the worker join token from before host 2 left.
pub fn two_hosts_and_a_spare(name: &str) -> (Cluster, String) {
    let c = Cluster::new(name, 3);
    let old_worker = c
        .docker_ok(0, &["swarm", "join-token", "-q", "worker"])
        .trim()
        .to_string();
    c.docker_ok(2, &["swarm", "leave"]);
    let gone = c.hosts[2].node_id.clone();
    c.wait("host 2 down", || {
        let state = c.docker_ok(0, &["node", "inspect", "--format", "{{.Status.State}}", &gone]);
        (state.trim() == "down").then_some(())
    });
    c.docker_ok(0, &["node", "rm", &gone]);
    c.docker_ok(
        0,
        &[
            "service",
            "create",
            "--detach",
            "--name",
            "web",
            "--replicas",
            "2",
            IMAGE,
            "sleep",
            "3600",
        ],
    );
    c.wait_running("web", 2);
    (c, old_worker)
}

impl Cluster {
    /// `n` hosts named `<name><pid>-hN`, host 0 the one manager, the others workers.
    /// `name` must be unique among the tests of one binary (they run in parallel).
    pub fn new(name: &str, n: usize) -> Cluster {
        Cluster::with_managers(name, n, 1)
    }

    /// As [`Cluster::new`], with hosts `0..managers` managers.
    pub fn with_managers(name: &str, n: usize, managers: usize) -> Cluster {
        assert!(
            n >= 1 && (1..=n).contains(&managers),
            "{managers} managers of {n} hosts"
        );
        // The PID keeps two runs of one test (two worktrees, the lead and a helper) apart.
        let prefix = format!("{name}{}", std::process::id() % 100_000);
        let k = NEXT_SUBNET.fetch_add(1, Ordering::Relaxed);
        let subnet = format!("10.{}.{k}.0/24", 200 + (std::process::id() % 50))
            .parse()
            .unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let bed = rt
            .block_on(Testbed::new(&prefix, n, subnet))
            .unwrap_or_else(|e| panic!("test bed {prefix}: {e}"));
        let root = tempfile::Builder::new()
            .prefix("shoal-hosts-")
            .tempdir_in("/tmp")
            .unwrap();
        let hosts = bed
            .hosts()
            .iter()
            .enumerate()
            .map(|(i, host)| HostAgent {
                name: format!("{prefix}-h{i}"),
                sock: root.path().join(format!("h{i}.sock")),
                data_dir: root.path().join(format!("h{i}")),
                address: host.address,
                node_id: String::new(),
                netns: host.netns.clone(),
                log: root.path().join(format!("h{i}.log")),
                child: None,
            })
            .collect();
        let image_tar = root.path().join("bb.tar");
        let mut cluster = Cluster {
            hosts,
            prefix,
            rt,
            bed: Some(bed),
            root,
            image_tar,
        };
        cluster.form(managers);
        cluster
    }

    fn form(&mut self, managers: usize) {
        write_busybox_tar(&self.root.path().join("bb-rootfs"), &self.image_tar);
        for host in &mut self.hosts {
            host.spawn();
        }
        let first = self.hosts[0].address;
        let listen = |a: Ipv4Addr| format!("{a}:2377");
        self.docker_ok(
            0,
            &[
                "swarm",
                "init",
                "--advertise-addr",
                &first.to_string(),
                "--listen-addr",
                &listen(first),
            ],
        );
        let manager_token = self.docker_ok(0, &["swarm", "join-token", "-q", "manager"]);
        let worker_token = self.docker_ok(0, &["swarm", "join-token", "-q", "worker"]);
        for i in 1..self.hosts.len() {
            let token = if i < managers {
                &manager_token
            } else {
                &worker_token
            };
            let address = self.hosts[i].address;
            self.docker_ok(
                i,
                &[
                    "swarm",
                    "join",
                    "--token",
                    token.trim(),
                    "--advertise-addr",
                    &address.to_string(),
                    "--listen-addr",
                    &listen(address),
                    &listen(first),
                ],
            );
        }
        for i in 0..self.hosts.len() {
            let id = self.docker_ok(i, &["info", "--format", "{{.Swarm.NodeID}}"]);
            self.hosts[i].node_id = id.trim().to_owned();
        }
        let tar = self.image_tar.to_string_lossy().into_owned();
        for i in 0..self.hosts.len() {
            self.docker_ok(i, &["import", &tar, IMAGE]);
        }
        let n = self.hosts.len();
        self.wait(&format!("{n} nodes ready"), || {
            let out = self.docker(0, &["node", "ls", "--format", "{{.Status}}"]);
            let ready = stdout(&out).lines().filter(|l| l.trim() == "Ready").count();
            (out.status.success() && ready == n).then_some(())
        });
    }

    /// Runs the docker CLI against host `i`'s agent.
    pub fn docker(&self, i: usize, args: &[&str]) -> Output {
        Command::new("docker")
            .arg("-H")
            .arg(format!("unix://{}", self.hosts[i].sock.display()))
            .args(args)
            .env_remove("DOCKER_CONTEXT")
            .output()
            .expect("run docker")
    }

    /// Runs the docker CLI against host `i`; its stdout, or a panic with the agent's log.
    pub fn docker_ok(&self, i: usize, args: &[&str]) -> String {
        let out = self.docker(i, args);
        assert!(
            out.status.success(),
            "docker {args:?} on host {i} failed: {}\n--- host {i} log ---\n{}",
            stderr(&out),
            self.hosts[i].log_tail()
        );
        stdout(&out)
    }

    /// `docker exec <container> args…` through host `i`'s socket.
    pub fn exec(&self, i: usize, container: &str, args: &[&str]) -> Output {
        let mut all = vec!["exec", container];
        all.extend_from_slice(args);
        self.docker(i, &all)
    }

    /// [`Cluster::exec`], its stdout, or a panic with the output and the agent's log.
    pub fn exec_ok(&self, i: usize, container: &str, args: &[&str]) -> String {
        let out = self.exec(i, container, args);
        assert!(
            out.status.success(),
            "docker exec {container} {args:?} on host {i} failed ({}): {}{}\n--- host {i} log ---\n{}",
            out.status,
            stdout(&out),
            stderr(&out),
            self.hosts[i].log_tail()
        );
        stdout(&out)
    }

    /// Polls `check` until it yields, panicking with `what` and every host's log after [`LIMIT`].
    pub fn wait<T>(&self, what: &str, check: impl FnMut() -> Option<T>) -> T {
        self.wait_for(what, LIMIT, check)
    }

    /// [`Cluster::wait`] with its own deadline.
    pub fn wait_for<T>(&self, what: &str, limit: Duration, mut check: impl FnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(v) = check() {
                return v;
            }
            if Instant::now() >= deadline {
                let logs: String = self
                    .hosts
                    .iter()
                    .map(|h| format!("\n--- {} log ---\n{}", h.name, h.log_tail()))
                    .collect();
                panic!("timed out after {limit:?} waiting for: {what}{logs}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The running tasks of `service` as the manager lists them.
    pub fn running_tasks(&self, service: &str) -> Vec<Task> {
        let out = self.docker_ok(
            0,
            &[
                "service",
                "ps",
                "--no-trunc",
                "--filter",
                "desired-state=running",
                "--format",
                "{{.ID}} {{.Name}} {{.Node}} {{.CurrentState}}",
                service,
            ],
        );
        out.lines()
            .filter_map(|l| {
                let mut words = l.split_whitespace();
                let (id, name, node, state) = (words.next()?, words.next()?, words.next()?, words.next()?);
                let host = self.hosts.iter().position(|h| h.name == node)?;
                (state == "Running").then(|| Task::new(id, name, host))
            })
            .collect()
    }

    /// Waits until `service` has exactly `n` running tasks; returns them.
    pub fn wait_running(&self, service: &str, n: usize) -> Vec<Task> {
        self.wait(&format!("{service}: {n} tasks running"), || {
            let tasks = self.running_tasks(service);
            (tasks.len() == n).then_some(tasks)
        })
    }

    /// The PID of task `task`'s main process as the root PID namespace sees it.
    pub fn task_pid(&self, task: &Task) -> u32 {
        let pid = self.docker_ok(
            task.host,
            &["inspect", "--format", "{{.State.Pid}}", &task.container],
        );
        pid.trim()
            .parse()
            .unwrap_or_else(|_| panic!("pid of task {}: {pid:?}", task.id))
    }

    /// `kill -9` host `i`'s agent (its tasks keep running).
    pub fn kill9(&mut self, i: usize) {
        self.hosts[i].kill9();
    }

    /// Starts host `i`'s agent again over the same data directory.
    pub fn restart(&mut self, i: usize) {
        self.hosts[i].kill9();
        self.hosts[i].spawn();
    }

    /// Host `i` lost: its agent and every process in its namespace killed (tasks in namespaces
    /// of their own stay until the drop, as a powered-off host's would stop answering).
    pub fn kill_host(&mut self, i: usize) {
        self.hosts[i].kill9();
        kill_in_netns(&[self.hosts[i].netns.clone()]);
    }

    /// Link names in the namespace at `netns`.
    pub fn link_names(&self, netns: &Path) -> Vec<String> {
        self.rt
            .block_on(netplane::testbed::link_names(netns))
            .unwrap_or_else(|e| panic!("links of {}: {e}", netns.display()))
    }

    /// Names of the `ip` nft tables in the namespace at `netns`.
    pub fn nft_tables(&self, netns: &Path) -> Vec<String> {
        self.rt
            .block_on(netplane::testbed::nft_tables(netns))
            .unwrap_or_else(|e| panic!("nft tables of {}: {e}", netns.display()))
    }

    /// Every host drops what it routes unless a rule accepts it, as a host running dockerd does
    /// (it sets iptables' `FORWARD` policy to `DROP` when it switches forwarding on).
    pub fn drop_forwarded_traffic(&self) {
        for host in &self.hosts {
            Cluster::in_netns_ok(host.netns(), "iptables", &["-w", "5", "-P", "FORWARD", "DROP"]);
        }
    }

    /// A command run inside the network namespace at `netns` (and nothing else of it).
    pub fn in_netns(netns: &Path, program: &str) -> Command {
        netplane::testbed::in_netns(netns, program)
    }

    /// Runs `program` with `args` inside the network namespace at `netns`; it must succeed.
    pub fn in_netns_ok(netns: &Path, program: &str, args: &[&str]) {
        netplane::testbed::in_netns_ok(netns, program, args);
    }

    /// Has the drop also remove `/run/netns` namespaces whose names start with `prefix`.
    pub fn adopt(&self, prefix: &str) {
        if let Some(bed) = &self.bed {
            bed.adopt(prefix);
        }
    }

    /// The test's directory (data dirs, sockets, logs).
    pub fn dir(&self) -> &Path {
        self.root.path()
    }
}

/// A task of a service, where it runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Task {
    /// The full task ID.
    pub id: String,
    /// Its container's name on its host, for `docker exec`/`inspect` (a task ID names the
    /// task, not its container, as in dockerd).
    pub container: String,
    /// The host it runs on.
    pub host: usize,
}

impl Task {
    /// Task `id` as `docker service ps --no-trunc` names it (`web.1`, or `web.<node id>` for a
    /// global service's), on host `host`.
    pub fn new(id: &str, name: &str, host: usize) -> Task {
        Task {
            id: id.to_owned(),
            container: format!("{name}.{id}"),
            host,
        }
    }
}

/// The busybox-static rootfs (every applet linked) as a tar `docker import` takes.
fn write_busybox_tar(rootfs: &Path, tar: &Path) {
    agent::executor::oci::image::busybox_rootfs(rootfs)
        .unwrap()
        .expect("a static busybox (Debian's busybox-static)");
    let out = Command::new("tar")
        .arg("-C")
        .arg(rootfs)
        .arg("-cf")
        .arg(tar)
        .arg(".")
        .output()
        .unwrap();
    assert!(out.status.success(), "tar: {}", stderr(&out));
}

/// The inode of a namespace file (a pin or `/proc/PID/ns/net`).
fn netns_inode(path: &Path) -> Option<u64> {
    std::fs::metadata(path).ok().map(|m| m.ino())
}

/// PIDs of the processes whose network namespace is one of `inodes`.
fn pids_in(inodes: &[u64]) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            netns_inode(Path::new(&format!("/proc/{pid}/ns/net"))).is_some_and(|i| inodes.contains(&i))
        })
        .collect()
}

/// Kills every process inside the namespaces at `paths`, until none is left (10 s at most).
fn kill_in_netns(paths: &[PathBuf]) {
    let inodes: Vec<u64> = paths.iter().filter_map(|p| netns_inode(p)).collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let pids = pids_in(&inodes);
        if pids.is_empty() || Instant::now() > deadline {
            return;
        }
        for pid in pids {
            // SAFETY: kill(2) on a process inside one of this test's own namespaces.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The cgroup directories of the tasks an oci executor keeps under `data_dir/containers`.
fn task_cgroups(data_dir: &Path) -> Vec<PathBuf> {
    let ids: Vec<String> = std::fs::read_dir(data_dir.join("containers"))
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    let root = Path::new("/sys/fs/cgroup");
    let mut bases = vec![root.join("shoal")];
    if let Ok(entries) = std::fs::read_dir(root) {
        bases.extend(entries.flatten().map(|e| e.path().join("shoal")));
    }
    bases
        .iter()
        .flat_map(|b| ids.iter().map(move |id| b.join(id)))
        .filter(|d| d.is_dir())
        .collect()
}

/// Unmounts (lazily, deepest first) every mount point under `dir`.
fn unmount_under(dir: &Path) {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut points: Vec<String> = mounts
        .lines()
        .filter_map(|l| l.split_whitespace().nth(4))
        .filter(|m| Path::new(m).starts_with(dir))
        .map(str::to_owned)
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for point in points {
        let Ok(c) = std::ffi::CString::new(point) else {
            continue;
        };
        // SAFETY: a lazy unmount of a mount point under this test's own directory.
        unsafe {
            libc::umount2(c.as_ptr(), libc::MNT_DETACH);
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for host in &mut self.hosts {
            host.kill9();
        }
        // Task supervisors sit in the hosts' namespaces, containers in their own cgroups.
        let netns: Vec<PathBuf> = self.hosts.iter().map(|h| h.netns.clone()).collect();
        kill_in_netns(&netns);
        let groups: Vec<PathBuf> = self
            .hosts
            .iter()
            .flat_map(|h| task_cgroups(&h.data_dir))
            .collect();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mut alive = false;
            for dir in &groups {
                let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
                for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                    alive = true;
                    // SAFETY: kill(2) on a member of one of this test's task cgroups.
                    unsafe {
                        libc::kill(pid, libc::SIGKILL);
                    }
                }
            }
            if !alive || Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        unmount_under(self.root.path());
        // A host that left and joined again is another node, with pins under its new ID.
        let rejoined = self.hosts.iter().filter_map(|h| {
            crate::common::node_id_in(&h.data_dir)
                .filter(|id| *id != h.node_id)
                .map(|id| crate::common::plane_pins(&crate::common::plane_tag(&id)))
        });
        let pins: Vec<PathBuf> = self
            .hosts
            .iter()
            .flat_map(HostAgent::pinned_netns)
            .chain(rejoined.flatten())
            .collect();
        for pin in pins {
            let _ = netplane::delete_netns(&pin);
        }
        for dir in &groups {
            let _ = std::fs::remove_dir(dir);
        }
        drop(self.bed.take());
    }
}
