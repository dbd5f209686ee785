//! The oci executor: a task is a container built from its image, run by youki's
//! `libcontainer` inside the task supervisor (`shoal task-shim`), so containers outlive the
//! agent exactly as the process executor's tasks do. It shares that executor's task
//! directory, supervisor, log files, exit record, stop and re-attach machinery
//! ([`TaskHandle`]); what differs is prepare (image, rootfs, runtime spec) and the runtime
//! call in the supervisor.
//!
//! ```text
//!  prepare ─► image (ImageSource) ─► rootfs: overlay(layers) + upper/work   (rootfs.rs)
//!          ─► bundle/config.json from TaskSpec + image config     (spec.rs, extras.rs, limits.rs, mounts.rs)
//!             in the agent's network sandbox, if any              (sandbox.rs)
//!          ─► spec.json (LaunchSpec with its oci part)
//!  start   ─► `shoal task-shim <dir>` ─► libcontainer create + start          (runtime.rs)
//!  remove  ─► stop ─► kill and remove its cgroups (cgroup_remove.rs) ─► delete container ─► unmount ─► delete dir
//!  exec    ─► `shoal exec-shim` joins the container's cgroups and namespaces, runs the command (exec.rs, enter.rs)
//! ```

pub mod cgroup_remove;
pub mod console;
mod console_replay;
pub mod enter;
pub mod exec;
pub mod extras;
pub mod image;
pub mod image_store;
pub mod limits;
pub mod mounts;
pub mod rootfs;
pub mod runtime;
pub mod sandbox;
pub mod seccomp;
pub mod spec;
pub mod stdin;
pub mod subpath;
pub mod sys;
pub mod terminal;

#[cfg(test)]
mod remove_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tty_tests;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;
use types::{ContainerStatus, Task};

use self::image::ImageSource;
use super::process::ShimCommand;
use super::process::handle::{TaskHandle, attach_all, read_logs, remove_dir};
use super::process::health::HealthPolicy;
use super::process::launch::{EXIT, HEALTH, LaunchSpec, SHIM_PID, SPEC, TASK_PID, read_json, write_json};
use super::{Attached, EngineInfo, Error, Executor, Exit, Result, Sandbox, stop_grace};
use crate::logs::{LogLines, LogOptions};
use runtime::OciLaunch;

/// Where the cgroup hierarchies are mounted (libcontainer creates the containers' cgroups there).
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// Settings of the oci executor.
#[derive(Clone)]
pub struct OciConfig {
    /// Where task directories live, e.g. `<data-dir>/containers`.
    pub state_dir: PathBuf,
    /// The container runtime's state (one directory per container).
    pub runtime_root: PathBuf,
    /// Named volumes (`<volumes>/<name>/_data`).
    pub volumes_dir: PathBuf,
    /// Cgroup parent of every container (`/<parent>/<task id>` in each hierarchy).
    pub cgroup_parent: String,
    /// How to start supervisors.
    pub shim: ShimCommand,
    /// The arguments that make `shim.program` the exec helper (`shoal exec-shim`, `enter.rs`)
    /// that execs and health checks run through.
    pub exec_shim_args: Vec<String>,
    /// Log size per task before rotation (two files are kept).
    pub log_limit: u64,
    /// Engine labels to report.
    pub labels: BTreeMap<String, String>,
    /// Where images come from.
    pub images: Arc<dyn ImageSource>,
    /// Told of each volume its mounts make or remove (the node's volume events).
    pub volume_observer: Option<crate::volumes::Observer>,
    /// The task directories of this node's other oci executor (swarm tasks for the
    /// standalone one, and back): their containers count as users of a volume too.
    pub peer_state_dirs: Vec<PathBuf>,
    /// What health checks do: Swarm's for tasks, dockerd's plain containers' for standalone
    /// ones (a start does not wait for a verdict, and unhealthy stops nothing).
    pub health: HealthPolicy,
}

impl OciConfig {
    /// Defaults for a node whose data lives in `data_dir`.
    pub fn new(data_dir: &Path, shim: ShimCommand, images: Arc<dyn ImageSource>) -> OciConfig {
        OciConfig {
            state_dir: data_dir.join("containers"),
            runtime_root: data_dir.join("runtime"),
            volumes_dir: data_dir.join("volumes"),
            cgroup_parent: "shoal".into(),
            shim,
            exec_shim_args: vec!["exec-shim".into()],
            log_limit: crate::logs::writer::DEFAULT_LIMIT,
            labels: BTreeMap::new(),
            images,
            volume_observer: None,
            peer_state_dirs: Vec::new(),
            health: HealthPolicy::Swarm,
        }
    }
}

/// Runs tasks as containers.
pub struct OciExecutor {
    config: OciConfig,
    /// The named volumes under `config.volumes_dir`.
    volumes: crate::volumes::VolumeStore,
    tasks: Mutex<HashMap<String, Arc<TaskHandle>>>,
    /// Ends every watcher when the executor goes away (the containers keep running).
    cancel: CancellationToken,
}

impl Drop for OciExecutor {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

impl OciExecutor {
    /// An executor keeping its state under the configured directories (created if missing).
    /// Containers need root: creating namespaces, mounts and cgroups is refused otherwise.
    pub fn new(config: OciConfig) -> Result<OciExecutor> {
        if super::process::sys::geteuid() != 0 {
            return Err(Error::Invalid(
                "the oci executor must run as root (it creates namespaces, mounts and cgroups); \
                 use --executor process otherwise"
                    .into(),
            ));
        }
        for dir in [&config.state_dir, &config.runtime_root, &config.volumes_dir] {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        }
        let volumes = crate::volumes::VolumeStore::open(&config.volumes_dir)
            .map_err(|e| Error::Invalid(format!("opening the volumes: {e}")))?
            .observed(config.volume_observer.clone());
        Ok(OciExecutor {
            config,
            volumes,
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
        // IDs come from the manager; refuse anything that could leave the state directory
        // (the runtime's container IDs allow no more than this either).
        if id.is_empty()
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(Error::Invalid(format!("task ID {id:?} is not a plain name")));
        }
        Ok(self.config.state_dir.join(id))
    }

    /// The handle of the task in `dir`, under this executor's health policy (Swarm's for
    /// tasks, dockerd's for standalone containers).
    fn handle(&self, dir: PathBuf, launch: LaunchSpec) -> Result<Arc<TaskHandle>> {
        TaskHandle::new(dir, launch, self.config.health, self.cancel.child_token())
    }

    fn load(&self, id: &str) -> Result<Option<Arc<TaskHandle>>> {
        let dir = self.task_dir(id)?;
        let Some(launch) = read_json::<LaunchSpec>(&dir.join(SPEC))? else {
            return Ok(None);
        };
        let handle = self.handle(dir, launch)?;
        handle.resume();
        Ok(Some(handle))
    }

    /// Builds the task's rootfs and bundle; on error the caller cleans up.
    async fn build(
        &self,
        task: &Task,
        dir: &Path,
        sandbox: &Sandbox,
        created_volumes: &std::sync::Mutex<Vec<String>>,
    ) -> Result<LaunchSpec> {
        let c = &task.spec.container;
        let extras = extras::parse(&c.extra)?;
        // With a terminal, input goes through it (`console.rs`), not through the FIFO.
        if c.open_stdin && !c.tty {
            stdin::make_fifo(dir)?;
        }
        if c.image.is_empty() {
            return Err(Error::Invalid("the task has no image".into()));
        }
        let image = self
            .config
            .images
            .ensure(&c.image, extras.registry_auth())
            .await?;
        let task_dir = dir.to_path_buf();
        let layers = image.layers.clone();
        tokio::task::spawn_blocking(move || rootfs::prepare(&task_dir, &layers))
            .await
            .map_err(|e| Error::Shim(format!("rootfs thread: {e}")))??;
        let rootfs = rootfs::rootfs_of(dir);
        let cgroups_path = format!("/{}/{}", self.config.cgroup_parent, task.id);
        let built = spec::build(&spec::Inputs {
            task,
            image: &image.config,
            extras: &extras,
            rootfs: &rootfs,
            volumes: &self.volumes,
            task_dir: dir,
            created_volumes,
            cgroups_path: &cgroups_path,
        })?;
        let mut oci_spec = built.spec;
        self::sandbox::apply(&mut oci_spec, sandbox)?;
        let bundle = dir.join(rootfs::BUNDLE);
        oci_spec
            .save(bundle.join("config.json"))
            .map_err(|e| Error::io("writing config.json", std::io::Error::other(e.to_string())))?;
        let user = oci_spec
            .process()
            .as_ref()
            .map(|p| p.user().clone())
            .unwrap_or_default();
        health_check_valid(built.healthcheck.as_ref())?;
        Ok(LaunchSpec {
            task_id: task.id.clone(),
            argv: built.argv,
            env: built.env,
            dir: "/".into(),
            uid: None,
            gid: None,
            cgroups: Vec::new(),
            log_limit: self.config.log_limit,
            stop_signal: built.stop_signal,
            grace_nanos: stop_grace(c.stop_grace_period).as_nanos() as u64,
            healthcheck: built.healthcheck,
            oci: Some(OciLaunch {
                bundle,
                state_root: self.config.runtime_root.clone(),
                task_dir: dir.to_path_buf(),
                uid: user.uid(),
                gid: user.gid(),
                cwd: built.cwd,
                stdin: (c.open_stdin && !c.tty).then_some(stdin::StdinPipe {
                    once: extras.stdin_once,
                }),
                tty: c.tty.then(|| extras.console_size()),
                exec_shim: Some(exec::ExecShim {
                    program: self.config.shim.program.clone(),
                    args: self.config.exec_shim_args.clone(),
                    cgroup_parent: self.config.cgroup_parent.clone(),
                }),
                anonymous_volumes: built.anonymous_volumes,
                volumes: built.volumes,
            }),
            sandbox: sandbox.clone(),
        })
    }

    /// Whether container `task_id` has a terminal (created with `TTY`).
    pub fn has_terminal(&self, task_id: &str) -> bool {
        self.get(task_id)
            .is_ok_and(|h| h.launch.oci.as_ref().is_some_and(|o| o.tty.is_some()))
    }

    /// The running container `task_id`'s terminal: its raw output and its input
    /// (`terminal.rs`). A replay waits for a start in progress to launch the container (not
    /// for its health check), so a client attached before the start sees all of its output.
    pub async fn console(&self, task_id: &str, want: terminal::Want) -> Result<terminal::Console> {
        if want == terminal::Want::Replay {
            self.get(task_id)?.wait_launched().await;
        }
        let dir = self.terminal_dir(task_id)?;
        terminal::attach(&dir, want).await
    }

    /// Sets the window size of the running container `task_id`'s terminal.
    pub async fn resize(&self, task_id: &str, height: u16, width: u16) -> Result<()> {
        let dir = self.terminal_dir(task_id)?;
        terminal::terminal(&dir)
            .await?
            .resize(height, width)
            .map_err(|e| Error::io(format!("resizing the terminal of task {task_id}"), e))
    }

    /// The task directory of `task_id` when it runs with a terminal.
    fn terminal_dir(&self, task_id: &str) -> Result<PathBuf> {
        let handle = self.get(task_id)?;
        if handle.launch.oci.as_ref().is_none_or(|o| o.tty.is_none()) {
            return Err(Error::Invalid(format!("container of task {task_id} has no TTY")));
        }
        if handle.phase() != super::Phase::Running {
            return Err(exec::not_running(task_id));
        }
        self.task_dir(task_id)
    }

    /// Frees clients waiting to write to the stdin of `task_id`, which has exited.
    pub fn release_stdin(&self, task_id: &str) {
        if let Ok(dir) = self.task_dir(task_id) {
            stdin::release(&dir);
        }
    }

    /// Makes the exited container `task_id` ready to start again with what it had: its
    /// writable layer (the rootfs stays mounted), its logs (the next run appends) and its
    /// spec — what `docker start` of a stopped container, and `docker restart`, keep on
    /// dockerd. The runtime's container (state, cgroups) and the run's records go; a fresh
    /// handle takes the task's place.
    pub async fn rerun(&self, task_id: &str) -> Result<()> {
        let handle = self.get(task_id)?;
        match handle.phase() {
            super::Phase::Exited(_) => {}
            super::Phase::Prepared => return Ok(()),
            super::Phase::Running => {
                return Err(Error::State {
                    task: task_id.to_string(),
                    message: "container is running".into(),
                });
            }
        }
        handle.cancel();
        let dir = self.task_dir(task_id)?;
        self.remove_cgroups(task_id).await?;
        let (root, id) = (self.config.runtime_root.clone(), task_id.to_string());
        tokio::task::spawn_blocking(move || runtime::delete(&root, &id))
            .await
            .map_err(|e| Error::Shim(format!("cleanup thread: {e}")))??;
        for record in [EXIT, SHIM_PID, TASK_PID, HEALTH] {
            match std::fs::remove_file(dir.join(record)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(Error::io(format!("removing {record} of task {task_id}"), e));
                }
                _ => {}
            }
        }
        let fresh = self.handle(dir, handle.launch.clone())?;
        self.lock().insert(task_id.to_string(), fresh);
        Ok(())
    }

    /// Removes container `task_id` and, with `volumes` (`docker rm -v`, AutoRemove, and
    /// always for swarm tasks), the anonymous volumes its mounts made, as dockerd does; named
    /// volumes stay.
    pub async fn remove_container(&self, task_id: &str, volumes: bool) -> Result<()> {
        let dir = self.task_dir(task_id)?;
        let handle = self.lock().get(task_id).cloned();
        let launch = match &handle {
            Some(handle) => Some(handle.launch.clone()),
            None => read_json::<LaunchSpec>(&dir.join(SPEC)).ok().flatten(),
        };
        if let Some(handle) = &handle {
            handle.stop().await?;
            handle.cancel();
        }
        stdin::release(&dir);
        self.destroy(task_id, &dir).await?;
        self.lock().remove(task_id);
        let anonymous = launch
            .and_then(|l| l.oci)
            .map(|o| o.anonymous_volumes)
            .unwrap_or_default();
        if volumes {
            for name in anonymous {
                // dockerd keeps an anonymous volume that another container mounts (by its
                // name), and says nothing: that container's data stays.
                if let Some(user) = self.volume_user(&name, task_id) {
                    tracing::debug!(task = %task_id, volume = %name, user = %user, "anonymous volume kept: still in use");
                    continue;
                }
                match self.volumes.remove(&name) {
                    Ok(_) | Err(crate::volumes::Error::Rule(types::volume::VolumeError::NotFound(_))) => {}
                    Err(e) => {
                        tracing::warn!(task = %task_id, volume = %name, "removing an anonymous volume: {e}");
                    }
                }
            }
        }
        Ok(())
    }

    /// A container of this node other than `task_id` that mounts volume `name`, if any: read
    /// from the launch specs of this executor's task directories and its peer's.
    fn volume_user(&self, name: &str, task_id: &str) -> Option<String> {
        let dirs = std::iter::once(&self.config.state_dir).chain(&self.config.peer_state_dirs);
        for dir in dirs {
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let id = entry.file_name().to_string_lossy().into_owned();
                if id == task_id {
                    continue;
                }
                let Ok(Some(spec)) = read_json::<LaunchSpec>(&entry.path().join(SPEC)) else {
                    continue;
                };
                if spec
                    .oci
                    .is_some_and(|o| o.volumes.iter().chain(&o.anonymous_volumes).any(|v| v == name))
                {
                    return Some(id);
                }
            }
        }
        None
    }

    /// Kills what is left in the container's cgroups and removes them, waiting for slow
    /// exits, before the runtime's delete (whose own removal gives up 40 ms after its kill:
    /// `cgroup_remove.rs`).
    async fn remove_cgroups(&self, task_id: &str) -> Result<()> {
        let dirs = super::details::cgroup_dirs(Path::new(CGROUP_ROOT), &self.config.cgroup_parent, task_id);
        cgroup_remove::remove(&dirs, cgroup_remove::LIMIT).await
    }

    /// Deletes the container, its rootfs mount and the task directory.
    async fn destroy(&self, id: &str, dir: &Path) -> Result<()> {
        self.remove_cgroups(id).await?;
        let root = self.config.runtime_root.clone();
        let (id, dir2) = (id.to_string(), dir.to_path_buf());
        tokio::task::spawn_blocking(move || {
            runtime::delete(&root, &id)?;
            subpath::release(&dir2)?;
            rootfs::release(&dir2)
        })
        .await
        .map_err(|e| Error::Shim(format!("cleanup thread: {e}")))??;
        remove_dir(dir)
    }
}

/// A bad health check rejects the task at prepare rather than failing it later.
fn health_check_valid(config: Option<&types::HealthConfig>) -> Result<()> {
    super::process::health::HealthCheck::from_config(config).map(|_| ())
}

#[async_trait]
impl Executor for OciExecutor {
    async fn describe(&self) -> Result<EngineInfo> {
        let host = crate::describe::describe_host(Some("-"), BTreeMap::new());
        Ok(EngineInfo {
            engine_version: format!("shoal-oci {}", env!("CARGO_PKG_VERSION")),
            labels: self.config.labels.clone(),
            resources: host.resources,
        })
    }

    async fn prepare(&self, task: &Task) -> Result<()> {
        self.prepare_in(task, &Sandbox::default()).await
    }

    /// The container joins the sandbox's network namespace and gets its resolv.conf and
    /// hosts (`sandbox.rs`).
    async fn prepare_in(&self, task: &Task, sandbox: &Sandbox) -> Result<()> {
        if self.lock().contains_key(&task.id) {
            return Ok(());
        }
        let dir = self.task_dir(&task.id)?;
        sandbox.check()?;
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
        let created_volumes = std::sync::Mutex::new(Vec::new());
        let launch = match self.build(task, &dir, sandbox, &created_volumes).await {
            Ok(launch) => launch,
            Err(e) => {
                if let Err(clean) = self.destroy(&task.id, &dir).await {
                    tracing::warn!(task = %task.id, error = %clean, "cleaning up a failed prepare");
                }
                // Anonymous volumes are this container's alone: a prepare that made some
                // before failing takes them back (ones an earlier run left stay).
                let created = created_volumes.into_inner().unwrap_or_else(|p| p.into_inner());
                for name in created {
                    let _ = self.volumes.remove(&name);
                }
                return Err(e);
            }
        };
        write_json(&dir.join(SPEC), &launch)?;
        let handle = self.handle(dir, launch)?;
        self.lock().entry(task.id.clone()).or_insert(handle);
        Ok(())
    }

    async fn start(&self, task_id: &str) -> Result<ContainerStatus> {
        let handle = self.get(task_id)?;
        handle.ensure_launched(&self.config.shim).await?;
        if self.config.health == HealthPolicy::Swarm {
            handle.wait_healthy().await?;
        }
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

    /// Swarm's executor removes a task's container with its anonymous volumes.
    async fn remove(&self, task_id: &str) -> Result<()> {
        self.remove_container(task_id, true).await
    }

    async fn reattach(&self) -> Result<Vec<Attached>> {
        attach_all(&self.config.state_dir, || self.lock(), |id| self.load(id))
    }

    async fn logs(&self, task_id: &str, options: LogOptions) -> Result<LogLines> {
        read_logs(&self.get(task_id)?, options).await
    }

    async fn details(&self, task_id: &str) -> Result<super::details::Details> {
        let handle = self.get(task_id)?;
        let cgroups =
            super::details::cgroup_dirs(Path::new(CGROUP_ROOT), &self.config.cgroup_parent, task_id);
        Ok(super::details::of_handle(&handle, cgroups))
    }

    async fn signal(&self, task_id: &str, signal: i32) -> Result<()> {
        self.get(task_id)?.signal(signal)
    }

    async fn exec(&self, task_id: &str, spec: &super::exec::ExecSpec) -> Result<super::exec::ExecProcess> {
        exec::start(
            &*self.get(task_id)?,
            &self.config.shim,
            &self.config.cgroup_parent,
            spec,
        )
    }

    /// The FIFO of `stdin.rs`; a writer opened before the start waits for it.
    fn stdin(&self, task_id: &str) -> Result<Box<dyn tokio::io::AsyncWrite + Send + Unpin>> {
        let handle = self.get(task_id)?;
        match handle.launch.oci.as_ref().and_then(|o| o.stdin) {
            Some(_) => Ok(stdin::writer(self.task_dir(task_id)?)),
            None => Err(Error::Invalid(format!(
                "container of task {task_id} was not created with stdin open (docker run -i)"
            ))),
        }
    }

    async fn terminal_attach(&self, task_id: &str, want: terminal::Want) -> Result<terminal::Console> {
        self.console(task_id, want).await
    }

    async fn terminal_resize(&self, task_id: &str, height: u16, width: u16) -> Result<()> {
        self.resize(task_id, height, width).await
    }
}
