//! Running the stock `docker` CLI against our router on a unix socket: the listener is bound
//! before any CLI runs, so nothing waits on timing.

#![allow(clippy::unwrap_used)]
// Each test binary uses a different part of this module.
#![allow(dead_code)]

pub mod router;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;

use tokio::process::{Child, Command};
use tokio::sync::oneshot;

use crate::common::FakeBackend;

/// The first `docker` on PATH, if any.
pub fn docker_binary() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("docker"))
        .find(|candidate| candidate.is_file())
}

/// Runs docker CLIs against one socket with a private config directory.
pub struct Docker {
    /// The CLI binary.
    pub binary: PathBuf,
    /// `unix://…` of our socket.
    pub host: String,
    /// A private `DOCKER_CONFIG`.
    pub config: PathBuf,
}

/// What one CLI run printed.
pub struct Run {
    /// Exit status 0.
    pub ok: bool,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Docker {
    /// A CLI command for `args`, isolated from the caller's docker environment.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(&self.binary);
        command
            .arg("-H")
            .arg(&self.host)
            .args(args)
            .env("DOCKER_CONFIG", &self.config)
            .env_remove("DOCKER_HOST")
            .env_remove("DOCKER_CONTEXT")
            .env_remove("DOCKER_TLS_VERIFY")
            .env_remove("DOCKER_CERT_PATH")
            .env_remove("DOCKER_API_VERSION")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        command
    }

    /// Runs `docker ARGS` to completion.
    pub async fn run(&self, args: &[&str]) -> Run {
        let output = self.command(args).output().await.unwrap();
        let run = Run {
            ok: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        };
        eprintln!("$ docker {}\n{}{}", args.join(" "), run.stdout, run.stderr);
        run
    }

    /// Runs `docker ARGS`, which must succeed, and returns its stdout.
    pub async fn ok(&self, args: &[&str]) -> String {
        let run = self.run(args).await;
        assert!(run.ok, "docker {args:?} failed:\n{}{}", run.stdout, run.stderr);
        run.stdout
    }

    /// Starts `docker ARGS` with piped output (for commands that do not end by themselves).
    pub fn spawn(&self, args: &[&str]) -> Child {
        self.command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }
}

/// Serves the router over `backend` on a socket under `dir`; returns the host and a stopper.
pub fn start(dir: &Path, backend: Arc<FakeBackend>) -> (String, oneshot::Sender<()>) {
    let socket = dir.join("run").join("api.sock");
    let listener = api::bind_unix(&socket).unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(api::serve_unix_listener(listener, backend, async move {
        let _ = stopped.await;
    }));
    (format!("unix://{}", socket.display()), stop)
}

/// The stock docker CLI set up as every CLI test starts: our router over `backend` on a
/// socket in a fresh directory, the CLI's private config beside it.
pub struct Cli {
    /// Runs the CLI against the socket.
    pub docker: Docker,
    /// Ends the serving.
    pub stop: oneshot::Sender<()>,
    /// The socket's and the config's directory, removed when dropped.
    pub dir: tempfile::TempDir,
}

/// [`Cli`] over `backend`; `None` (the reason printed) where no docker binary is on PATH.
pub fn cli(backend: &Arc<FakeBackend>) -> Option<Cli> {
    let Some(binary) = docker_binary() else {
        eprintln!("skipping: no docker binary on PATH");
        return None;
    };
    let dir = tempfile::tempdir().unwrap();
    let (host, stop) = start(dir.path(), backend.clone());
    let docker = Docker {
        binary,
        host,
        config: dir.path().join("docker-config"),
    };
    Some(Cli { docker, stop, dir })
}
