//! One dockerd (Debian's docker.io) in a host namespace of the topology.
//!
//! Started as `nsenter --net=/run/netns/NS unshare --mount --uts --propagation private sh -c
//! 'hostname H; exec dockerd …'`: `nsenter` rather than `ip netns exec`, which remounts /sys
//! and hides the cgroups dockerd needs; a private mount namespace so that whatever dockerd and
//! its containerd mount disappears with them; a UTS namespace for a host name of its own.
//! Neither `nsenter`, `unshare` nor `exec` forks, so the child's PID is dockerd's.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::member::{Member, wait_api};

/// A dockerd with its own data root, exec root, pid file and API socket under `dir`.
pub struct Dockerd {
    hostname: String,
    dir: PathBuf,
    socket: PathBuf,
    /// `None`: the root network namespace (for a registry on the host's loopback).
    netns: Option<PathBuf>,
    dockerd: PathBuf,
    child: Option<Child>,
    /// Run as PID 1 of a PID namespace of its own, so that killing it kills its containerd,
    /// shims and containers with it (containers run in network namespaces of their own,
    /// which the topology's sweep does not see).
    pid_ns: bool,
}

impl Dockerd {
    /// A dockerd named `hostname` in namespace `netns`, keeping its files in `dir` (not started).
    pub fn new(dockerd: &Path, hostname: &str, root: &Path, netns: PathBuf) -> Dockerd {
        Dockerd {
            hostname: hostname.into(),
            dir: root.join(format!("dockerd-{hostname}")),
            socket: root.join(format!("dockerd-{hostname}.sock")),
            netns: Some(netns),
            dockerd: dockerd.to_path_buf(),
            child: None,
            pid_ns: false,
        }
    }

    /// A dockerd in the root network namespace (still with private mounts and its own PID
    /// namespace), e.g. to pull from a registry on the host's loopback.
    pub fn in_root_netns(dockerd: &Path, hostname: &str, root: &Path) -> Dockerd {
        let mut d = Dockerd::new(dockerd, hostname, root, PathBuf::new());
        d.netns = None;
        d.pid_ns = true;
        d
    }

    /// Runs it in a PID namespace of its own, for runs that start containers: everything it
    /// started dies with it.
    pub fn for_containers(mut self) -> Dockerd {
        self.pid_ns = true;
        self
    }

    /// The dockerd process's PID as this (root) PID namespace sees it.
    pub fn pid(&self) -> Option<u32> {
        let launcher = self.child.as_ref()?.id();
        if self.pid_ns {
            // `unshare --fork`: dockerd is the launcher's one child.
            crate::containers::procs::children(launcher).first().copied()
        } else {
            Some(launcher)
        }
    }

    fn log(&self) -> PathBuf {
        self.dir.join("dockerd.log")
    }

    /// The containerd dockerd started for itself, if it is still running.
    fn containerd_pid(&self) -> Option<String> {
        // In a PID namespace of its own, the pid file holds the inner number; containerd dies
        // with the namespace anyway.
        if self.pid_ns {
            return None;
        }
        let pid = std::fs::read_to_string(self.dir.join("exec/containerd/containerd.pid")).ok()?;
        let pid = pid.trim().to_string();
        // Only if that PID is still this daemon's containerd, not a reused number.
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        String::from_utf8_lossy(&cmdline)
            .contains(&*self.dir.to_string_lossy())
            .then_some(pid)
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.log()).unwrap_or_default();
        let lines: Vec<&str> = text
            .lines()
            .filter(|l| l.contains("level=error") || l.contains("level=fatal") || !l.contains("level="))
            .collect();
        lines[lines.len().saturating_sub(8)..].join("\n")
    }
}

impl Member for Dockerd {
    fn hostname(&self) -> &str {
        &self.hostname
    }

    fn socket(&self) -> &Path {
        &self.socket
    }

    async fn start(&mut self) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log())?;
        let mut command = match &self.netns {
            Some(netns) => {
                let mut c = Command::new("nsenter");
                c.arg(format!("--net={}", netns.display())).arg("unshare");
                c
            }
            None => Command::new("unshare"),
        };
        if self.pid_ns {
            command.args(["--pid", "--fork", "--kill-child", "--mount-proc"]);
        }
        let child = command
            .args([
                "--mount",
                "--uts",
                "--propagation",
                "private",
                "sh",
                "-c",
                "hostname \"$0\" && exec \"$@\"",
            ])
            .arg(&self.hostname)
            .arg(&self.dockerd)
            .arg("--data-root")
            .arg(self.dir.join("data"))
            .arg("--exec-root")
            .arg(self.dir.join("exec"))
            .arg("--pidfile")
            .arg(self.dir.join("dockerd.pid"))
            .arg("-H")
            .arg(format!("unix://{}", self.socket.display()))
            // Nothing outside the namespace is touched: no iptables, no docker0, no forwarding.
            // (Swarm tasks without networks run without the bridge too.)
            .args([
                "--iptables=false",
                "--ip6tables=false",
                "--bridge=none",
                "--ip-forward=false",
                "--ip-masq=false",
            ])
            .args(["--userland-proxy=false", "--log-level=warn"])
            // Swarm's executor pulls before every task start and only logs a failure; with no
            // registry reachable here that is a DNS failure per task. Tasks use images already
            // loaded into each daemon, as shoal's do, so both skip the pull.
            .env("DOCKER_SERVICE_PREFER_OFFLINE_IMAGE", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .map_err(|e| anyhow::anyhow!("starting dockerd via nsenter/unshare: {e}"))?;
        let child = self.child.insert(child);
        wait_api(&self.socket, child, Duration::from_secs(60))
            .await
            .map_err(|why| {
                anyhow::anyhow!(
                    "dockerd {} {why}; the end of its log ({}):\n{}",
                    self.hostname,
                    self.log().display(),
                    self.log_tail()
                )
            })
    }

    fn kill9(&mut self) {
        let inner = self.pid_ns.then(|| self.pid()).flatten();
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        // Its containerd goes too, as on a crashed host; the next start makes a fresh one.
        if let Some(pid) = self.containerd_pid() {
            let _ = Command::new("kill").args(["-9", &pid]).output();
        }
        // The launcher's death kills dockerd (PID 1 of its namespace), and the kernel then
        // kills the rest of the namespace: wait for that, so the next start finds it gone.
        if let Some(pid) = inner {
            crate::containers::procs::wait_gone(pid, Duration::from_secs(20));
        }
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        self.kill9();
    }
}
