//! The node's task containers behind `/containers/*`: the worker's tasks with what the
//! executor knows of each (see `agent::executor::details`), their logs, signals and exits.
//! Stats and `top` read the container's cgroups and run `ps` (`container_stats.rs`).

use std::sync::Arc;

use api::containers::{ContainerStatus, ContainerView, container_id};
use api::{LogLine, LogOptions, LogStream};
use futures::StreamExt;
use futures::stream::BoxStream;
use rules::Error;

use super::swarm::{Local, Swarm};

type Result<T> = std::result::Result<T, Error>;

impl Swarm {
    /// The node's task side, while the node is in a swarm.
    pub(super) fn node_tasks(&self) -> Option<Arc<dyn agent::Tasks>> {
        let swarm = match self.local() {
            Local::Active(node) => Some(node.tasks().clone()),
            _ => None,
        };
        // Standalone containers (`docker run`) are served beside the tasks, in a swarm or not.
        let standalone = self.standalone.get().cloned();
        if swarm.is_none() && standalone.is_none() {
            return None;
        }
        Some(Arc::new(super::standalone::merged::Merged { swarm, standalone }))
    }

    /// Every task container this node holds.
    pub(crate) async fn container_views(&self) -> Vec<ContainerView> {
        let Some(tasks) = self.node_tasks() else {
            return Vec::new();
        };
        let read_at = self.clock.now();
        let store = self.image_store().ok();
        let standalone = self.standalone.get().cloned();
        let views = match self.local() {
            Local::Active(node) => match node.tasks().node_network().await {
                Some(layer) => Some(layer.views().await),
                None => None,
            },
            _ => None,
        };
        tasks
            .containers()
            .await
            .into_iter()
            .map(|(task, d)| {
                let (status, exit_code, error) = match &d.phase {
                    agent::executor::Phase::Prepared => (ContainerStatus::Created, 0, String::new()),
                    agent::executor::Phase::Running => (ContainerStatus::Running, 0, String::new()),
                    agent::executor::Phase::Exited(exit) => (
                        ContainerStatus::Exited,
                        exit.code,
                        exit.lost.clone().unwrap_or_default(),
                    ),
                };
                let image_id = store
                    .and_then(|s| s.resolve(&task.spec.container.image).ok())
                    .map(|i| i.id.to_string())
                    .unwrap_or_default();
                let networks = match (&standalone, &views) {
                    (Some(s), Some(views)) => standalone_networks(views, &s.networks_of(&task.id)),
                    _ => Vec::new(),
                };
                ContainerView {
                    id: container_id(&task.id),
                    task,
                    image_id,
                    status,
                    pid: d.pid,
                    exit_code,
                    error,
                    started_at: d.started_at,
                    finished_at: d.finished_at,
                    argv: d.argv,
                    env: d.env,
                    health: d.health,
                    read_at,
                    networks,
                    writable_layer: d.writable_layer,
                }
            })
            .collect()
    }

    /// The bytes under a container's writable layer, walked as a volume's are (bounded);
    /// `None` when the node keeps no such layer or it cannot be read.
    pub(crate) async fn container_layer_size(view: &ContainerView) -> Option<u64> {
        let dir = view.writable_layer.clone()?;
        tokio::task::spawn_blocking(move || agent::volumes::usage::size(&dir))
            .await
            .ok()
            .flatten()
    }

    /// The cgroup directories of a task's container (for stats and top).
    pub(crate) async fn container_cgroups(&self, task_id: &str) -> Result<Vec<std::path::PathBuf>> {
        let tasks = self.node_tasks().ok_or_else(|| gone(task_id))?;
        tasks
            .containers()
            .await
            .into_iter()
            .find(|(t, _)| t.id == task_id)
            .map(|(_, d)| d.cgroups)
            .ok_or_else(|| gone(task_id))
    }

    /// `docker logs`: the task's captured output, read on this node.
    pub(crate) async fn container_log_lines(
        &self,
        task_id: &str,
        options: LogOptions,
    ) -> Result<BoxStream<'static, LogLine>> {
        let tasks = self.node_tasks().ok_or_else(|| gone(task_id))?;
        let node_id = match self.local() {
            Local::Active(node) => node.state().node_id,
            _ => String::new(),
        };
        let service_id = tasks
            .containers()
            .await
            .into_iter()
            .find(|(t, _)| t.id == task_id)
            .map(|(t, _)| t.service_id.clone())
            .unwrap_or_default();
        let agent_options = agent::logs::LogOptions {
            tail: options.tail,
            since: options.since,
            until: options.until,
            follow: options.follow,
            stdout: options.stdout,
            stderr: options.stderr,
        };
        let lines = tasks
            .logs(task_id, agent_options)
            .await
            .ok_or_else(|| gone(task_id))?;
        let task_id = task_id.to_owned();
        let stream = lines.filter_map(move |m| {
            let line = m.ok().map(|m| LogLine {
                timestamp: m.timestamp,
                stream: match m.stream {
                    agent::logs::LogStream::Stdout => LogStream::Stdout,
                    agent::logs::LogStream::Stderr => LogStream::Stderr,
                },
                line: m.line.into(),
                task_id: task_id.clone(),
                node_id: node_id.clone(),
                service_id: service_id.clone(),
            });
            std::future::ready(line)
        });
        Ok(stream.boxed())
    }

    /// `docker kill`: the signal in Docker's spellings; the exit it causes is the task's.
    pub(crate) async fn container_send_signal(&self, task_id: &str, signal: &str) -> Result<()> {
        let number = agent::executor::parse_signal(signal)
            .map_err(|_| Error::InvalidArgument(format!("Invalid signal: {}", types::excerpt(signal))))?;
        let tasks = self.node_tasks().ok_or_else(|| gone(task_id))?;
        tasks.signal(task_id, number).await.map_err(|e| error(task_id, e))
    }

    /// `docker wait`: the exit code once the task's process ended.
    pub(crate) async fn container_exit(&self, task_id: &str) -> Result<i64> {
        let tasks = self.node_tasks().ok_or_else(|| gone(task_id))?;
        tasks
            .wait(task_id)
            .await
            .map(|exit| exit.code)
            .map_err(|e| error(task_id, e))
    }
}

fn gone(task_id: &str) -> Error {
    Error::NotFound(format!("No such container: {}", container_id(task_id)))
}

/// The executor's errors in dockerd's terms.
fn error(task_id: &str, e: agent::executor::Error) -> Error {
    use agent::executor::Error as E;
    match e {
        E::NotFound(_) => gone(task_id),
        E::State { .. } => Error::Conflict(format!("Container {} is not running", container_id(task_id))),
        E::Invalid(message) => Error::InvalidArgument(message),
        other => Error::Internal(other.to_string()),
    }
}

/// A standalone container's endpoints (`attachments`: attachment task ID, network ID, name)
/// as the node's network views give their addresses.
fn standalone_networks(
    views: &agent::network::Views,
    attachments: &[(String, String, String)],
) -> Vec<api::containers::ContainerNetwork> {
    attachments
        .iter()
        .filter_map(|(task_id, network_id, name)| {
            let view = views.get(network_id)?;
            let endpoint = view.endpoints.iter().find(|e| &e.task_id == task_id)?;
            let pool = view.pools.iter().find(|p| p.subnet.contains(endpoint.addr));
            let mac = netplane::names::mac_text(endpoint.addr);
            Some(api::containers::ContainerNetwork {
                name: name.clone(),
                network_id: network_id.clone(),
                // As `network inspect` lists it (`daemon/networks.rs`).
                endpoint_id: container_id(&format!("{task_id}/{network_id}")),
                ip_address: endpoint.addr,
                prefix_len: pool.map_or(32, |p| p.subnet.prefix),
                gateway: pool.map(|p| p.gateway),
                mac_address: mac,
                aliases: endpoint.aliases.clone(),
            })
        })
        .collect()
}
