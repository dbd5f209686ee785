//! One `shoal agent` process in a host namespace of the topology, started with
//! `nsenter --net=/run/netns/NS shoal agent …` exactly where the matching dockerd ran (with the
//! oci executor, under `unshare --pid --fork --mount …` too).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::member::{Member, wait_api};

/// A `shoal agent` with its data dir and API socket under the run's directory.
pub struct ShoalAgent {
    hostname: String,
    dir: PathBuf,
    socket: PathBuf,
    netns: PathBuf,
    shoal: PathBuf,
    child: Option<Child>,
    /// `--executor`: `process` for the API benchmarks (no tasks run), `oci` or `docker` for
    /// containers.
    executor: &'static str,
    /// With `docker`: the socket of the dockerd in the same namespace (`--docker-host`).
    docker_host: Option<PathBuf>,
}

impl ShoalAgent {
    /// An agent named `hostname` in namespace `netns` (not started).
    pub fn new(shoal: &Path, hostname: &str, root: &Path, netns: PathBuf) -> ShoalAgent {
        ShoalAgent {
            hostname: hostname.into(),
            dir: root.join(format!("shoal-{hostname}")),
            socket: root.join(format!("shoal-{hostname}.sock")),
            netns,
            shoal: shoal.to_path_buf(),
            child: None,
            executor: "process",
            docker_host: None,
        }
    }

    /// Runs tasks as containers (`--executor oci`), as PID 1 of a PID namespace of its own
    /// with private mounts: killing it kills its task supervisors and containers (which sit
    /// in network namespaces the topology's sweep does not see) and drops their overlay
    /// mounts.
    pub fn with_oci(mut self) -> ShoalAgent {
        self.executor = "oci";
        self
    }

    /// Runs tasks through the dockerd listening on `socket` (`--executor docker`), which
    /// must run in the same namespace; the containers are that dockerd's, so they die with it.
    pub fn with_docker(mut self, socket: &Path) -> ShoalAgent {
        self.executor = "docker";
        self.docker_host = Some(socket.to_path_buf());
        self
    }

    /// Where its oci executor keeps one directory per task.
    pub fn containers_dir(&self) -> PathBuf {
        self.dir.join("containers")
    }

    /// The agent process's PID as this (root) PID namespace sees it.
    pub fn pid(&self) -> Option<u32> {
        let launcher = self.child.as_ref()?.id();
        if self.executor == "oci" {
            crate::containers::procs::children(launcher).first().copied()
        } else {
            Some(launcher)
        }
    }

    /// Unpins its data plane's namespaces (ingress sandbox, overlays), which an agent killed in
    /// the host's own mount namespace leaves mounted there: left behind, every later container
    /// start on this machine reads them in the mount table. An `oci` agent's private mount
    /// namespace takes the mounts along but leaves the empty pin files in the shared directory.
    fn sweep_plane_pins(&self) {
        let Ok(state) = std::fs::read(self.dir.join("swarm/state.json")) else {
            return;
        };
        let Some(node_id) = serde_json::from_slice::<serde_json::Value>(&state)
            .ok()
            .and_then(|s| s["node_id"].as_str().map(str::to_owned))
        else {
            return;
        };
        let dir = Path::new(netplane::names::NETNS_DIR);
        let prefix = format!(
            "{}{}-",
            netplane::names::PREFIX,
            netplane::names::tag_of(&node_id)
        );
        for name in netplane::list_netns(dir, &prefix).unwrap_or_default() {
            let _ = netplane::delete_netns(&dir.join(name));
        }
    }

    /// Removes its tasks' cgroups (`/sys/fs/cgroup/<controller>/shoal/<task>`), which stay,
    /// empty, once the agent and its PID namespace are killed: the agent that would remove
    /// them at the tasks' end never runs again.
    fn sweep_task_cgroups(&self) {
        let Ok(tasks) = std::fs::read_dir(self.containers_dir()) else {
            return;
        };
        for task in tasks.flatten() {
            let task = task.file_name().to_string_lossy().into_owned();
            let root = Path::new("/sys/fs/cgroup");
            for dir in agent::executor::details::cgroup_dirs(root, "shoal", &task) {
                // rmdir(2) of an empty cgroup; one still holding a process stays.
                let _ = std::fs::remove_dir(dir);
            }
        }
    }

    fn log(&self) -> PathBuf {
        self.dir.with_extension("log")
    }
}

impl Member for ShoalAgent {
    fn hostname(&self) -> &str {
        &self.hostname
    }

    fn socket(&self) -> &Path {
        &self.socket
    }

    async fn start(&mut self) -> anyhow::Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log())?;
        let mut command = Command::new("nsenter");
        command.arg(format!("--net={}", self.netns.display()));
        if self.executor == "oci" {
            command.args([
                "unshare",
                "--pid",
                "--fork",
                "--kill-child",
                "--mount-proc",
                "--mount",
                "--propagation",
                "private",
            ]);
        }
        command
            .arg(&self.shoal)
            .args(["agent", "--hostname", &self.hostname, "--data-dir"])
            .arg(&self.dir)
            .arg("--api-socket")
            .arg(&self.socket)
            .args(["--executor", self.executor]);
        if let Some(socket) = &self.docker_host {
            command
                .arg("--docker-host")
                .arg(format!("unix://{}", socket.display()));
        }
        let child = command
            // SHOAL_BENCH_AGENT_LOG, when set, is the agents' filter (e.g. to see the
            // executors' timings at debug in `<dir>.log`).
            .env(
                "SHOAL_LOG",
                std::env::var("SHOAL_BENCH_AGENT_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| anyhow::anyhow!("starting {} via nsenter: {e}", self.shoal.display()))?;
        let child = self.child.insert(child);
        wait_api(&self.socket, child, Duration::from_secs(30))
            .await
            .map_err(|why| {
                anyhow::anyhow!(
                    "shoal agent {} {why}; see {}",
                    self.hostname,
                    self.log().display()
                )
            })
    }

    fn kill9(&mut self) {
        let inner = (self.executor == "oci").then(|| self.pid()).flatten();
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        // Its PID namespace (supervisors, containers) goes once the kernel has killed the rest.
        if let Some(pid) = inner {
            crate::containers::procs::wait_gone(pid, Duration::from_secs(20));
        }
        self.sweep_plane_pins();
        if self.executor == "oci" {
            self.sweep_task_cgroups();
        }
    }
}

impl Drop for ShoalAgent {
    fn drop(&mut self) {
        self.kill9();
    }
}
