//! A private dockerd (Debian's docker.io) for interop tests: its own socket, data and exec
//! roots under a temporary directory, no bridge and no iptables rules, so it touches nothing
//! another dockerd on the machine uses. Stopped by PID on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::time::Instant;

/// A running dockerd.
pub struct Dockerd {
    /// `unix://…` address for `docker -H`.
    pub host: String,
    child: Child,
    dir: tempfile::TempDir,
}

impl Dockerd {
    /// Starts dockerd and waits until it answers; panics when it cannot.
    pub async fn start() -> Dockerd {
        match Dockerd::try_start().await {
            Ok(d) => d,
            Err(why) => panic!("{why}"),
        }
    }

    /// Starts dockerd and waits until it answers, or says why it could not.
    pub async fn try_start() -> Result<Dockerd, String> {
        if !Path::new("/usr/sbin/dockerd").exists() {
            return Err("dockerd missing: install Debian's docker.io (scripts/test.sh does)".into());
        }
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let p = |name: &str| dir.path().join(name);
        let host = format!("unix://{}", p("docker.sock").display());
        let log = std::fs::File::create(p("dockerd.log")).map_err(|e| e.to_string())?;
        let child = Command::new("/usr/sbin/dockerd")
            .arg("--host")
            .arg(&host)
            .arg("--data-root")
            .arg(p("data"))
            .arg("--exec-root")
            .arg(p("exec"))
            .arg("--pidfile")
            .arg(p("docker.pid"))
            .arg("--config-file")
            .arg(empty_config(&p("daemon.json")))
            .args([
                "--bridge",
                "none",
                "--iptables=false",
                "--ip6tables=false",
                "--ip-masq=false",
            ])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("starting dockerd: {e}"))?;
        let mut d = Dockerd { host, child, dir };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if d.docker(&["version"]).status.success() {
                return Ok(d);
            }
            if d.child.try_wait().ok().flatten().is_some() {
                return Err(format!("dockerd exited: {}", d.log()));
            }
            if Instant::now() >= deadline {
                return Err(format!("dockerd did not answer: {}", d.log()));
            }
            // Polling a condition (the daemon answering) with a deadline, not a fixed wait.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The daemon's socket path (the host without `unix://`).
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("docker.sock")
    }

    /// `docker import`s the busybox rootfs as `reference`, with `sh` as its command.
    pub fn import_busybox(&self, reference: &str) -> Result<(), String> {
        let tar = self.path("busybox-rootfs.tar");
        std::fs::write(&tar, crate::busybox::rootfs_tar()?).map_err(|e| e.to_string())?;
        let out = self.docker(&[
            "import",
            "--change",
            "CMD [\"sh\"]",
            tar.to_str().unwrap_or(""),
            reference,
        ]);
        if out.status.success() {
            Ok(())
        } else {
            Err(format!("docker import: {}", String::from_utf8_lossy(&out.stderr)))
        }
    }

    /// Runs the docker CLI against this daemon.
    pub fn docker(&self, args: &[&str]) -> std::process::Output {
        Command::new("docker")
            .arg("-H")
            .arg(&self.host)
            .args(args)
            .env("DOCKER_CONFIG", self.dir.path().join("cli"))
            .output()
            .unwrap()
    }

    /// Runs the docker CLI and insists it succeeds; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(
            out.status.success(),
            "docker {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A scratch path in the daemon's directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// dockerd's own log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dockerd.log")).unwrap_or_default()
    }
}

fn empty_config(path: &Path) -> PathBuf {
    // A failed write shows as dockerd refusing its config file.
    let _ = std::fs::write(path, "{}");
    path.to_path_buf()
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        // SIGTERM lets dockerd stop the containerd it started; SIGKILL only if it hangs.
        let _ = Command::new("kill").arg(self.child.id().to_string()).status();
        // Drop cannot await: poll the exit up to 20 s (400 × 50 ms).
        for _ in 0..400 {
            if self.child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
