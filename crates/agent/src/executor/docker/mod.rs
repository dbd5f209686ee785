//! The docker executor: a task is a container on the local dockerd, reached over its unix
//! socket with bollard, mapped and labelled as Swarm's own executor does (`spec.rs`).
//! dockerd keeps the containers and their logs, so the agent holds no state of its own: after
//! a restart [`DockerExecutor::reattach`] finds this node's task containers by their labels.
//!
//! ```text
//!  prepare  ─► image present? else pull (PullOptions.RegistryAuth) ─► create `<service>.<slot>.<task>`
//!             (prepare_in: network mode `none` plus the sandbox's resolv.conf and hosts bind-mounted;
//!              the agent attaches endpoints to /proc/<pid>/ns/net once start returned the pid)
//!  start    ─► start ─► monitor (wait + health events, monitor.rs); returns with the pid
//!  ready    ─► the monitor's first healthy (after the agent attached the endpoints, so the
//!              check may use the overlay)
//!  wait     ─► the monitor's exit (code, OOM, unhealthy)
//!  shutdown ─► stop (the container's StopSignal, then SIGKILL after StopTimeout)
//!  remove   ─► shutdown ─► remove (with anonymous volumes)
//!  logs     ─► dockerd's log stream (logs.rs)
//! ```

pub mod details;
pub mod logs;
pub mod monitor;
pub mod spec;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use base64::Engine as _;
use bollard::Docker;
use bollard::auth::DockerCredentials;
use bollard::models::{ContainerInspectResponse, ContainerStateStatusEnum};
use bollard::query_parameters::{
    CreateContainerOptions, CreateImageOptions, ListContainersOptions, RemoveContainerOptions,
};
use futures::{StreamExt, TryStreamExt};
use tokio_util::sync::CancellationToken;
use types::{ContainerStatus, Resources, Task};

use self::monitor::{Monitor, Watched};
use super::{Attached, EngineInfo, Error, Executor, Exit, Phase, Result, Sandbox};
use crate::logs::{LogLines, LogOptions};

/// The engine socket when none is given.
pub const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";

/// Settings of the docker executor.
#[derive(Debug, Clone)]
pub struct DockerConfig {
    /// dockerd's socket: `unix:///path` or a plain path.
    pub host: String,
    /// This node's ID: the `com.docker.swarm.node.id` label of its containers.
    pub node_id: String,
    /// Engine labels to report.
    pub labels: BTreeMap<String, String>,
}

/// Runs tasks as containers on dockerd.
pub struct DockerExecutor {
    docker: Docker,
    config: DockerConfig,
    tasks: Mutex<HashMap<String, Arc<Tracked>>>,
    /// Ends every watch when the executor goes away (the containers keep running).
    cancel: CancellationToken,
}

impl Drop for DockerExecutor {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// A task's container and, once it started, its watch.
struct Tracked {
    container: String,
    monitor: Mutex<Option<Arc<Monitor>>>,
    /// Created by this executor and not started yet: `start` needs no inspect to know it.
    fresh: std::sync::atomic::AtomicBool,
}

impl DockerExecutor {
    /// Connects to dockerd, agreeing on an API version both speak.
    pub async fn connect(config: DockerConfig) -> Result<DockerExecutor> {
        let path = socket_path(&config.host)?;
        // The timeout bounds the wait for response headers only; dockerd sends those at once
        // even for waits, event streams and followed logs.
        let docker = Docker::connect_with_unix(&path, 300, bollard::API_DEFAULT_VERSION)
            .map_err(|e| Error::Engine(format!("connecting to dockerd at {path}: {e}")))?
            .negotiate_version()
            .await
            .map_err(|e| Error::Engine(format!("dockerd at {path} does not answer: {e}")))?;
        Ok(DockerExecutor {
            docker,
            config,
            tasks: Mutex::new(HashMap::new()),
            cancel: CancellationToken::new(),
        })
    }

    /// An executor whose every call fails: the conformance harness's stand-in where no
    /// dockerd can start (its scenarios are all skipped, with the reason printed).
    #[cfg(test)]
    fn offline(config: DockerConfig) -> DockerExecutor {
        // Any existing path passes the client's check; nothing is ever sent to it.
        let docker = Docker::connect_with_unix("/dev/null", 1, bollard::API_DEFAULT_VERSION)
            .expect("/dev/null exists");
        DockerExecutor {
            docker,
            config,
            tasks: Mutex::new(HashMap::new()),
            cancel: CancellationToken::new(),
        }
    }

    /// The bollard client (shared with callers that talk to the same dockerd).
    pub fn client(&self) -> &Docker {
        &self.docker
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Tracked>>> {
        // Every mutation is one insert or remove, so a poisoned map is still consistent.
        self.tasks.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn get(&self, task_id: &str) -> Result<Arc<Tracked>> {
        self.lock()
            .get(task_id)
            .cloned()
            .ok_or_else(|| Error::NotFound(task_id.to_string()))
    }

    fn track(&self, task_id: &str, container: String) -> Arc<Tracked> {
        self.lock()
            .entry(task_id.to_string())
            .or_insert_with(|| {
                Arc::new(Tracked {
                    container,
                    monitor: Mutex::new(None),
                    fresh: false.into(),
                })
            })
            .clone()
    }

    /// Creates the task's container (pulling its image if needed), in `sandbox` when given.
    async fn create(&self, task: &Task, sandbox: Option<&Sandbox>) -> Result<()> {
        if self.lock().contains_key(&task.id) {
            return Ok(());
        }
        let began = tokio::time::Instant::now();
        let create = spec::build(task, &self.config.node_id, sandbox)?;
        let image = create.body.image.clone().unwrap_or_default();
        let options = CreateContainerOptions {
            name: Some(create.name.clone()),
            ..CreateContainerOptions::default()
        };
        // As `docker run` does: the create first, a pull only when dockerd lacks the image
        // (no image inspect per task; a node's replicas share their image).
        let mut imaged = std::time::Duration::ZERO;
        let mut created = self
            .docker
            .create_container(Some(options.clone()), create.body.clone())
            .await;
        if let Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) = &created {
            let pulling = tokio::time::Instant::now();
            self.ensure_image(&image, create.registry_auth.as_deref()).await?;
            imaged = pulling.elapsed();
            created = self.docker.create_container(Some(options), create.body).await;
        }
        let (id, created_now) = match created {
            Ok(created) => (created.id, true),
            // Prepared before an agent restart that lost track of it: the same task's
            // container is reused; anyone else's is a conflict.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 409,
                message,
            }) => match self.find(&task.id).await? {
                Some(id) => (id, false),
                None => return Err(Error::Engine(format!("creating {}: {message}", create.name))),
            },
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 400,
                message,
            }) => {
                return Err(Error::Invalid(format!(
                    "dockerd refused the container: {message}"
                )));
            }
            Err(e) => return Err(engine_error("creating the container", e)),
        };
        self.track(&task.id, id)
            .fresh
            .store(created_now, std::sync::atomic::Ordering::Release);
        tracing::debug!(
            task = %task.id,
            image_ms = imaged.as_millis() as u64,
            create_ms = (began.elapsed() - imaged).as_millis() as u64,
            "docker executor: container created"
        );
        Ok(())
    }

    async fn inspect(&self, container: &str) -> Result<ContainerInspectResponse> {
        self.docker
            .inspect_container(container, None)
            .await
            .map_err(|e| engine_error("inspecting the container", e))
    }

    /// The container's watch, started on first use.
    fn monitor(&self, t: &Tracked, inspected: &ContainerInspectResponse) -> Arc<Monitor> {
        let mut slot = t.monitor.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(m) = slot.as_ref() {
            return m.clone();
        }
        let config = inspected.config.as_ref();
        let watched = Watched {
            id: t.container.clone(),
            has_check: has_check(inspected),
            created: inspected
                .created
                .as_deref()
                .and_then(|c| chrono::DateTime::parse_from_rfc3339(c).ok())
                .map(|c| c.timestamp())
                .unwrap_or(0),
            grace: config
                .and_then(|c| c.stop_timeout)
                .unwrap_or(super::DEFAULT_STOP_GRACE.as_secs() as i64),
        };
        let m = Monitor::spawn(self.docker.clone(), watched, self.cancel.child_token());
        *slot = Some(m.clone());
        m
    }

    /// Pulls `image` unless dockerd has it.
    async fn ensure_image(&self, image: &str, registry_auth: Option<&str>) -> Result<()> {
        match self.docker.inspect_image(image).await {
            Ok(_) => return Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => {}
            Err(e) => return Err(engine_error("inspecting the image", e)),
        }
        let credentials = registry_auth.map(decode_auth).transpose()?;
        let (name, tag) = split_tag(image);
        let options = CreateImageOptions {
            from_image: Some(name.to_string()),
            tag: Some(tag.to_string()),
            ..CreateImageOptions::default()
        };
        self.docker
            .create_image(Some(options), None, credentials)
            .try_for_each(|_| futures::future::ready(Ok(())))
            .await
            .map_err(|e| Error::Image(format!("pulling {image}: {}", server_message(&e))))
    }

    /// Finds a task's container by its labels (a task this executor does not track).
    async fn find(&self, task_id: &str) -> Result<Option<String>> {
        let found = self.list(Some(task_id)).await?;
        Ok(found.into_iter().next().map(|(_, id)| id))
    }

    /// This node's task containers as (task ID, container ID).
    async fn list(&self, task_id: Option<&str>) -> Result<Vec<(String, String)>> {
        let mut labels = vec![format!("{}={}", spec::NODE_ID, self.config.node_id)];
        labels.push(match task_id {
            Some(id) => format!("{}={id}", spec::TASK_ID),
            None => spec::TASK_ID.to_string(),
        });
        let options = ListContainersOptions {
            all: true,
            filters: Some([("label".to_string(), labels)].into()),
            ..ListContainersOptions::default()
        };
        let found = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(|e| engine_error("listing containers", e))?;
        Ok(found
            .into_iter()
            .filter_map(|c| {
                let task = c.labels.as_ref()?.get(spec::TASK_ID)?.clone();
                Some((task, c.id?))
            })
            .collect())
    }
}

#[async_trait]
impl Executor for DockerExecutor {
    async fn describe(&self) -> Result<EngineInfo> {
        let info = self
            .docker
            .info()
            .await
            .map_err(|e| engine_error("reading dockerd's info", e))?;
        Ok(EngineInfo {
            engine_version: format!("docker {}", info.server_version.unwrap_or_default()),
            labels: self.config.labels.clone(),
            resources: Resources {
                nano_cpus: info.ncpu.unwrap_or(0).saturating_mul(1_000_000_000),
                memory_bytes: info.mem_total.unwrap_or(0),
            },
        })
    }

    async fn prepare(&self, task: &Task) -> Result<()> {
        self.create(task, None).await
    }

    /// The sandbox's resolv.conf and hosts are bind-mounted into the container; a namespace
    /// path is refused (see [`Executor::makes_own_netns`]).
    async fn prepare_in(&self, task: &Task, sandbox: &Sandbox) -> Result<()> {
        if sandbox.netns.is_none() {
            sandbox.check()?;
        }
        self.create(task, Some(sandbox)).await
    }

    /// dockerd makes each container's network namespace (network mode `none`); the agent
    /// attaches the task's endpoints to `/proc/<pid>/ns/net`, the pid being the one `start`
    /// returns.
    fn makes_own_netns(&self) -> bool {
        true
    }

    async fn start(&self, task_id: &str) -> Result<ContainerStatus> {
        let t = self.get(task_id)?;
        let began = tokio::time::Instant::now();
        // A container this executor just created needs no inspect to know it never started;
        // one it re-attached to (or whose start failed) is looked at first, so an exited task
        // is never run again.
        let fresh = t.fresh.swap(false, std::sync::atomic::Ordering::AcqRel);
        let never_started =
            fresh || status(&self.inspect(&t.container).await?) == ContainerStateStatusEnum::CREATED;
        let looked = began.elapsed();
        if never_started {
            self.docker
                .start_container(&t.container, None)
                .await
                .map_err(|e| engine_error("starting the container", e))?;
        }
        let inspected = self.inspect(&t.container).await?;
        self.monitor(&t, &inspected);
        tracing::debug!(
            task = %task_id,
            inspect_ms = looked.as_millis() as u64,
            start_ms = (began.elapsed() - looked).as_millis() as u64,
            "docker executor: container started"
        );
        Ok(container_status(&t.container, &inspected))
    }

    /// Waits for the first healthy check; the health events are the monitor's, which `start`
    /// (or `reattach`) began, so a pass before this call is not missed.
    async fn ready(&self, task_id: &str) -> Result<()> {
        let t = self.get(task_id)?;
        let watching = t.monitor.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let monitor = match watching {
            Some(m) => m,
            None => {
                let inspected = self.inspect(&t.container).await?;
                if status(&inspected) == ContainerStateStatusEnum::CREATED {
                    return Err(Error::State {
                        task: task_id.to_string(),
                        message: "ready before start".into(),
                    });
                }
                self.monitor(&t, &inspected)
            }
        };
        if monitor.has_check() {
            let began = tokio::time::Instant::now();
            monitor.healthy().await?;
            tracing::debug!(
                task = %task_id,
                healthy_ms = began.elapsed().as_millis() as u64,
                "docker executor: container healthy"
            );
        }
        Ok(())
    }

    async fn wait(&self, task_id: &str) -> Result<Exit> {
        let t = self.get(task_id)?;
        let inspected = self.inspect(&t.container).await?;
        if status(&inspected) == ContainerStateStatusEnum::CREATED {
            return Err(Error::State {
                task: task_id.to_string(),
                message: "wait before start".into(),
            });
        }
        Ok(self.monitor(&t, &inspected).wait().await)
    }

    async fn shutdown(&self, task_id: &str) -> Result<Option<Exit>> {
        let t = self.get(task_id)?;
        let inspected = self.inspect(&t.container).await?;
        if status(&inspected) == ContainerStateStatusEnum::CREATED {
            return Ok(None);
        }
        let monitor = self.monitor(&t, &inspected);
        // Without `t` dockerd uses the container's own StopSignal and StopTimeout.
        match self.docker.stop_container(&t.container, None).await {
            Ok(()) | Err(bollard::errors::Error::DockerResponseServerError { status_code: 304, .. }) => {}
            Err(e) => return Err(engine_error("stopping the container", e)),
        }
        Ok(Some(monitor.wait().await))
    }

    async fn remove(&self, task_id: &str) -> Result<()> {
        let tracked = self.lock().get(task_id).map(|t| t.container.clone());
        let container = match tracked.clone() {
            Some(c) => Some(c),
            None => self.find(task_id).await?,
        };
        if let Some(container) = container {
            if tracked.is_some() {
                self.shutdown(task_id).await?;
            }
            let options = RemoveContainerOptions {
                force: true,
                v: true,
                ..RemoveContainerOptions::default()
            };
            match self.docker.remove_container(&container, Some(options)).await {
                Ok(()) | Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => {}
                // A removal already under way (the runner's, as the task left the node's
                // assignments too): done once dockerd says the container is removed.
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 409,
                    message,
                }) if message.contains("already in progress") => {
                    let options = bollard::query_parameters::WaitContainerOptions {
                        condition: "removed".into(),
                    };
                    // Its end (or a 404: gone already) is all that is wanted.
                    let _ = self.docker.wait_container(&container, Some(options)).next().await;
                }
                Err(e) => return Err(engine_error("removing the container", e)),
            }
        }
        self.lock().remove(task_id);
        Ok(())
    }

    async fn reattach(&self) -> Result<Vec<Attached>> {
        let mut attached = Vec::new();
        for (task_id, container) in self.list(None).await? {
            let t = self.track(&task_id, container);
            let inspected = match self.docker.inspect_container(&t.container, None).await {
                Ok(i) => i,
                // Removed between the list and now: nothing to attach to.
                Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => {
                    self.lock().remove(&task_id);
                    continue;
                }
                Err(e) => return Err(engine_error("inspecting the container", e)),
            };
            let phase = match status(&inspected) {
                ContainerStateStatusEnum::CREATED => Phase::Prepared,
                ContainerStateStatusEnum::EXITED | ContainerStateStatusEnum::DEAD => {
                    Phase::Exited(exit_of(&inspected))
                }
                _ => {
                    self.monitor(&t, &inspected);
                    Phase::Running
                }
            };
            attached.push(Attached {
                task_id,
                phase,
                container: container_status(&t.container, &inspected),
            });
        }
        Ok(attached)
    }

    async fn logs(&self, task_id: &str, options: LogOptions) -> Result<LogLines> {
        let t = self.get(task_id)?;
        logs::read(&self.docker, &t.container, options).await
    }

    /// From dockerd's inspect; the pid is the one the agent attaches overlay endpoints to.
    async fn details(&self, task_id: &str) -> Result<super::details::Details> {
        let t = self.get(task_id)?;
        Ok(details::of_inspect(&self.inspect(&t.container).await?))
    }
}

/// Reads a stopped container's exit; `None` while it runs (or never ran).
pub(crate) async fn inspect_exit(docker: &Docker, container: &str) -> Result<Option<Exit>> {
    let inspected = docker
        .inspect_container(container, None)
        .await
        .map_err(|e| engine_error("inspecting the container", e))?;
    Ok(match status(&inspected) {
        ContainerStateStatusEnum::EXITED | ContainerStateStatusEnum::DEAD => Some(exit_of(&inspected)),
        _ => None,
    })
}

fn status(inspected: &ContainerInspectResponse) -> ContainerStateStatusEnum {
    inspected
        .state
        .as_ref()
        .and_then(|s| s.status)
        .unwrap_or(ContainerStateStatusEnum::EMPTY)
}

/// dockerd reports only the exit status; like a shell, a status of 128 + N (N a signal
/// number) is read as death by signal N.
fn exit_of(inspected: &ContainerInspectResponse) -> Exit {
    let state = inspected.state.as_ref();
    let code = state.and_then(|s| s.exit_code).unwrap_or(-1);
    let base = if (129..=128 + 64).contains(&code) {
        Exit::signalled((code - 128) as i32)
    } else {
        Exit::code(code)
    };
    Exit {
        oom_killed: state.and_then(|s| s.oom_killed).unwrap_or(false),
        ..base
    }
}

fn has_check(inspected: &ContainerInspectResponse) -> bool {
    inspected
        .config
        .as_ref()
        .and_then(|c| c.healthcheck.as_ref())
        .and_then(|h| h.test.as_ref())
        .and_then(|t| t.first())
        .is_some_and(|first| first != "NONE")
}

fn container_status(container: &str, inspected: &ContainerInspectResponse) -> ContainerStatus {
    let state = inspected.state.as_ref();
    let exited = matches!(
        status(inspected),
        ContainerStateStatusEnum::EXITED | ContainerStateStatusEnum::DEAD
    );
    ContainerStatus {
        container_id: container.to_string(),
        pid: state.and_then(|s| s.pid).unwrap_or(0),
        exit_code: exited.then(|| state.and_then(|s| s.exit_code).unwrap_or(-1)),
    }
}

/// `unix:///path` or `/path` → `/path`; other transports are refused (no TLS client here).
fn socket_path(host: &str) -> Result<String> {
    let path = host.strip_prefix("unix://").unwrap_or(host);
    if !path.starts_with('/') {
        return Err(Error::Invalid(format!(
            "docker host {host:?}: only a local unix socket (unix:///path) is supported"
        )));
    }
    Ok(path.to_string())
}

/// `name[:tag]` → (name, tag or `latest`); dockerd pulls every tag of a bare name.
fn split_tag(image: &str) -> (&str, &str) {
    if image.contains('@') {
        return (image, "");
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.rfind(':') {
        Some(i) => {
            let at = image.len() - last.len() + i;
            (&image[..at], &image[at + 1..])
        }
        None => (image, "latest"),
    }
}

/// The base64 JSON of `X-Registry-Auth` as bollard's credentials.
fn decode_auth(auth: &str) -> Result<DockerCredentials> {
    let text = auth.trim();
    let bytes = base64::engine::general_purpose::URL_SAFE
        .decode(text)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')))
        .or_else(|_| base64::engine::general_purpose::STANDARD.decode(text))
        .map_err(|e| Error::Invalid(format!("PullOptions.RegistryAuth is not base64: {e}")))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| Error::Invalid(format!("PullOptions.RegistryAuth is not credentials JSON: {e}")))
}

/// dockerd's own words when it answered, else the transport error.
fn server_message(e: &bollard::errors::Error) -> String {
    match e {
        bollard::errors::Error::DockerResponseServerError { message, .. } => message.clone(),
        bollard::errors::Error::DockerStreamError { error } => error.clone(),
        other => other.to_string(),
    }
}

/// An engine failure with what we were doing.
pub(crate) fn engine_error(context: &str, e: bollard::errors::Error) -> Error {
    Error::Engine(format!("{context}: {}", server_message(&e)))
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn image_names_get_a_tag() {
        assert_eq!(split_tag("busybox"), ("busybox", "latest"));
        assert_eq!(split_tag("localhost:5000/bb"), ("localhost:5000/bb", "latest"));
        assert_eq!(split_tag("localhost:5000/bb:1"), ("localhost:5000/bb", "1"));
        assert!(socket_path("tcp://1.2.3.4:2375").is_err());
        assert_eq!(socket_path("unix:///run/d.sock").unwrap(), "/run/d.sock");
        let auth = base64::engine::general_purpose::URL_SAFE.encode(br#"{"username":"u","password":"p"}"#);
        assert_eq!(decode_auth(&auth).unwrap().username.as_deref(), Some("u"));
    }
}
