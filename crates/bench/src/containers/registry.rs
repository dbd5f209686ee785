//! Debian's `docker-registry` (distribution 2.8) on a free loopback port, its storage in a
//! directory the caller owns; killed by PID on drop.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A running registry.
pub struct Registry {
    /// `127.0.0.1:PORT`.
    pub addr: String,
    child: Child,
}

impl Registry {
    /// Starts `binary` with its config and storage under `dir`; returns once `GET /v2/` answers.
    pub async fn start(binary: &Path, dir: &Path) -> anyhow::Result<Registry> {
        // The registry's config takes no port 0: take a free port from the kernel and hand it
        // over; a clash with another process is retried.
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
            let addr = format!("127.0.0.1:{port}");
            let config = dir.join("registry.yml");
            std::fs::write(
                &config,
                format!(
                    "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    \
                     rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
                    dir.join("registry-data").display()
                ),
            )?;
            let child = Command::new(binary)
                .arg("serve")
                .arg(&config)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| anyhow::anyhow!("{}: {e}", binary.display()))?;
            let mut registry = Registry { addr, child };
            if registry.ready().await {
                return Ok(registry);
            }
        }
        anyhow::bail!("docker-registry did not start on a loopback port (5 tries)")
    }

    async fn ready(&mut self) -> bool {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self.child.try_wait().ok().flatten().is_some() {
                return false;
            }
            if status(&self.addr, "/v2/").await == Some(200) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The status code of a plain HTTP GET, or `None` if the connection fails.
async fn status(addr: &str, path: &str) -> Option<u16> {
    let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.ok()?;
    let mut buf = vec![0u8; 64];
    let n = s.read(&mut buf).await.ok()?;
    std::str::from_utf8(&buf[..n])
        .ok()?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}
