//! `shoal agent` processes for benchmarks: start, talk to over the Docker API, kill, restart.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use api::Client;

/// A `shoal agent` process.
pub struct Agent {
    /// Host name it reports.
    pub name: String,
    /// Its data directory.
    pub dir: PathBuf,
    /// Its API socket.
    pub sock: PathBuf,
    /// Its cluster address.
    pub addr: String,
    /// The process, while running.
    pub child: Option<Child>,
    extra: Vec<String>,
}

fn port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Agent {
    /// Starts an agent named `name` with its data under `root`.
    pub fn start(shoal: &Path, root: &Path, name: &str) -> anyhow::Result<Agent> {
        Self::start_with(shoal, root, name, &[])
    }

    /// Starts an agent with extra `shoal agent` flags.
    pub fn start_with(shoal: &Path, root: &Path, name: &str, extra: &[&str]) -> anyhow::Result<Agent> {
        let mut a = Agent {
            name: name.into(),
            dir: root.join(name),
            sock: root.join(format!("{name}.sock")),
            addr: format!("127.0.0.1:{}", port()?),
            child: None,
            extra: extra.iter().map(|s| s.to_string()).collect(),
        };
        a.spawn(shoal)?;
        Ok(a)
    }

    /// (Re)starts the process and waits until its API socket answers.
    pub fn spawn(&mut self, shoal: &Path) -> anyhow::Result<()> {
        let log = std::fs::File::create(self.dir.with_extension("log"))?;
        let child = Command::new(shoal)
            .args(["agent", "--hostname", &self.name, "--data-dir"])
            .arg(&self.dir)
            .arg("--api-socket")
            .arg(&self.sock)
            .args(&self.extra)
            // The benchmarks measure shell-command tasks, which only the process executor runs.
            .args(["--executor", "process"])
            .env("SHOAL_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::os::unix::net::UnixStream::connect(&self.sock).is_err() {
            anyhow::ensure!(Instant::now() < deadline, "{} did not start", self.name);
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// A Docker API client for it.
    pub fn client(&self) -> anyhow::Result<Client> {
        Ok(Client::new(&format!("unix://{}", self.sock.display()))?)
    }

    /// The process ID, while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// `kill -9`.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, and wait for the process to exit.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: kill(2) on our own child's pid.
            unsafe {
                libc::kill(c.id() as i32, libc::SIGTERM);
            }
            let _ = c.wait();
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Resident memory of a process in bytes (VmRSS).
pub fn rss_bytes(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

/// Polls `check` every 20 ms until it yields, or gives up after `limit`.
pub async fn wait_for<T, F, Fut>(limit: Duration, check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    wait_every(limit, Duration::from_millis(20), check).await
}

/// Polls `check` every `interval` until it yields, or gives up after `limit`.
pub async fn wait_every<T, F, Fut>(limit: Duration, interval: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(interval).await;
    }
}
