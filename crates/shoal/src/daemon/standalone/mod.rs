//! Standalone containers (`docker run`) on this node: a synthetic task each, never in the
//! Raft store, run by an `oci` executor of their own (its own state directory, so the swarm
//! worker, which removes tasks the manager does not assign, never sees them).
//!
//! ```text
//!  create ─► name (given or generated, unique here) ─► image present? (else 404: the CLI pulls)
//!         ─► Task { service_id: "", service_name: <name> } ─► executor.prepare ─► record file
//!  start  ─► executor.start ─► monitor: executor.wait ─► die ─► AutoRemove? ─► remove
//!  rm     ─► executor.remove ─► record file gone ─► destroy
//! ```
//!
//! Container ID = SHA-256 of the synthetic task's ID, as for task containers, so every
//! `/containers/*` route serves both. Records (`<data-dir>/standalone/records/<task>.json`,
//! 0600) and the executor's own state let `docker ps -a` list them after an agent restart;
//! running ones are re-attached. Starting an exited container again (`docker start`,
//! `docker restart`) keeps its writable layer and appends to its logs, as dockerd does.

mod attach;
mod connect;
mod entry;
pub mod merged;
pub mod names;
mod network;
mod records;
mod swarm;
mod tty;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use agent::executor::details::Details;
use agent::executor::oci::{OciConfig, OciExecutor};
use agent::executor::{Executor, Exit, Phase};
use api::containers::container_id;
use api::convert::standalone::{ContainerCreate, EndpointSettings};
use rules::Error;
use tokio::sync::watch;
use types::{Clock, Task, TaskState};

use entry::{Attachment, Entry, Life};

use super::events::{EventBus, Subject};
use super::swarm::Swarm;

type Result<T> = std::result::Result<T, Error>;

/// How long an auto-removal waits for attached clients to read the last output.
const DRAIN_WAIT: Duration = Duration::from_secs(10);

/// The node's standalone containers.
pub struct Standalone {
    executor: Arc<OciExecutor>,
    records: PathBuf,
    entries: Mutex<HashMap<String, Arc<Entry>>>,
    events: Arc<EventBus>,
    clock: Arc<dyn Clock>,
    images: image::ImageStore,
    /// The daemon, for network attachments (weak: it holds these containers).
    swarm: OnceLock<Weak<Swarm>>,
}

/// Where the standalone containers' state lives, under the node's data dir.
fn root(data_dir: &Path) -> PathBuf {
    data_dir.join("standalone")
}

/// The standalone containers' task directories (their oci executor's `state_dir`).
pub fn containers_dir(data_dir: &Path) -> PathBuf {
    root(data_dir).join("containers")
}

impl Standalone {
    /// Opens the store under `<data_dir>/standalone` and re-attaches what still runs.
    pub async fn open(
        data_dir: &Path,
        images: image::ImageStore,
        events: Arc<EventBus>,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Arc<Standalone>> {
        let root = root(data_dir);
        let shim = agent::executor::process::ShimCommand::current_exe()?;
        let source: Arc<dyn agent::executor::oci::image::ImageSource> = Arc::new(
            agent::executor::oci::image_store::StoreImageSource::new(images.clone()),
        );
        let mut config = OciConfig::new(data_dir, shim, source);
        // The swarm tasks' containers use the node's volumes too.
        config.peer_state_dirs = vec![config.state_dir.clone()];
        config.state_dir = containers_dir(data_dir);
        config.runtime_root = root.join("runtime");
        config.volume_observer = Some(super::volume_events::observer(events.clone()));
        // dockerd's containers: `docker run -d` returns once the process runs, and an
        // unhealthy container keeps running (Swarm stops an unhealthy task).
        config.health = agent::executor::process::health::HealthPolicy::Report;
        let executor = Arc::new(OciExecutor::new(config)?);
        let records = root.join("records");
        std::fs::create_dir_all(&records)?;
        let this = Arc::new(Standalone {
            executor,
            records,
            entries: Mutex::new(HashMap::new()),
            events,
            clock,
            images,
            swarm: OnceLock::new(),
        });
        this.reload().await?;
        Ok(this)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Entry>>> {
        // Every change is one insert or remove: a poisoned map is still whole.
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn insert(&self, task: Task, auto_remove: bool) -> Arc<Entry> {
        let entry = Arc::new(Entry {
            task: Arc::new(task),
            auto_remove,
            attachments: Mutex::new(Vec::new()),
            reprepare: Default::default(),
            life: watch::Sender::new(Life::default()),
            attached: watch::Sender::new(0),
        });
        self.lock().insert(entry.task.id.clone(), entry.clone());
        entry
    }

    fn get(&self, task_id: &str) -> Result<Arc<Entry>> {
        self.lock()
            .get(task_id)
            .cloned()
            .ok_or_else(|| Error::NotFound(format!("No such container: {}", container_id(task_id))))
    }

    /// True when `task_id` is one of these containers.
    pub fn holds(&self, task_id: &str) -> bool {
        self.lock().contains_key(task_id)
    }

    fn publish(&self, task: &Task, action: &str, exit_code: Option<i64>) {
        let c = &task.spec.container;
        let mut attributes = c.labels.clone();
        attributes.insert("image".into(), c.image.clone());
        attributes.insert("name".into(), task.service_name.clone());
        if let Some(code) = exit_code {
            attributes.insert("exitCode".into(), code.to_string());
        }
        self.events.publish(
            &Subject {
                kind: "container",
                id: container_id(&task.id),
                attributes,
                from: c.image.clone(),
            },
            action,
        );
    }

    /// `docker create`: the new container's ID.
    pub async fn create(&self, name: &str, create: ContainerCreate, node_id: &str) -> Result<String> {
        let image = create.spec.container.image.clone();
        if self.images.resolve(&image).is_err() {
            return Err(Error::NotFound(format!(
                "No such image: {}",
                types::excerpt(&image)
            )));
        }
        let now = self.clock.now();
        let task_id: String = (0..25)
            .map(|_| {
                let n = rand::random_range(0..36u32);
                char::from_digit(n, 36).unwrap_or('0')
            })
            .collect();
        let entry = {
            // Name check and reservation under one lock: two creates cannot take one name.
            let mut map = self.lock();
            let name = if name.is_empty() {
                names::generate(|n| map.values().any(|e| e.task.service_name == n))
            } else {
                if let Some(other) = map.values().find(|e| e.task.service_name == name) {
                    return Err(Error::Conflict(format!(
                        "Conflict. The container name \"/{name}\" is already in use by container \"{}\". You have to remove (or rename) that container to be able to reuse that name.",
                        container_id(&other.task.id)
                    )));
                }
                name.to_owned()
            };
            let mut task = Task {
                id: task_id.clone(),
                meta: types::Meta {
                    version: 0,
                    created_at: now,
                    updated_at: now,
                },
                spec: Arc::new(create.spec),
                spec_version: 0,
                service_id: String::new(),
                service_name: name,
                slot: 0,
                node_id: node_id.to_owned(),
                status: types::TaskStatus::default(),
                desired_state: TaskState::Running,
                job_iteration: None,
            };
            task.status.timestamp = now;
            let entry = Arc::new(Entry {
                task: Arc::new(task),
                auto_remove: create.auto_remove,
                attachments: Mutex::new(Vec::new()),
                reprepare: Default::default(),
                life: watch::Sender::new(Life::default()),
                attached: watch::Sender::new(0),
            });
            map.insert(task_id.clone(), entry.clone());
            entry
        };
        if let Some(key) = &create.network {
            match self.attach_to(&entry, key, false, &create.endpoint).await {
                Ok(attachment) => entry.set_attachments(vec![attachment]),
                Err(e) => {
                    self.lock().remove(&task_id);
                    return Err(e);
                }
            }
        }
        let prepared = self.prepare(&entry).await;
        if let Err(e) = prepared
            .map_err(|e| error(&task_id, e))
            .and_then(|()| self.save(&entry))
        {
            self.lock().remove(&task_id);
            let _ = self.executor.remove_container(&task_id, true).await;
            self.detach(&entry).await;
            return Err(e);
        }
        self.publish(&entry.task, "create", None);
        Ok(container_id(&task_id))
    }

    /// `docker start` (and the second half of `docker restart`).
    pub async fn start(self: &Arc<Self>, task_id: &str) -> Result<()> {
        let entry = self.get(task_id)?;
        if entry.life.borrow().running {
            return Ok(());
        }
        let details = self
            .executor
            .details(task_id)
            .await
            .map_err(|e| error(task_id, e))?;
        if matches!(details.phase, Phase::Exited(_)) {
            if entry.reprepare.swap(false, std::sync::atomic::Ordering::SeqCst) {
                // Its writable layer and logs start afresh, as after a network change of a
                // stopped container (`connect.rs`).
                self.executor
                    .remove_container(task_id, false)
                    .await
                    .map_err(|e| error(task_id, e))?;
                self.prepare(&entry).await.map_err(|e| error(task_id, e))?;
                self.save(&entry)?;
            } else {
                // Run again with the same writable layer and logs, as dockerd does.
                self.executor
                    .rerun(task_id)
                    .await
                    .map_err(|e| error(task_id, e))?;
            }
        }
        // The run's logs exist from here: clients attached before it (`docker start -a`)
        // follow them.
        let now = self.clock.now();
        entry.life.send_modify(|l| {
            l.runs += 1;
            l.ended = false;
            l.run_started = Some(now);
        });
        let started = match self.executor.start(task_id).await {
            // A short command may be done before the start returns: that is a run, not a
            // failure; the monitor reads its exit (and there is no process to join).
            Err(agent::executor::Error::ExitedWhileStarting(_)) => Ok(false),
            other => other.map(|_| true),
        };
        let started = match started.map_err(|e| error(task_id, e)) {
            Ok(true) => self.join_after_start(&entry).await,
            Ok(false) => Ok(()),
            Err(e) => Err(e),
        };
        if let Err(e) = started {
            // A start that fails is an exit, as dockerd records it: `docker run`'s wait ends,
            // and an AutoRemove container goes.
            entry.life.send_modify(|l| {
                l.exits += 1;
                l.last = Some(Exit::code(127));
                l.ended = true;
            });
            self.publish(&entry.task, "die", Some(127));
            if entry.auto_remove {
                let _ = self.remove(task_id, true, true).await;
            }
            return Err(e);
        }
        entry.life.send_modify(|l| l.running = true);
        super::volume_events::mounted(&self.events, &entry.task);
        self.publish(&entry.task, "start", None);
        self.monitor(entry);
        Ok(())
    }

    /// Puts a container connected while running (`connect.rs`) into its network again after a
    /// start: its new process has a namespace of its own. When that fails the process is
    /// killed, and the start fails, as dockerd's does when it cannot join a network.
    async fn join_after_start(&self, entry: &Entry) -> Result<()> {
        let joining: Vec<Attachment> = entry
            .attachments()
            .into_iter()
            .filter(Attachment::joined_after_start)
            .collect();
        if joining.is_empty() {
            return Ok(());
        }
        let id = &entry.task.id;
        let joined = match self.executor.details(id).await {
            Ok(d) => {
                let swarm = self.swarm()?;
                let mut joined = Ok(());
                for a in &joining {
                    joined = swarm.join_container(&a.task_id, d.pid).await;
                    if joined.is_err() {
                        break;
                    }
                }
                // A run prepared in no sandbox (its first network left while it was not
                // running) reads the first joined network's files, written as at a connect.
                let first = &joining[0];
                if joined.is_ok() && entry.prepared_in().is_none() && first.restore.is_empty() {
                    match connect::write_files(d.pid, first) {
                        Ok(restore) => {
                            entry.update_attachment(&first.task_id, |a| a.restore = restore);
                            joined = self.save(entry);
                        }
                        Err(e) => joined = Err(e),
                    }
                }
                joined
            }
            Err(e) => Err(error(id, e)),
        };
        if joined.is_err() {
            let _ = self.executor.signal(id, 9).await;
            let _ = self.executor.wait(id).await;
        }
        joined
    }

    /// Watches a running container until it exits: records the exit, sends `die`, and
    /// removes it when it was created with AutoRemove.
    fn monitor(self: &Arc<Self>, entry: Arc<Entry>) {
        let this = self.clone();
        tokio::spawn(async move {
            let id = entry.task.id.clone();
            let exit = match this.executor.wait(&id).await {
                Ok(exit) => exit,
                Err(e) => {
                    tracing::warn!(container = %container_id(&id), "waiting for a standalone container: {e}");
                    Exit {
                        lost: Some(e.to_string()),
                        ..Exit::code(-1)
                    }
                }
            };
            let code = exit.code;
            // Clients still waiting to send input have no container to send it to.
            this.executor.release_stdin(&id);
            entry.life.send_modify(|l| {
                l.exits += 1;
                l.last = Some(exit);
                l.running = false;
                l.ended = true;
            });
            super::volume_events::unmounted(&this.events, &entry.task);
            this.publish(&entry.task, "die", Some(code));
            if entry.auto_remove {
                // Attached clients read the last lines before the logs go with the container.
                let mut attached = entry.attached.subscribe();
                let _ = tokio::time::timeout(DRAIN_WAIT, attached.wait_for(|n| *n == 0)).await;
                if let Err(e) = this.remove(&id, true, true).await {
                    tracing::warn!(container = %container_id(&id), "auto-removing a standalone container: {e}");
                }
            }
        });
    }

    /// `docker rm [-f] [-v]`: a running container is killed first; with `volumes` its
    /// anonymous volumes go too (AutoRemove removes them, as dockerd's does).
    pub async fn remove(&self, task_id: &str, force: bool, volumes: bool) -> Result<()> {
        let entry = self.get(task_id)?;
        if entry.life.borrow().running {
            if !force {
                return Err(Error::Conflict(format!(
                    "cannot remove container \"/{}\": container is running: stop the container before removing or force remove",
                    entry.task.service_name
                )));
            }
            self.executor.signal(task_id, 9).await.ok();
        }
        self.executor
            .remove_container(task_id, volumes)
            .await
            .map_err(|e| error(task_id, e))?;
        let _ = std::fs::remove_file(self.record_path(task_id));
        if self.lock().remove(task_id).is_some() {
            entry.life.send_modify(|l| l.removed = true);
            self.detach(&entry).await;
            self.publish(&entry.task, "destroy", None);
        }
        Ok(())
    }

    /// Prepares a run of `entry`'s container, in its network sandbox when it has one.
    async fn prepare(&self, entry: &Entry) -> agent::executor::Result<()> {
        match entry.prepared_in() {
            Some(a) => self.executor.prepare_in(&entry.task, &a.sandbox).await,
            None => self.executor.prepare(&entry.task).await,
        }
    }

    /// Attaches `entry`'s container to network `key` with `endpoint`'s aliases and address (its
    /// sandbox made, not yet joined; for a `running` container, made without a namespace of
    /// its own).
    async fn attach_to(
        &self,
        entry: &Entry,
        key: &str,
        running: bool,
        endpoint: &EndpointSettings,
    ) -> Result<Attachment> {
        // The host name the executor gives it (`oci/spec.rs`), for its `hosts` file; on the
        // network it also answers to its short container ID, as with dockerd.
        let c = &entry.task.spec.container;
        let hostname = if c.hostname.is_empty() {
            entry.task.id.chars().take(12).collect()
        } else {
            c.hostname.clone()
        };
        let short_id = container_id(&entry.task.id)[..12].to_owned();
        self.swarm()?
            .attach_container(
                key,
                &entry.task.service_name,
                &hostname,
                std::iter::once(short_id)
                    .chain(endpoint.aliases.iter().cloned())
                    .collect(),
                endpoint.ipv4_address,
                running,
            )
            .await
    }

    /// Gives up every network attachment of `entry`.
    async fn detach(&self, entry: &Entry) {
        let taken = entry.take_attachments();
        if let Ok(swarm) = self.swarm() {
            for a in taken {
                swarm.detach_container(&a.task_id).await;
            }
        }
    }

    /// Hands these containers the daemon, for network attachments.
    pub fn set_swarm(&self, swarm: Weak<Swarm>) {
        let _ = self.swarm.set(swarm);
    }

    fn swarm(&self) -> Result<Arc<Swarm>> {
        self.swarm
            .get()
            .and_then(Weak::upgrade)
            .ok_or_else(|| Error::Unavailable("the daemon is shutting down".into()))
    }

    /// `docker container prune`: every exited or never started container goes.
    pub async fn prune(&self) -> Result<Vec<String>> {
        let ids: Vec<String> = self
            .lock()
            .values()
            .filter(|e| !e.life.borrow().running)
            .map(|e| e.task.id.clone())
            .collect();
        let mut removed = Vec::new();
        for id in ids {
            if self.remove(&id, false, false).await.is_ok() {
                removed.push(container_id(&id));
            }
        }
        Ok(removed)
    }

    /// The containers with what the executor knows of each.
    pub async fn containers(&self) -> Vec<(Arc<Task>, Details)> {
        let entries: Vec<Arc<Entry>> = self.lock().values().cloned().collect();
        let mut out = Vec::with_capacity(entries.len());
        for e in entries {
            if let Ok(d) = self.executor.details(&e.task.id).await {
                out.push((e.task.clone(), d));
            }
        }
        out
    }

    /// The network attachments these containers hold.
    pub fn attachment_ids(&self) -> std::collections::HashSet<String> {
        self.lock()
            .values()
            .flat_map(|e| e.attachments().into_iter().map(|a| a.task_id))
            .collect()
    }

    /// Container `task_id`'s attachments, in order: (attachment task ID, network ID, name).
    pub fn networks_of(&self, task_id: &str) -> Vec<(String, String, String)> {
        let Some(entry) = self.lock().get(task_id).cloned() else {
            return Vec::new();
        };
        entry
            .attachments()
            .into_iter()
            .map(|a| (a.task_id, a.network_id, a.network_name))
            .collect()
    }

    /// The attachment tasks these containers hold: each one's container task ID and name.
    pub fn attachment_holders(&self) -> HashMap<String, (String, String)> {
        self.lock()
            .values()
            .flat_map(|e| {
                let holder = (e.task.id.clone(), e.task.service_name.clone());
                e.attachments()
                    .into_iter()
                    .map(move |a| (a.task_id, holder.clone()))
            })
            .collect()
    }

    /// The containers' tasks.
    pub fn held(&self) -> Vec<Arc<Task>> {
        self.lock().values().map(|e| e.task.clone()).collect()
    }

    /// The next exit, or the last one when it is not running now.
    pub async fn wait(&self, task_id: &str) -> agent::executor::Result<Exit> {
        let entry = self
            .get(task_id)
            .map_err(|_| agent::executor::Error::NotFound(task_id.to_owned()))?;
        let mut life = entry.life.subscribe();
        let seen = {
            let now = life.borrow_and_update();
            if !now.running
                && let Some(last) = &now.last
            {
                return Ok(last.clone());
            }
            now.exits
        };
        let after = life
            .wait_for(|l| l.exits > seen)
            .await
            .map_err(|_| agent::executor::Error::NotFound(task_id.to_owned()))?;
        Ok(after.last.clone().unwrap_or_else(|| Exit::code(-1)))
    }

    /// The executor these containers run on.
    pub fn executor(&self) -> &Arc<OciExecutor> {
        &self.executor
    }
}

/// The executor's errors in dockerd's terms.
fn error(task_id: &str, e: agent::executor::Error) -> Error {
    use agent::executor::Error as E;
    match e {
        E::NotFound(_) => Error::NotFound(format!("No such container: {}", container_id(task_id))),
        E::State { .. } => Error::Conflict(format!("Container {} is not running", container_id(task_id))),
        E::Invalid(m) => Error::InvalidArgument(m),
        E::Unsupported(m) => Error::Unimplemented(m),
        other => Error::Internal(other.to_string()),
    }
}
