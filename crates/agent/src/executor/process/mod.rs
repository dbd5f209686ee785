//! The process executor, shoal's embedded default: a task is `Command + Args` run as a plain
//! child process, with the spec's Env, Dir and User, limits through cgroups (v2 or v1) when the host
//! has it, captured stdout/stderr, health checks, and a per-task supervisor so tasks survive
//! agent restarts.
//!
//! ```text
//!  prepare ─► <state>/<task>/spec.json (+ cgroup with limits)
//!  start   ─► `shoal task-shim <dir>` ─► task process        (see shim.rs)
//!              └─ gated on the first passing health check, if the task has one
//!  wait    ─► exit.json once the shim's pidfd turns readable  (see handle.rs)
//!  agent restarts ─► reattach(): scan <state>/, resume watchers from the pid files
//! ```
//!
//! There is no image and no isolation beyond the process group and cgroup (and, for a task on
//! overlay networks, the network sandbox the agent made: `sandbox.rs`): this executor is for
//! trusted workloads and for running shoal where no container engine exists.

pub mod cgroup;
pub mod exec;
pub mod handle;
pub mod health;
pub mod launch;
pub mod sandbox;
pub mod shim;
pub mod sweep;
pub mod sys;
pub mod unsupported;
pub mod user;

#[cfg(test)]
mod corrupt_tests;
#[cfg(test)]
mod sandbox_tests;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;
use types::{ContainerStatus, Task};

use super::{Attached, EngineInfo, Error, Executor, Exit, Result, Sandbox};
use crate::logs::{LogLines, LogOptions};
use cgroup::Cgroups;
use handle::{TaskHandle, attach_all, read_logs, remove_dir};
use launch::{LaunchSpec, SPEC, read_json, write_json};

/// Environment variable that also carries the task directory to the supervisor (the test
/// harness's shim entry point reads it; the `shoal task-shim` subcommand takes an argument).
pub const SHIM_DIR_ENV: &str = "SHOAL_TASK_SHIM_DIR";

/// How to start a task supervisor: `program args… <task dir>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShimCommand {
    /// The executable (normally the `shoal` binary itself).
    pub program: PathBuf,
    /// Arguments before the task directory (normally `["task-shim"]`).
    pub args: Vec<String>,
}

impl ShimCommand {
    /// `<this executable> task-shim`: the `shoal` binary supervises its own tasks.
    pub fn current_exe() -> Result<ShimCommand> {
        let program = std::env::current_exe().map_err(|e| Error::io("locating the shoal binary", e))?;
        Ok(ShimCommand {
            program,
            args: vec!["task-shim".into()],
        })
    }
}

/// Settings of the process executor.
#[derive(Debug, Clone)]
pub struct ProcessConfig {
    /// Where task directories live, e.g. `<data-dir>/tasks`.
    pub state_dir: PathBuf,
    /// How to start supervisors.
    pub shim: ShimCommand,
    /// Where cgroups are mounted (`/sys/fs/cgroup`: the v2 hierarchy, or the v1 controllers'
    /// directories); `None` disables limits.
    pub cgroup_root: Option<PathBuf>,
    /// Log size per task before rotation (two files are kept).
    pub log_limit: u64,
    /// Engine labels to report.
    pub labels: BTreeMap<String, String>,
}

impl ProcessConfig {
    /// Defaults for a node whose data lives in `data_dir`.
    pub fn new(data_dir: &std::path::Path, shim: ShimCommand) -> ProcessConfig {
        ProcessConfig {
            state_dir: data_dir.join("tasks"),
            shim,
            cgroup_root: Some(PathBuf::from("/sys/fs/cgroup")),
            log_limit: crate::logs::writer::DEFAULT_LIMIT,
            labels: BTreeMap::new(),
        }
    }
}

/// Runs tasks as supervised native processes.
pub struct ProcessExecutor {
    config: ProcessConfig,
    cgroups: Option<Cgroups>,
    tasks: Mutex<HashMap<String, Arc<TaskHandle>>>,
    /// Ends every watcher when the executor goes away (the tasks keep running).
    cancel: CancellationToken,
}

impl Drop for ProcessExecutor {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

impl ProcessExecutor {
    /// An executor keeping task state under `config.state_dir` (created if missing). Log
    /// timestamps come from the supervisor's clock, so none is needed here.
    pub fn new(config: ProcessConfig) -> Result<ProcessExecutor> {
        std::fs::create_dir_all(&config.state_dir)
            .map_err(|e| Error::io(format!("creating {}", config.state_dir.display()), e))?;
        let cgroups = config.cgroup_root.as_deref().and_then(Cgroups::detect);
        Ok(ProcessExecutor {
            config,
            cgroups,
            tasks: Mutex::new(HashMap::new()),
            cancel: CancellationToken::new(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<TaskHandle>>> {
        // Every mutation is one insert or remove, so a poisoned map is still consistent.
        self.tasks.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn get(&self, id: &str) -> Result<Arc<TaskHandle>> {
        self.lock()
            .get(id)
            .cloned()
            .ok_or_else(|| Error::NotFound(id.to_string()))
    }

    fn task_dir(&self, id: &str) -> Result<PathBuf> {
        // IDs come from the manager; refuse anything that could leave the state directory.
        if id.is_empty()
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(Error::Invalid(format!("task ID {id:?} is not a plain name")));
        }
        Ok(self.config.state_dir.join(id))
    }

    /// The handle of the task in `dir`: a Swarm task's, whose health verdicts gate its start
    /// and stop it when unhealthy.
    fn handle(&self, dir: PathBuf, launch: LaunchSpec) -> Result<Arc<TaskHandle>> {
        TaskHandle::new(
            dir,
            launch,
            health::HealthPolicy::Swarm,
            self.cancel.child_token(),
        )
    }

    /// Loads a task directory left on disk and resumes watching it.
    fn load(&self, id: &str) -> Result<Option<Arc<TaskHandle>>> {
        let dir = self.task_dir(id)?;
        let Some(launch) = read_json::<LaunchSpec>(&dir.join(SPEC))? else {
            return Ok(None);
        };
        let handle = self.handle(dir, launch)?;
        handle.resume();
        Ok(Some(handle))
    }
}

#[async_trait]
impl Executor for ProcessExecutor {
    async fn describe(&self) -> Result<EngineInfo> {
        let host = crate::describe::describe_host(Some("-"), BTreeMap::new());
        Ok(EngineInfo {
            engine_version: format!("shoal-process {}", env!("CARGO_PKG_VERSION")),
            labels: self.config.labels.clone(),
            resources: host.resources,
        })
    }

    async fn prepare(&self, task: &Task) -> Result<()> {
        self.prepare_in(task, &Sandbox::default()).await
    }

    /// The task's process enters the sandbox's network namespace before exec and, given
    /// resolv.conf or hosts, a private mount namespace with them over the host's (`sandbox.rs`).
    async fn prepare_in(&self, task: &Task, sandbox: &Sandbox) -> Result<()> {
        if self.lock().contains_key(&task.id) {
            return Ok(());
        }
        let dir = self.task_dir(&task.id)?;
        let mut launch = LaunchSpec::from_task(task, self.config.log_limit)?;
        sandbox.check()?;
        sandbox::check_host(sandbox)?;
        launch.sandbox = sandbox.clone();
        if let Some(dir) = &sandbox.payload_dir {
            // A native process has no mount namespace of files: it finds its secrets and
            // configs (named by target) through these.
            launch
                .env
                .push(format!("SHOAL_SECRETS_DIR={}", dir.join("secrets").display()));
            launch
                .env
                .push(format!("SHOAL_CONFIGS_DIR={}", dir.join("configs").display()));
        }
        // Validate the health check now: a bad one rejects the task rather than failing it.
        health::HealthCheck::from_config(launch.healthcheck.as_ref())?;
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        if let Some(cgroups) = &self.cgroups {
            match cgroups.create(&task.id, &task.spec.resources.limits) {
                Ok(dirs) => launch.cgroups = dirs,
                Err(e) => {
                    tracing::info!(task = %task.id, error = %e, "no cgroup for task: limits not enforced")
                }
            }
        }
        if let Err(e) = write_json(&dir.join(SPEC), &launch) {
            // Only the spec names the cgroups: a node whose disk is full would otherwise keep
            // one per attempt at the task.
            cgroup::Cgroups::remove(&launch.cgroups).await;
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e);
        }
        let handle = self.handle(dir, launch)?;
        self.lock().entry(task.id.clone()).or_insert(handle);
        Ok(())
    }

    async fn start(&self, task_id: &str) -> Result<ContainerStatus> {
        let handle = self.get(task_id)?;
        handle.ensure_launched(&self.config.shim).await?;
        handle.wait_healthy().await?;
        Ok(handle.container())
    }

    async fn wait(&self, task_id: &str) -> Result<Exit> {
        let handle = self.get(task_id)?;
        if handle.phase() == super::Phase::Prepared {
            return Err(Error::State {
                task: task_id.to_string(),
                message: "wait before start".into(),
            });
        }
        Ok(handle.wait().await)
    }

    async fn shutdown(&self, task_id: &str) -> Result<Option<Exit>> {
        self.get(task_id)?.stop().await
    }

    async fn remove(&self, task_id: &str) -> Result<()> {
        let handle = self.lock().get(task_id).cloned();
        match handle {
            Some(handle) => {
                handle.stop().await?;
                handle.delete_files().await?;
                self.lock().remove(task_id);
                Ok(())
            }
            None => remove_dir(&self.task_dir(task_id)?),
        }
    }

    async fn reattach(&self) -> Result<Vec<Attached>> {
        attach_all(&self.config.state_dir, || self.lock(), |id| self.load(id))
    }

    async fn logs(&self, task_id: &str, options: LogOptions) -> Result<LogLines> {
        read_logs(&self.get(task_id)?, options).await
    }

    async fn details(&self, task_id: &str) -> Result<super::details::Details> {
        let handle = self.get(task_id)?;
        let cgroups = handle.launch.cgroups.clone();
        Ok(super::details::of_handle(&handle, cgroups))
    }

    async fn signal(&self, task_id: &str, signal: i32) -> Result<()> {
        self.get(task_id)?.signal(signal)
    }

    async fn exec(&self, task_id: &str, spec: &super::exec::ExecSpec) -> Result<super::exec::ExecProcess> {
        exec::start(&*self.get(task_id)?, spec)
    }
}
