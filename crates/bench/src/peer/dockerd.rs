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
    netns: PathBuf,
    dockerd: PathBuf,
    child: Option<Child>,
}

impl Dockerd {
    /// A dockerd named `hostname` in namespace `netns`, keeping its files in `dir` (not started).
    pub fn new(dockerd: &Path, hostname: &str, root: &Path, netns: PathBuf) -> Dockerd {
        Dockerd {
            hostname: hostname.into(),
            dir: root.join(format!("dockerd-{hostname}")),
            socket: root.join(format!("dockerd-{hostname}.sock")),
            netns,
            dockerd: dockerd.to_path_buf(),
            child: None,
        }
    }

    fn log(&self) -> PathBuf {
        self.dir.join("dockerd.log")
    }

    /// The containerd dockerd started for itself, if it is still running.
    fn containerd_pid(&self) -> Option<String> {
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
        let child = Command::new("nsenter")
            .arg(format!("--net={}", self.netns.display()))
            .args([
                "unshare",
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
            .args([
                "--iptables=false",
                "--ip6tables=false",
                "--bridge=none",
                "--ip-forward=false",
                "--ip-masq=false",
            ])
            .args(["--userland-proxy=false", "--log-level=warn"])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .map_err(|e| anyhow::anyhow!("starting dockerd via nsenter: {e}"))?;
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
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        // Its containerd goes too, as on a crashed host; the next start makes a fresh one.
        if let Some(pid) = self.containerd_pid() {
            let _ = Command::new("kill").args(["-9", &pid]).output();
        }
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        self.kill9();
    }
}
