//! The task's state directory and the files the agent and the supervisor (shim) share.
//!
//! ```text
//!  <state>/<task-id>/
//!    spec.json   written by prepare: what to run (LaunchSpec)
//!    shim.pid    "<pid> <start time>" of the supervisor        (agent, after spawning it)
//!    task.pid    "<pid> <start time>" of the task's process    (shim, once it runs)
//!    exit.json   how it ended (ExitRecord)                     (shim, after the last log line)
//!    health      "healthy" | "unhealthy"                       (agent's health monitor)
//!    log, log.1  captured stdout/stderr                        (shim)
//!    shim.log    the supervisor's own errors
//!    tty.sock    an oci container's terminal, served by the shim (`oci/console.rs`)
//! ```
//!
//! Files that others read while we write are replaced atomically (write, then rename), so a
//! reader sees the old content or the new, never half.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use types::{HealthConfig, Task};

use super::user;
use crate::executor::{Error, Exit, Result, Sandbox, parse_signal, stop_grace};

/// `spec.json`.
pub const SPEC: &str = "spec.json";
/// `shim.pid`.
pub const SHIM_PID: &str = "shim.pid";
/// `task.pid`.
pub const TASK_PID: &str = "task.pid";
/// `exit.json`.
pub const EXIT: &str = "exit.json";
/// `health`.
pub const HEALTH: &str = "health";
/// `shim.log`.
pub const SHIM_LOG: &str = "shim.log";

/// PATH given to tasks that set none (Docker's default).
const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Everything the supervisor needs to run a task, fixed at prepare time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LaunchSpec {
    /// Task ID.
    pub task_id: String,
    /// Program and arguments (Command then Args).
    pub argv: Vec<String>,
    /// Full environment, `K=V`.
    pub env: Vec<String>,
    /// Working directory.
    pub dir: String,
    /// Run as this uid/gid (only set when it differs from the agent's and we are root).
    pub uid: Option<u32>,
    /// Primary group.
    pub gid: Option<u32>,
    /// The task's cgroup directories (one on cgroup v2, one per controller on v1); empty
    /// when limits are not enforced.
    #[serde(default)]
    pub cgroups: Vec<PathBuf>,
    /// Log rotation size.
    pub log_limit: u64,
    /// Stop signal number.
    pub stop_signal: i32,
    /// Grace before SIGKILL, nanoseconds.
    pub grace_nanos: u64,
    /// Health check, if any.
    pub healthcheck: Option<HealthConfig>,
    /// Set for a container of the oci executor: the shim runs the bundle through the
    /// container runtime instead of `argv` (which then only documents the command).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oci: Option<crate::executor::oci::runtime::OciLaunch>,
    /// The network sandbox the task runs in (`Executor::prepare_in`); empty, and absent
    /// from the file, for a task on no overlay network.
    #[serde(default, skip_serializing_if = "Sandbox::is_empty")]
    pub sandbox: Sandbox,
}

impl LaunchSpec {
    /// Validates `task` for the process executor and builds its launch spec. Errors here
    /// reject the task (they happen before STARTING).
    pub fn from_task(task: &Task, log_limit: u64) -> Result<LaunchSpec> {
        let c = &task.spec.container;
        let argv: Vec<String> = c.command.iter().chain(c.args.iter()).cloned().collect();
        if argv.is_empty() {
            return Err(Error::NoCommand);
        }
        if argv[0].is_empty() {
            return Err(Error::Invalid(
                "empty program name in ContainerSpec.Command".into(),
            ));
        }
        super::unsupported::check(&c.extra)?;
        let dir = if c.dir.is_empty() {
            "/".to_string()
        } else {
            c.dir.clone()
        };
        if !Path::new(&dir).is_absolute() {
            return Err(Error::Invalid(format!(
                "working directory {dir:?} is not absolute"
            )));
        }
        if !Path::new(&dir).is_dir() {
            return Err(Error::Invalid(format!("working directory {dir} does not exist")));
        }
        for kv in &c.env {
            if !kv.contains('=') || kv.starts_with('=') || kv.contains('\0') {
                return Err(Error::Invalid(format!(
                    "invalid environment entry {kv:?}: want KEY=value"
                )));
            }
        }
        let (uid, gid, home) = resolve_user(&c.user)?;
        let mut env = vec![DEFAULT_PATH.to_string(), format!("HOME={home}")];
        if !c.hostname.is_empty() {
            env.push(format!("HOSTNAME={}", c.hostname));
        }
        env.extend(c.env.iter().cloned());
        Ok(LaunchSpec {
            task_id: task.id.clone(),
            argv,
            env: dedup_env(env),
            dir,
            uid,
            gid,
            cgroups: Vec::new(),
            log_limit,
            stop_signal: parse_signal(&c.stop_signal)?,
            grace_nanos: stop_grace(c.stop_grace_period).as_nanos() as u64,
            healthcheck: c.healthcheck.clone(),
            oci: None,
            sandbox: Sandbox::default(),
        })
    }
}

/// Later entries win, as in Docker (image defaults first, then the spec).
fn dedup_env(env: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(env.len());
    for kv in env {
        let key = kv.split('=').next().unwrap_or_default().to_string();
        out.retain(|e| e.split('=').next() != Some(key.as_str()));
        out.push(kv);
    }
    out
}

/// uid, gid (None: as the agent) and home of ContainerSpec.User.
fn resolve_user(spec: &str) -> Result<(Option<u32>, Option<u32>, String)> {
    let euid = super::sys::geteuid();
    if spec.is_empty() {
        let home = std::env::var("HOME").unwrap_or_else(|_| "/".into());
        return Ok((None, None, if euid == 0 { "/root".into() } else { home }));
    }
    let u = user::resolve_on_host(spec)?;
    if euid != 0 && u.uid != euid {
        return Err(Error::Invalid(format!(
            "cannot run as user {spec}: the agent is not running as root"
        )));
    }
    Ok((Some(u.uid), Some(u.gid), u.home))
}

/// How a task ended, as the supervisor records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitRecord {
    /// Exit code (128 + signal when killed by one).
    pub code: i64,
    /// Killing signal, if any.
    pub signal: Option<i32>,
    /// When the supervisor saw it exit, unix nanos.
    pub finished_at: i64,
}

impl ExitRecord {
    /// As the executor reports it.
    pub fn to_exit(&self, unhealthy: bool) -> Exit {
        Exit {
            code: self.code,
            signal: self.signal,
            unhealthy,
            lost: None,
            oom_killed: false,
        }
    }
}

/// A pid file: "<pid> <start time>".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PidFile {
    /// Process ID.
    pub pid: i32,
    /// Its start time (ticks since boot), to tell it from a later process with the same pid.
    pub start_time: u64,
}

impl PidFile {
    /// Encodes it.
    pub fn encode(&self) -> String {
        format!("{} {}\n", self.pid, self.start_time)
    }

    /// Decodes it; `None` when malformed.
    pub fn decode(text: &str) -> Option<PidFile> {
        let mut parts = text.split_whitespace();
        let pid = parts.next()?.parse().ok()?;
        let start_time = parts.next()?.parse().ok()?;
        Some(PidFile { pid, start_time })
    }

    /// The pid file of a running process.
    pub fn of(pid: i32) -> Option<PidFile> {
        Some(PidFile {
            pid,
            start_time: super::sys::start_time(pid)?,
        })
    }

    /// True while this very process still exists (not a reuse of its pid).
    pub fn alive(&self) -> bool {
        super::sys::start_time(self.pid) == Some(self.start_time)
    }
}

/// Replaces `path` with `contents` atomically.
pub fn write_atomic(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, contents)?;
    std::fs::rename(&tmp, path)
}

/// Reads a JSON file; `Ok(None)` when it does not exist.
pub fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::Corrupt {
                path: path.to_path_buf(),
                message: e.to_string(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(format!("reading {}", path.display()), e)),
    }
}

/// Writes a JSON file atomically.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(value)
        .map_err(|e| Error::io(format!("encoding {}", path.display()), std::io::Error::other(e)))?;
    write_atomic(path, &bytes).map_err(|e| Error::io(format!("writing {}", path.display()), e))
}

/// Reads a pid file; `None` when absent or malformed.
pub fn read_pid(path: &Path) -> Option<PidFile> {
    PidFile::decode(&std::fs::read_to_string(path).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use types::ContainerSpec;

    fn task(container: ContainerSpec) -> Task {
        types::testing::task("t1")
            .service("s", "web")
            .node("n")
            .container(container)
            .build()
    }

    #[test]
    fn validates_and_builds_the_launch() {
        let none = LaunchSpec::from_task(&task(ContainerSpec::default()), 1);
        assert!(matches!(none, Err(Error::NoCommand)));
        assert!(Error::NoCommand.to_string().contains("task has no command"));
        let spec = LaunchSpec::from_task(
            &task(ContainerSpec {
                command: vec!["/bin/sh".into()],
                args: vec!["-c".into(), "true".into()],
                env: vec!["A=1".into(), "PATH=/bin".into()],
                stop_signal: "SIGINT".into(),
                ..ContainerSpec::default()
            }),
            1,
        )
        .unwrap();
        assert_eq!(spec.argv, ["/bin/sh", "-c", "true"]);
        assert_eq!(spec.dir, "/");
        assert_eq!(spec.stop_signal, libc::SIGINT);
        assert!(
            spec.env.contains(&"PATH=/bin".to_string())
                && spec.env.iter().filter(|e| e.starts_with("PATH=")).count() == 1
        );
        let bad_dir = ContainerSpec {
            command: vec!["x".into()],
            dir: "/no/such/dir".into(),
            ..ContainerSpec::default()
        };
        assert!(
            LaunchSpec::from_task(&task(bad_dir), 1)
                .unwrap_err()
                .to_string()
                .contains("does not exist")
        );
        let bad_env = ContainerSpec {
            command: vec!["x".into()],
            env: vec!["NOEQUALS".into()],
            ..ContainerSpec::default()
        };
        assert!(LaunchSpec::from_task(&task(bad_env), 1).is_err());
        // Container features this executor cannot apply are refused, not dropped.
        let mounts = ContainerSpec {
            command: vec!["x".into()],
            extra: r#"{"Mounts":[{"Type":"tmpfs","Target":"/t"}]}"#.into(),
            ..ContainerSpec::default()
        };
        let err = LaunchSpec::from_task(&task(mounts), 1).unwrap_err();
        assert!(
            matches!(&err, Error::Invalid(m) if m.contains("ContainerSpec.Mounts")),
            "{err}"
        );
    }

    #[test]
    fn pid_files_round_trip() {
        let me = PidFile::of(std::process::id() as i32).unwrap();
        assert_eq!(PidFile::decode(&me.encode()), Some(me));
        assert!(me.alive());
        assert!(
            !PidFile {
                start_time: me.start_time + 1,
                ..me
            }
            .alive()
        );
        assert_eq!(PidFile::decode("12"), None);
    }
}
