//! One task of the process executor as the agent sees it: its state directory, its
//! supervisor, and the watchers (exit, health) that turn what happens into events.
//!
//! ```text
//!  launch: spawn shim ─► read "started <pid>" ─► pidfd(shim), pidfd(task) ─► watch_exit, health
//!  watch_exit: pidfd(shim) readable ─► exit.json ─► exit (watch channel) ─► wait() callers
//!  stop: stop signal via pidfd(task) ─► grace ─► SIGKILL (+ cgroup.kill) ─► exit
//!  resume (re-attach): the same watchers, from the pid files; shim.pid's start time guards
//!                      against a reused pid
//! ```

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use types::ContainerStatus;

use super::ShimCommand;
use super::cgroup::Cgroups;
use super::health::{Health, HealthCheck, HealthPolicy};
use super::launch::{
    EXIT, ExitRecord, HEALTH, LaunchSpec, PidFile, SHIM_LOG, SHIM_PID, TASK_PID, read_json, read_pid,
};
use super::shim::HANDSHAKE;
use super::sys;
use crate::executor::{Attached, Error, Exit, Phase, Result};
use crate::logs::{LogLines, LogOptions, follow_dir, read_dir};

/// How long SIGKILL may take to show up as an exit before we call it an error.
const KILL_WAIT: Duration = Duration::from_secs(10);

/// How often to look for the exit file when pidfds are unavailable (old kernels).
const EXIT_POLL: Duration = Duration::from_millis(100);

/// The running part: known once the supervisor reported the task's pid.
struct Running {
    task: Option<PidFile>,
    task_fd: Option<Arc<OwnedFd>>,
}

/// A task held by the process executor.
pub struct TaskHandle {
    /// Task ID.
    pub id: String,
    /// Its state directory.
    pub dir: PathBuf,
    /// What to run.
    pub launch: LaunchSpec,
    check: Option<HealthCheck>,
    /// Serialises launching, so a task starts once even if asked twice.
    start_lock: tokio::sync::Mutex<()>,
    running: Mutex<Option<Running>>,
    exit: watch::Sender<Option<Exit>>,
    ended: watch::Sender<bool>,
    /// Turns true once the supervisor reported the task started (or it was re-attached).
    launched: watch::Sender<bool>,
    health: watch::Sender<Health>,
    /// What a health verdict does.
    policy: HealthPolicy,
    /// Ends this task's watchers (remove, or the executor going away).
    cancel: CancellationToken,
}

impl TaskHandle {
    /// A handle for a prepared task, its health checks acting by `policy`.
    pub fn new(
        dir: PathBuf,
        launch: LaunchSpec,
        policy: HealthPolicy,
        cancel: CancellationToken,
    ) -> Result<Arc<TaskHandle>> {
        let check = HealthCheck::from_config(launch.healthcheck.as_ref())?;
        Ok(Arc::new(TaskHandle {
            id: launch.task_id.clone(),
            dir,
            launch,
            check,
            start_lock: tokio::sync::Mutex::new(()),
            running: Mutex::new(None),
            exit: watch::channel(None).0,
            ended: watch::channel(false).0,
            launched: watch::channel(false).0,
            health: watch::channel(Health::Starting).0,
            policy,
            cancel,
        }))
    }

    /// Where the task is.
    pub fn phase(&self) -> Phase {
        if let Some(exit) = self.exit.borrow().clone() {
            return Phase::Exited(exit);
        }
        if self.lock_running().is_some() {
            Phase::Running
        } else {
            Phase::Prepared
        }
    }

    /// Process facts for status reports.
    pub fn container(&self) -> ContainerStatus {
        let pid = self
            .lock_running()
            .as_ref()
            .and_then(|r| r.task)
            .map(|p| i64::from(p.pid))
            .unwrap_or(0);
        let exit_code = self.exit.borrow().as_ref().map(|e| e.code);
        ContainerStatus {
            container_id: self.id.clone(),
            pid,
            exit_code,
        }
    }

    /// Turns true when the task has exited (for log followers).
    pub fn ended(&self) -> watch::Receiver<bool> {
        self.ended.subscribe()
    }

    /// Ends the watchers of this task.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    fn lock_running(&self) -> std::sync::MutexGuard<'_, Option<Running>> {
        // Every write replaces the whole value, so a poisoned lock still holds a valid one.
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts the task through a new supervisor, unless it was started before. Runs to the
    /// end even if the caller gives up, so the task is never half-launched.
    pub async fn ensure_launched(self: &Arc<Self>, shim: &ShimCommand) -> Result<()> {
        let this = Arc::clone(self);
        let shim = shim.clone();
        tokio::spawn(async move {
            let _guard = this.start_lock.lock().await;
            if this.lock_running().is_some() || this.exit.borrow().is_some() {
                return Ok(());
            }
            this.launch_shim(&shim).await
        })
        .await
        .map_err(|e| Error::Shim(format!("launch interrupted: {e}")))?
    }

    async fn launch_shim(self: &Arc<Self>, shim: &ShimCommand) -> Result<()> {
        let shim_log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(SHIM_LOG))
            .map_err(|e| Error::io(format!("opening {}", self.dir.join(SHIM_LOG).display()), e))?;
        let mut child = tokio::process::Command::new(&shim.program)
            .args(&shim.args)
            .arg(&self.dir)
            .env(super::SHIM_DIR_ENV, &self.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(shim_log))
            .spawn()
            .map_err(|e| Error::io(format!("starting task supervisor {}", shim.program.display()), e))?;
        let shim_pid = child.id().map(|p| p as i32).unwrap_or(0);
        // Open the pidfd while the shim is our unreaped child: its pid cannot be reused yet.
        let shim_fd = sys::pidfd_open(shim_pid).ok();
        if let Some(p) = PidFile::of(shim_pid) {
            let _ = super::launch::write_atomic(&self.dir.join(SHIM_PID), p.encode().as_bytes());
        }
        let Some(stdout) = child.stdout.take() else {
            return Err(Error::Shim("no stdout pipe to the supervisor".into()));
        };
        let mut lines = BufReader::new(stdout).lines();
        let reply = loop {
            match lines.next_line().await {
                Ok(Some(line)) => {
                    // Anywhere in the line: a test harness running the shim may print first.
                    if let Some(at) = line.find(HANDSHAKE) {
                        break line[at + HANDSHAKE.len()..].trim().to_string();
                    }
                }
                Ok(None) | Err(_) => {
                    let status = child.wait().await.map(|s| s.to_string()).unwrap_or_default();
                    let log = std::fs::read_to_string(self.dir.join(SHIM_LOG)).unwrap_or_default();
                    let tail: String = log
                        .chars()
                        .rev()
                        .take(500)
                        .collect::<Vec<_>>()
                        .into_iter()
                        .rev()
                        .collect();
                    break format!(
                        "failed exited ({status}) before starting the task: {}",
                        tail.trim()
                    );
                }
            }
        };
        if let Some(why) = reply.strip_prefix("failed") {
            let _ = child.wait().await;
            return Err(Error::Shim(why.trim().to_string()));
        }
        let task_pid: i32 = reply
            .strip_prefix("started")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or(0);
        let task = read_pid(&self.dir.join(TASK_PID)).filter(|p| p.pid == task_pid);
        let task_fd = task.and_then(open_verified).map(Arc::new);
        *self.lock_running() = Some(Running { task, task_fd });
        self.launched.send_replace(true);
        // The child handle is dropped here; tokio reaps the shim when it exits.
        drop(child);
        self.spawn_watchers(shim_fd, Health::Starting);
        Ok(())
    }

    /// Picks the task up again from its files (after an agent restart).
    pub fn resume(self: &Arc<Self>) {
        if let Some(exit) = self.recorded_exit() {
            self.finish(exit);
            return;
        }
        let Some(shim) = read_pid(&self.dir.join(SHIM_PID)) else {
            return;
        };
        let task = read_pid(&self.dir.join(TASK_PID));
        let shim_fd = open_verified(shim);
        let task_fd = task.and_then(open_verified).map(Arc::new);
        if shim_fd.is_none() {
            // The supervisor is gone. It may have just written the exit; otherwise the
            // status is lost, and a task left behind would run unsupervised: kill it.
            if let Some(exit) = self.recorded_exit() {
                self.finish(exit);
                return;
            }
            if let Some(fd) = &task_fd {
                let _ = sys::pidfd_send_signal(fd, libc::SIGKILL);
            }
            // Its other processes too: with the supervisor gone, only the cgroup still finds them.
            Cgroups::kill(&self.launch.cgroups);
            *self.lock_running() = Some(Running { task, task_fd });
            self.finish(Exit {
                code: -1,
                lost: Some("the task supervisor died".into()),
                ..Exit::default()
            });
            return;
        }
        *self.lock_running() = Some(Running { task, task_fd });
        self.launched.send_replace(true);
        let health = std::fs::read_to_string(self.dir.join(HEALTH))
            .map(|h| Health::parse(&h))
            .unwrap_or(Health::Starting);
        self.spawn_watchers(shim_fd, health);
    }

    fn recorded_exit(&self) -> Option<Exit> {
        let record: ExitRecord = read_json(&self.dir.join(EXIT)).ok().flatten()?;
        // Only Swarm's policy stops a task for being unhealthy; a plain container's exit has
        // its own cause.
        let unhealthy = self.policy == HealthPolicy::Swarm
            && (*self.health.borrow() == Health::Unhealthy
                || std::fs::read_to_string(self.dir.join(HEALTH))
                    .is_ok_and(|h| Health::parse(&h) == Health::Unhealthy));
        Some(record.to_exit(unhealthy))
    }

    fn spawn_watchers(self: &Arc<Self>, shim_fd: Option<OwnedFd>, health: Health) {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            tokio::select! {
                _ = this.cancel.cancelled() => {}
                _ = this.watch_exit(shim_fd) => {}
            }
        });
        if let Some(check) = self.check.clone() {
            self.health.send_replace(health);
            let this = Arc::clone(self);
            tokio::spawn(async move {
                let mut exit = this.exit.subscribe();
                let monitor = check.monitor(&this.launch, &this.dir, health, this.policy, |h| {
                    this.set_health(h)
                });
                tokio::select! {
                    _ = this.cancel.cancelled() => return,
                    _ = exit.wait_for(Option::is_some) => return,
                    _ = monitor => {}
                }
                // Unhealthy under Swarm's policy (the only one the monitor returns for): stop
                // it the way a shutdown would; wait() then reports why.
                if let Err(e) = this.stop().await {
                    tracing::warn!(task = %this.id, error = %e, "stopping unhealthy task failed");
                }
            });
        }
    }

    fn set_health(&self, health: Health) {
        let _ = super::launch::write_atomic(&self.dir.join(HEALTH), health.as_str().as_bytes());
        self.health.send_replace(health);
    }

    /// Waits for the supervisor to end, then reads the exit it recorded.
    async fn watch_exit(&self, shim_fd: Option<OwnedFd>) {
        let exited = match shim_fd {
            Some(fd) => sys::pidfd_exited(fd).await.is_ok(),
            None => false,
        };
        if !exited {
            // No pidfd: look for the exit file, and notice a supervisor that died without one.
            let shim = read_pid(&self.dir.join(SHIM_PID));
            while self.recorded_exit().is_none() && shim.is_some_and(|s| s.alive()) {
                tokio::time::sleep(EXIT_POLL).await;
            }
        }
        let exit = self.recorded_exit().unwrap_or_else(|| Exit {
            code: -1,
            lost: Some("the task supervisor exited without recording the exit".into()),
            ..Exit::default()
        });
        self.finish(exit);
    }

    fn finish(&self, exit: Exit) {
        self.exit.send_if_modified(|e| {
            if e.is_none() {
                *e = Some(exit);
                true
            } else {
                false
            }
        });
        self.ended.send_replace(true);
    }

    /// Resolves once the task's process runs (before any health verdict) or has exited.
    pub async fn wait_launched(&self) {
        let mut launched = self.launched.subscribe();
        let mut exit = self.exit.subscribe();
        // Both senders live as long as `self`, which the caller holds.
        tokio::select! {
            _ = launched.wait_for(|l| *l) => {}
            _ = exit.wait_for(Option::is_some) => {}
        }
    }

    /// Resolves with the exit.
    pub async fn wait(&self) -> Exit {
        let mut rx = self.exit.subscribe();
        // The sender lives as long as `self`, which the caller holds.
        rx.wait_for(Option::is_some)
            .await
            .ok()
            .and_then(|e| e.clone())
            .unwrap_or_default()
    }

    /// Resolves once the health check has a verdict: healthy (Ok), unhealthy or exited (Err).
    pub async fn wait_healthy(&self) -> Result<()> {
        if self.check.is_none() {
            return Ok(());
        }
        let mut health = self.health.subscribe();
        let mut exit = self.exit.subscribe();
        tokio::select! {
            h = health.wait_for(|h| *h != Health::Starting) => match h.map(|h| *h) {
                Ok(Health::Healthy) => Ok(()),
                _ => Err(Error::Unhealthy),
            },
            e = exit.wait_for(Option::is_some) => {
                let why = e.ok().and_then(|e| e.clone()).and_then(|e| e.failure()).unwrap_or_else(|| "exit 0".into());
                Err(Error::ExitedWhileStarting(why))
            }
        }
    }

    /// Stop signal, grace period, then SIGKILL. `None` if the task never started.
    pub async fn stop(self: &Arc<Self>) -> Result<Option<Exit>> {
        // A launch in progress finishes first, so there is a process to stop.
        drop(self.start_lock.lock().await);
        if let Some(exit) = self.exit.borrow().clone() {
            return Ok(Some(exit));
        }
        let fd = match self.lock_running().as_mut() {
            None => return Ok(None),
            Some(r) => {
                // Re-attached while the supervisor was still launching: the pid file may
                // have appeared since.
                if r.task_fd.is_none()
                    && let Some(task) = read_pid(&self.dir.join(TASK_PID))
                {
                    r.task = Some(task);
                    r.task_fd = open_verified(task).map(Arc::new);
                }
                r.task_fd.clone()
            }
        };
        let signal = |sig: i32| match &fd {
            Some(fd) => sys::pidfd_send_signal(fd, sig)
                .map_err(|e| Error::io(format!("signalling task {}", self.id), e)),
            None => Ok(()),
        };
        signal(self.launch.stop_signal)?;
        let grace = Duration::from_nanos(self.launch.grace_nanos);
        if let Ok(exit) = tokio::time::timeout(grace, self.wait()).await {
            return Ok(Some(exit));
        }
        signal(libc::SIGKILL)?;
        Cgroups::kill(&self.launch.cgroups);
        tokio::time::timeout(KILL_WAIT, self.wait())
            .await
            .map(Some)
            .map_err(|_| Error::Shim(format!("task {} did not exit after SIGKILL", self.id)))
    }

    /// Sends `signal` to the task's main process (`docker kill`); the exit it causes reaches
    /// `wait` like any other. A task that has not started, or has exited, is refused.
    pub fn signal(&self, signal: i32) -> Result<()> {
        if self.exit.borrow().is_some() {
            return Err(Error::State {
                task: self.id.clone(),
                message: "is not running".into(),
            });
        }
        let fd = self.lock_running().as_ref().and_then(|r| r.task_fd.clone());
        match fd {
            Some(fd) => sys::pidfd_send_signal(&fd, signal)
                .map_err(|e| Error::io(format!("signalling task {}", self.id), e)),
            None => Err(Error::State {
                task: self.id.clone(),
                message: "is not running".into(),
            }),
        }
    }

    /// The health check's verdict (`starting`, `healthy`, `unhealthy`), `None` without a check.
    pub fn health(&self) -> Option<&'static str> {
        self.check.as_ref().map(|_| self.health.borrow().as_str())
    }

    /// Deletes the task's files and cgroup (the task must have exited).
    pub async fn delete_files(&self) -> Result<()> {
        self.cancel();
        Cgroups::remove(&self.launch.cgroups).await;
        remove_dir(&self.dir)
    }
}

/// Every task the state directory holds, as `reattach` reports them: handles already in the
/// executor's `table`, the rest loaded from their directories (shared by the process and oci
/// executors, whose task directories have the same layout).
pub fn attach_all<'a>(
    state_dir: &Path,
    table: impl Fn() -> MutexGuard<'a, HashMap<String, Arc<TaskHandle>>>,
    load: impl Fn(&str) -> Result<Option<Arc<TaskHandle>>>,
) -> Result<Vec<Attached>> {
    let entries =
        std::fs::read_dir(state_dir).map_err(|e| Error::io(format!("reading {}", state_dir.display()), e))?;
    let mut attached = Vec::new();
    for entry in entries.flatten() {
        let Some(id) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        let known = table().get(&id).cloned();
        let handle = match known {
            Some(h) => h,
            None => match load(&id) {
                Ok(Some(h)) => table().entry(id.clone()).or_insert(h).clone(),
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(task = %id, error = %e, "skipping unreadable task directory");
                    continue;
                }
            },
        };
        attached.push(Attached {
            task_id: id,
            phase: handle.phase(),
            container: handle.container(),
        });
    }
    attached.sort_by(|a, b| a.task_id.cmp(&b.task_id));
    Ok(attached)
}

/// A task's captured output: read once, or followed until the task ends.
pub async fn read_logs(handle: &Arc<TaskHandle>, options: LogOptions) -> Result<LogLines> {
    if options.follow {
        return Ok(follow_dir(handle.dir.clone(), options, handle.ended()));
    }
    let dir = handle.dir.clone();
    let lines = tokio::task::spawn_blocking(move || read_dir(&dir, &options))
        .await
        .map_err(|e| Error::io("log reader thread", std::io::Error::other(e.to_string())))??;
    Ok(crate::logs::from_vec(lines))
}

/// Removes a task directory; a missing one is fine.
pub fn remove_dir(dir: &Path) -> Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(Error::io(format!("removing {}", dir.display()), e))
        }
        _ => Ok(()),
    }
}

/// A pidfd for the process in `pid`, only if it is still that very process.
fn open_verified(pid: PidFile) -> Option<OwnedFd> {
    let fd = sys::pidfd_open(pid.pid).ok()?;
    // Checked after opening: the fd now pins the process, so a match means it is ours.
    pid.alive().then_some(fd)
}
