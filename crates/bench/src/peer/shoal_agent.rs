//! One `shoal agent` process in a host namespace of the topology, started with
//! `nsenter --net=/run/netns/NS shoal agent …` exactly where the matching dockerd ran.

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
        let child = Command::new("nsenter")
            .arg(format!("--net={}", self.netns.display()))
            .arg(&self.shoal)
            .args(["agent", "--hostname", &self.hostname, "--data-dir"])
            .arg(&self.dir)
            .arg("--api-socket")
            .arg(&self.socket)
            // The benchmarks measure shell-command tasks, which only the process executor runs.
            .args(["--executor", "process"])
            .env("SHOAL_LOG", "warn")
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
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for ShoalAgent {
    fn drop(&mut self) {
        self.kill9();
    }
}
