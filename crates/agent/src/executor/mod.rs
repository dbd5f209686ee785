//! Executors: what turns an assigned task into something running on this node.
//!
//! ```text
//!            prepare(task)        start(id) ─► ready(id)              wait(id)
//!  (none) ───────────────► Prepared ──────────────────────► Running ─────────────► Exited(Exit)
//!                              │                              │ shutdown(id): stop signal, grace, SIGKILL
//!                              └──── remove(id) ──────────────┴──────────────────────► (none)
//!
//!  start returns once the process runs; ready once it is healthy (a health check's first
//!  pass). Between the two the agent attaches overlay endpoints to an executor-made
//!  namespace (`makes_own_netns`), so a health check may already use the overlay.
//!
//!  reattach(): after the agent restarts, list every task the executor still holds
//!              (prepared, running or exited) so the runner resumes instead of starting anew.
//! ```
//!
//! One trait in Swarm's shape (`agent/exec/controller.go`: Prepare/Start/Wait/Shutdown/
//! Remove), keyed by task ID rather than handing out a controller object per task: the
//! executor must be able to find tasks by ID anyway to re-attach after a restart, and a flat
//! trait keeps fakes small. The task runner (`crate::runner`) steps tasks through it.
//!
//! Implementations: [`process::ProcessExecutor`] (native processes, the embedded default),
//! [`oci::OciExecutor`] (containers from an image, run by libcontainer under the same task
//! supervisor), [`docker::DockerExecutor`] (containers on a local dockerd) and [`sim::SimExecutor`] (no processes; hollow nodes and tests).

pub mod details;
pub mod docker;
pub mod error;
pub mod exec;
pub mod oci;
pub mod process;
pub mod sandbox;
pub mod sim;

#[cfg(test)]
pub(crate) mod conformance;
#[cfg(test)]
pub(crate) mod test_netns;

use std::collections::BTreeMap;

use async_trait::async_trait;
use types::{ContainerStatus, Resources, Task};

pub use error::{Error, Result};
pub use sandbox::Sandbox;

use crate::logs::{LogLines, LogOptions};

/// Default time between the stop signal and SIGKILL (Swarm's `StopGracePeriod` default).
pub const DEFAULT_STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// Default stop signal, as Docker's.
pub const DEFAULT_STOP_SIGNAL: &str = "SIGTERM";

/// What an executor says about the engine behind it, for the node's description.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EngineInfo {
    /// Engine name and version, e.g. `shoal-process 0.1.0`.
    pub engine_version: String,
    /// `engine.labels.*` the executor adds (merged with the operator's labels).
    pub labels: BTreeMap<String, String>,
    /// CPU and memory the executor offers to tasks.
    pub resources: Resources,
}

/// How a task's process ended.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exit {
    /// Exit code; a process killed by signal N reports 128 + N, as Docker does.
    pub code: i64,
    /// The signal that killed it, if one did.
    pub signal: Option<i32>,
    /// The executor stopped it because its health check failed.
    pub unhealthy: bool,
    /// Set when the exit status could not be observed (e.g. the supervisor died); says why.
    pub lost: Option<String>,
    /// The kernel killed it for going over its memory limit (as dockerd reports).
    pub oom_killed: bool,
}

impl Exit {
    /// A plain exit with `code`.
    pub fn code(code: i64) -> Exit {
        Exit {
            code,
            ..Exit::default()
        }
    }

    /// A death by `signal` (exit code 128 + signal).
    pub fn signalled(signal: i32) -> Exit {
        Exit {
            code: 128 + i64::from(signal),
            signal: Some(signal),
            ..Exit::default()
        }
    }

    /// The task error this exit means, in Swarm's words; `None` for a clean exit 0.
    pub fn failure(&self) -> Option<String> {
        if let Some(why) = &self.lost {
            return Some(format!("task: exit status lost: {why}"));
        }
        if self.unhealthy {
            return Some("task: unhealthy container".to_string());
        }
        if self.oom_killed {
            return Some(format!(
                "task: non-zero exit ({}): killed for exceeding its memory limit",
                self.code
            ));
        }
        (self.code != 0).then(|| format!("task: non-zero exit ({})", self.code))
    }
}

/// Where the executor has a task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// Prepared, never started.
    Prepared,
    /// Started and not yet exited.
    Running,
    /// Exited; the exit stays readable until the task is removed.
    Exited(Exit),
}

/// A task the executor holds, as reported by [`Executor::reattach`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attached {
    /// Task ID.
    pub task_id: String,
    /// Where it is.
    pub phase: Phase,
    /// Process facts (pid, exit code once exited).
    pub container: ContainerStatus,
}

/// Runs tasks on this node. All methods are keyed by task ID and safe to call concurrently
/// for different tasks; calls for one task come from its one runner, except `shutdown` and
/// `remove`, which may also come from the worker while the runner waits.
#[async_trait]
pub trait Executor: Send + Sync + 'static {
    /// Describes the engine: version, labels and the resources it offers.
    async fn describe(&self) -> Result<EngineInfo>;

    /// Validates the task and sets up what it needs so that `start` can run it at once.
    /// Idempotent: preparing a task the executor already holds is a no-op.
    async fn prepare(&self, task: &Task) -> Result<()>;

    /// As `prepare`, with the network sandbox the agent made for the task. An executor that
    /// cannot put a task in a sandbox refuses rather than run it without its networks.
    async fn prepare_in(&self, task: &Task, sandbox: &Sandbox) -> Result<()> {
        if sandbox.is_empty() {
            return self.prepare(task).await;
        }
        Err(Error::Unsupported(format!(
            "this node's executor cannot attach task {} to overlay networks",
            task.id
        )))
    }

    /// True when the executor's tasks get a network namespace the executor makes itself (a
    /// dockerd container in network mode `none`), so the agent attaches the task's endpoints
    /// to `/proc/<pid>/ns/net` after `start` instead of handing `prepare_in` a namespace.
    fn makes_own_netns(&self) -> bool {
        false
    }

    /// Starts a prepared task and returns once it runs. An executor may also wait here for
    /// its health check's first pass when its namespace exists before start (`oci`,
    /// `process`); one that makes its own namespace waits in [`Executor::ready`] instead.
    /// Starting a task that already started is a no-op.
    async fn start(&self, task_id: &str) -> Result<ContainerStatus>;

    /// Resolves once a started task is ready to be reported running: its health check, if
    /// any, has passed once (an unhealthy task or an exit first is an error). The runner calls
    /// it after `start` and after attaching the task's endpoints, so a check may use the
    /// overlay. Default: ready at once (the executor's `start` already waited). Idempotent.
    async fn ready(&self, task_id: &str) -> Result<()> {
        let _ = task_id;
        Ok(())
    }

    /// Resolves when the task's process exits, with how it ended. May be called any number of
    /// times, also after the exit; cancel-safe (dropping the future loses nothing).
    async fn wait(&self, task_id: &str) -> Result<Exit>;

    /// Stops the task: its stop signal, then SIGKILL after its grace period. Returns the exit,
    /// or `None` when the task never started. Stopping an exited task returns its exit.
    async fn shutdown(&self, task_id: &str) -> Result<Option<Exit>>;

    /// Stops the task if it still runs and forgets it, logs included. Removing an unknown
    /// task succeeds (removal is retried by callers and must converge).
    async fn remove(&self, task_id: &str) -> Result<()>;

    /// Every task the executor still holds, e.g. after the agent restarted. The executor
    /// resumes watching running tasks, so a later `wait` reports their exit.
    async fn reattach(&self) -> Result<Vec<Attached>>;

    /// Reads the task's captured stdout/stderr.
    async fn logs(&self, task_id: &str, options: LogOptions) -> Result<LogLines>;

    // The Engine API's view of task containers (`/containers/*`). The defaults refuse, for
    // executors whose tasks are not processes on this host (sim).

    /// The task's container details (see [`details::Details`]).
    async fn details(&self, _task_id: &str) -> Result<details::Details> {
        Err(Error::Invalid(
            "this executor has no containers to inspect".into(),
        ))
    }

    /// Sends `signal` to the task's main process (`docker kill`). The task's exit then
    /// reaches `wait` as any exit does, so the runner reports it and the orchestrator acts.
    async fn signal(&self, _task_id: &str, _signal: i32) -> Result<()> {
        Err(Error::Invalid("this executor has no containers to signal".into()))
    }

    /// Runs one more process in the running task (`docker exec`) and hands back its streams.
    /// Executors that cannot refuse, saying so.
    async fn exec(&self, task_id: &str, spec: &exec::ExecSpec) -> Result<exec::ExecProcess> {
        let _ = spec;
        Err(Error::Unsupported(format!(
            "this node's executor cannot run a command in task {task_id}"
        )))
    }

    /// A writer into the stdin of a task created with `OpenStdin` and no terminal (`docker
    /// attach`); shutting it down ends this client's input. Executors without one refuse.
    fn stdin(&self, task_id: &str) -> Result<Box<dyn tokio::io::AsyncWrite + Send + Unpin>> {
        Err(Error::Unsupported(format!(
            "this node's executor serves no stdin for task {task_id}"
        )))
    }

    /// The terminal of a running task created with `TTY` (`docker attach`): its raw output
    /// and its input. Executors without terminals refuse, saying so.
    async fn terminal_attach(
        &self,
        task_id: &str,
        want: oci::terminal::Want,
    ) -> Result<oci::terminal::Console> {
        let _ = want;
        Err(Error::Unsupported(format!(
            "this node's executor serves no terminal for task {task_id}"
        )))
    }

    /// Sets the window size of a running task's terminal (`docker container resize`).
    async fn terminal_resize(&self, task_id: &str, height: u16, width: u16) -> Result<()> {
        let _ = (height, width);
        Err(Error::Unsupported(format!(
            "this node's executor serves no terminal for task {task_id}"
        )))
    }
}

/// Parses a stop signal the way Docker accepts it: `SIGTERM`, `TERM`, `term` or `15`.
/// An empty string means the default, SIGTERM.
pub fn parse_signal(text: &str) -> Result<i32> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(libc::SIGTERM);
    }
    if let Ok(n) = text.parse::<i32>() {
        return if (1..=64).contains(&n) {
            Ok(n)
        } else {
            Err(Error::Invalid(format!(
                "invalid stop signal {text:?}: number out of range"
            )))
        };
    }
    let upper = text.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    SIGNALS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, s)| *s)
        .ok_or_else(|| Error::Invalid(format!("invalid stop signal {text:?}")))
}

/// Signal names a stop signal may use.
const SIGNALS: [(&str, i32); 20] = [
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("ILL", libc::SIGILL),
    ("TRAP", libc::SIGTRAP),
    ("ABRT", libc::SIGABRT),
    ("BUS", libc::SIGBUS),
    ("FPE", libc::SIGFPE),
    ("KILL", libc::SIGKILL),
    ("USR1", libc::SIGUSR1),
    ("SEGV", libc::SIGSEGV),
    ("USR2", libc::SIGUSR2),
    ("PIPE", libc::SIGPIPE),
    ("ALRM", libc::SIGALRM),
    ("TERM", libc::SIGTERM),
    ("CHLD", libc::SIGCHLD),
    ("CONT", libc::SIGCONT),
    ("STOP", libc::SIGSTOP),
    ("WINCH", libc::SIGWINCH),
    ("PWR", libc::SIGPWR),
];

/// The grace period of a task: its spec's, or the default.
pub fn stop_grace(spec_nanos: Option<i64>) -> std::time::Duration {
    match spec_nanos {
        Some(n) if n >= 0 => std::time::Duration::from_nanos(n as u64),
        _ => DEFAULT_STOP_GRACE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_signals_as_docker_does() {
        assert_eq!(parse_signal("").ok(), Some(libc::SIGTERM));
        assert_eq!(parse_signal("SIGINT").ok(), Some(libc::SIGINT));
        assert_eq!(parse_signal("usr1").ok(), Some(libc::SIGUSR1));
        assert_eq!(parse_signal("9").ok(), Some(9));
        assert!(parse_signal("SIGNOPE").is_err());
        assert!(parse_signal("99").is_err());
    }

    #[test]
    fn exit_failures_read_like_swarm() {
        assert_eq!(Exit::code(0).failure(), None);
        assert_eq!(
            Exit::code(3).failure().as_deref(),
            Some("task: non-zero exit (3)")
        );
        assert_eq!(Exit::signalled(9).code, 137);
        let unhealthy = Exit {
            unhealthy: true,
            ..Exit::signalled(15)
        };
        assert_eq!(unhealthy.failure().as_deref(), Some("task: unhealthy container"));
        assert_eq!(stop_grace(None), DEFAULT_STOP_GRACE);
        assert_eq!(stop_grace(Some(1_000_000)), std::time::Duration::from_millis(1));
    }
}
