//! Multi-process test harness: real `shoal agent` processes on loopback, driven by the stock
//! docker CLI or our own. Waits are on observable conditions with a deadline, never sleeps.
#![allow(dead_code)]
// Multi-process tests wait on real processes, so deadlines use the real clock.
#![allow(clippy::disallowed_methods)]
#![allow(unsafe_code)]
#![allow(clippy::unwrap_used)]

pub mod http;
pub mod tty_replay;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A running (or stopped) `shoal agent`.
pub struct Agent {
    /// Host name it reports.
    pub name: String,
    /// Its API socket.
    pub sock: PathBuf,
    /// Cluster port address (`127.0.0.1:port`) it uses when it inits or joins.
    pub addr: String,
    data_dir: PathBuf,
    log: PathBuf,
    child: Option<Child>,
    /// Extra `shoal agent` flags.
    extra: Vec<String>,
    /// Leave the executor to the daemon's default (tests about images).
    default_executor: bool,
    /// The data-plane tags of every node this agent has been (`swarm/state.json` is gone
    /// after a leave, and a new init or join brings a new node ID): the drop removes what
    /// each of them may have left.
    tags: std::sync::Mutex<std::collections::BTreeSet<String>>,
}

/// A port free now for an agent or task to bind later, on any address. Taken from the 12,000
/// ports below the kernel's ephemeral range: a port the kernel handed out for a port-0 bind
/// could be handed out again to another test (or an outgoing connection) before its user binds
/// it, one below that range only to an explicit bind. A counter shared by the binary's tests
/// gives each call another port, offset by the process ID for binaries run side by side.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    const SPAN: u32 = 12_000;
    let ephemeral_low: u32 = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse().ok())
        .unwrap_or(32_768);
    let base = ephemeral_low.saturating_sub(SPAN).max(1024);
    let offset = std::process::id() % 64 * (SPAN / 64);
    for _ in 0..SPAN {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = u16::try_from(base + (offset + n) % SPAN).expect("a port below the ephemeral range");
        if std::net::TcpListener::bind(("0.0.0.0", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in {base}..{}", base + SPAN);
}

/// Polls `check` until it returns `Some`, or panics with `what` after `limit`.
pub fn eventually<T>(what: &str, limit: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for: {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// stdout of a command as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// stderr of a command as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

impl Agent {
    /// Starts `shoal agent` with its data under `root/name` and waits until its API answers.
    pub fn start(root: &Path, name: &str) -> Agent {
        Agent::start_with(root, name, &[])
    }

    /// [`Agent::start`] without `--executor`: the daemon picks (oci as root).
    pub fn start_default_executor(root: &Path, name: &str) -> Agent {
        Agent::launch(root, name, &[], true)
    }

    /// [`Agent::start`] with extra `shoal agent` flags.
    pub fn start_with(root: &Path, name: &str, extra: &[String]) -> Agent {
        Agent::launch(root, name, extra, false)
    }

    fn launch(root: &Path, name: &str, extra: &[String], default_executor: bool) -> Agent {
        let data_dir = root.join(name);
        let mut agent = Agent {
            name: name.to_string(),
            sock: root.join(format!("{name}.sock")),
            addr: format!("127.0.0.1:{}", free_port()),
            log: root.join(format!("{name}.log")),
            data_dir,
            child: None,
            extra: extra.to_vec(),
            default_executor,
            tags: Default::default(),
        };
        agent.spawn();
        agent
    }

    /// `--executor process` unless the test chose one: these tests run shell commands, not
    /// images, and the daemon's own default (oci as root) would refuse them.
    fn executor_flag(&self) -> Vec<&'static str> {
        let chosen = self
            .extra
            .iter()
            .any(|a| a == "--executor" || a.starts_with("--executor="));
        if chosen || self.default_executor {
            vec![]
        } else {
            vec!["--executor", "process"]
        }
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_shoal"))
            .args(["agent", "--data-dir"])
            .arg(&self.data_dir)
            .arg("--api-socket")
            .arg(&self.sock)
            .args(["--hostname", &self.name])
            .args(&self.extra)
            .args(self.executor_flag())
            .env("SHOAL_LOG", "info,openraft=warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("spawn shoal agent");
        self.child = Some(child);
        let sock = self.sock.clone();
        eventually(
            &format!("{} API socket", self.name),
            Duration::from_secs(20),
            || std::os::unix::net::UnixStream::connect(&sock).ok(),
        );
    }

    /// Runs the docker CLI against this agent.
    pub fn docker(&self, args: &[&str]) -> Output {
        // Before and after: the call may leave the swarm (the node's ID is gone after it) or
        // init or join one (a new ID).
        self.remember_tag();
        let out = Command::new("docker")
            .arg("-H")
            .arg(format!("unix://{}", self.sock.display()))
            .args(args)
            .env_remove("DOCKER_CONTEXT")
            .output()
            .expect("run docker");
        self.remember_tag();
        out
    }

    /// Notes the data-plane tag of the node the data dir holds now, if any.
    fn remember_tag(&self) {
        if let Some(node_id) = node_id_in(&self.data_dir) {
            self.tags
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(plane_tag(&node_id));
        }
    }

    /// `docker swarm init` on this agent's address (a one-node swarm); its output.
    pub fn swarm_init(&self) -> String {
        self.docker_ok(&[
            "swarm",
            "init",
            "--advertise-addr",
            &self.addr,
            "--listen-addr",
            &self.addr,
        ])
    }

    /// Runs the docker CLI and returns stdout, panicking (with the agent log) if it fails.
    pub fn docker_ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(
            out.status.success(),
            "docker {args:?} on {} failed: {}\n--- log ---\n{}",
            self.name,
            stderr(&out),
            self.log_tail()
        );
        stdout(&out)
    }

    /// Runs our CLI against this agent.
    pub fn shoal(&self, args: &[&str]) -> Output {
        // As `docker`: the call may change the node this agent is.
        self.remember_tag();
        let out = Command::new(env!("CARGO_BIN_EXE_shoal"))
            .env("DOCKER_HOST", format!("unix://{}", self.sock.display()))
            .args(args)
            .output()
            .expect("run shoal");
        self.remember_tag();
        out
    }

    /// Runs our CLI and returns stdout, panicking if it fails.
    pub fn shoal_ok(&self, args: &[&str]) -> String {
        let out = self.shoal(args);
        assert!(
            out.status.success(),
            "shoal {args:?} on {} failed: {}\n--- log ---\n{}",
            self.name,
            stderr(&out),
            self.log_tail()
        );
        stdout(&out)
    }

    /// `kill -9`.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the process again over the same data dir.
    pub fn restart(&mut self) {
        self.kill9();
        self.spawn();
    }

    /// The agent process's pid (to signal it), while it runs.
    pub fn pid(&self) -> Option<i32> {
        self.child.as_ref().map(|c| c.id() as i32)
    }

    /// The agent's data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// `POST /containers/{name}/resize?h=&w=` on the agent's socket; the status.
    pub fn resize(&self, name: &str, height: u16, width: u16) -> u16 {
        let path = format!("/containers/{name}/resize?h={height}&w={width}");
        http::over_unix(&self.sock, &http::request("POST", &path, "shoal", &[], None)).0
    }

    /// Last lines of the agent's log.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<_> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

/// Kills every task process (and its supervisor) a process executor left under `data_dir`,
/// and removes their cgroups: tasks outlive their agent on purpose, so a test must end them
/// itself.
pub fn kill_tasks(data_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(data_dir.join("tasks")) else {
        return;
    };
    let entries: Vec<_> = entries.flatten().collect();
    for entry in &entries {
        for (file, group) in [("task.pid", true), ("shim.pid", false)] {
            let pid = std::fs::read_to_string(entry.path().join(file))
                .ok()
                .and_then(|t| t.split_whitespace().next().and_then(|p| p.parse::<i32>().ok()));
            if let Some(pid) = pid.filter(|p| *p > 1) {
                // SAFETY: kill(2) with a pid we read from our own test's state files.
                unsafe {
                    libc::kill(if group { -pid } else { pid }, libc::SIGKILL);
                }
            }
        }
    }
    for entry in &entries {
        remove_cgroups(&entry.path().join("spec.json"));
    }
}

/// Removes the cgroups a task's spec lists, waiting up to a second for its killed processes
/// to leave them (the host's cgroup tree outlives the test's temporary directories).
fn remove_cgroups(spec: &Path) {
    let Some(spec) = std::fs::read(spec)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
    else {
        return;
    };
    let dirs = spec["cgroups"].as_array().cloned().unwrap_or_default();
    for dir in dirs.iter().filter_map(|d| d.as_str()) {
        // Processes that left the task's group (daemons) are still in its cgroup.
        let procs = std::fs::read_to_string(Path::new(dir).join("cgroup.procs")).unwrap_or_default();
        for pid in procs
            .lines()
            .filter_map(|l| l.trim().parse::<i32>().ok())
            .filter(|p| *p > 1)
        {
            // SAFETY: kill(2) on a member of this test's own task cgroup.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
        for _ in 0..100 {
            match std::fs::remove_dir(dir) {
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                    std::thread::sleep(std::time::Duration::from_millis(10))
                }
                _ => break,
            }
        }
    }
}

/// Where the agents' data planes pin their namespaces (`daemon/network_layer.rs`).
pub const PLANE_NETNS_DIR: &str = "/run/shoal/netns";

/// The data plane's owner tag of node `node_id`: its last 12 alphanumeric characters, lower
/// case (`daemon/network_layer.rs`); every namespace and nft table it makes is `shoal-<tag>-…`.
pub fn plane_tag(node_id: &str) -> String {
    let clean: Vec<char> = node_id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    clean[clean.len().saturating_sub(12)..].iter().collect()
}

/// The namespace pins in [`PLANE_NETNS_DIR`] of the data plane tagged `tag` (overlays and
/// task sandboxes).
pub fn plane_pins(tag: &str) -> Vec<PathBuf> {
    if tag.is_empty() {
        return Vec::new();
    }
    let prefix = format!("shoal-{tag}-");
    std::fs::read_dir(PLANE_NETNS_DIR)
        .map(|d| {
            d.flatten()
                .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default()
}

/// The node ID an agent's data dir holds (`swarm/state.json`), if it is in a swarm.
/// The node ID in an agent's data dir (none once it left the swarm).
pub fn node_id_in(data_dir: &Path) -> Option<String> {
    let state = std::fs::read(data_dir.join("swarm/state.json")).ok()?;
    let state: serde_json::Value = serde_json::from_slice(&state).ok()?;
    state["node_id"].as_str().map(str::to_owned)
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.kill9();
        kill_tasks(&self.data_dir);
        // Its data plane is on the host, outside the test's directory, and only a restart of
        // the same node would sweep it: a killed agent leaves its pins (overlays, ingress and
        // task sandboxes; their links go with them) and, in the root namespace, the mesh's
        // table. Every node this agent has been (a leave forgets the ID) is swept.
        self.remember_tag();
        let tags = std::mem::take(&mut *self.tags.lock().unwrap_or_else(|e| e.into_inner()));
        for tag in tags {
            for pin in plane_pins(&tag) {
                let _ = netplane::delete_netns(&pin);
            }
            let _ = Command::new("nft")
                .args(["delete", "table", "ip", &format!("shoal-{tag}-mesh")])
                .stderr(Stdio::null())
                .status();
        }
    }
}
