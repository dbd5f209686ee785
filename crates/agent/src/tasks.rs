//! The session's view of the node's task side: assignments go in, observed statuses come out.
//! The worker (task runners over an executor) implements [`Tasks`]; the session only moves
//! messages.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rpc::Pool;
use rpc::calls::UpdateTaskStatus;
use rpc::messages::TaskStatusBatch;
use tokio::sync::{Mutex, mpsc, watch};
use tokio_util::sync::CancellationToken;
use types::{Task, TaskStatus};

use crate::executor::details::Details;
use crate::executor::{Executor, Exit};
use crate::logs::{LogLines, LogOptions};
use crate::runner::{StatusUpdate, Worker};

/// What the session needs from the node's task side.
#[async_trait::async_trait]
pub trait Tasks: Send + Sync + 'static {
    /// Applies an assignment message: the full set (`full`), or changed tasks and removals.
    async fn assign(&self, full: bool, tasks: Vec<Task>, removed: Vec<String>);
    /// Applies an assignment message's network views (before its tasks, so a task's sandbox
    /// finds its addresses): with `full`, `networks` is the whole set. The default keeps none,
    /// for task sides without a network layer.
    async fn assign_networks(
        &self,
        full: bool,
        networks: Vec<types::NetworkView>,
        removed: Vec<String>,
        deltas: Vec<types::NetworkDelta>,
    ) {
        let _ = (full, networks, removed, deltas);
    }
    /// Applies an assignment message's secrets and configs (before its tasks, which read
    /// them at prepare): with `full`, `payloads` is the whole set. The default keeps none.
    async fn assign_payloads(
        &self,
        full: bool,
        payloads: Vec<types::Payload>,
        removed: Vec<(types::PayloadKind, String)>,
    ) {
        let _ = (full, payloads, removed);
    }
    /// The log lines of a task this node holds, if it holds it.
    async fn logs(&self, task_id: &str, options: LogOptions) -> Option<LogLines>;
    /// Stops every runner. With `remove`, tasks are stopped and removed first (leaving the
    /// swarm); without, they keep running for the next agent to re-attach.
    async fn stop(&self, remove: bool);

    // The node's task containers for the Engine API (`/containers/*`). The defaults hold no
    // containers, for task sides without an executor behind them.

    /// Every task this node holds with its container details (tasks the executor no longer
    /// holds are left out).
    async fn containers(&self) -> Vec<(Arc<Task>, Details)> {
        Vec::new()
    }
    /// Sends `signal` to a task's main process (`docker kill`).
    async fn signal(&self, task_id: &str, _signal: i32) -> crate::executor::Result<()> {
        Err(crate::executor::Error::NotFound(task_id.to_string()))
    }
    /// Resolves when the task's process exits (`docker wait`, `docker stop`).
    async fn wait(&self, task_id: &str) -> crate::executor::Result<Exit> {
        Err(crate::executor::Error::NotFound(task_id.to_string()))
    }
    /// The tasks this node holds, as last assigned (for `docker exec` to find its container).
    async fn held(&self) -> Vec<Arc<Task>> {
        Vec::new()
    }
    /// The node's network layer, when it has one (standalone containers' network attachments
    /// take their sandboxes from it).
    async fn node_network(&self) -> Option<Arc<crate::network::NodeNetwork>> {
        None
    }
    /// Runs a command in a task of this node (`docker exec`); see [`Executor::exec`].
    async fn exec(
        &self,
        task_id: &str,
        spec: &crate::executor::exec::ExecSpec,
    ) -> crate::executor::Result<crate::executor::exec::ExecProcess> {
        let _ = spec;
        Err(crate::executor::Error::NotFound(task_id.to_string()))
    }
    /// The stdin of a task created with `OpenStdin` and no terminal; see [`Executor::stdin`].
    async fn stdin(
        &self,
        task_id: &str,
    ) -> crate::executor::Result<Box<dyn tokio::io::AsyncWrite + Send + Unpin>> {
        Err(crate::executor::Error::NotFound(task_id.to_string()))
    }
    /// The terminal of a task created with `TTY`; see [`Executor::terminal_attach`].
    async fn terminal_attach(
        &self,
        task_id: &str,
        want: crate::executor::oci::terminal::Want,
    ) -> crate::executor::Result<crate::executor::oci::terminal::Console> {
        let _ = want;
        Err(crate::executor::Error::NotFound(task_id.to_string()))
    }
    /// Sets the window size of a task's terminal; see [`Executor::terminal_resize`].
    async fn terminal_resize(&self, task_id: &str, height: u16, width: u16) -> crate::executor::Result<()> {
        let _ = (height, width);
        Err(crate::executor::Error::NotFound(task_id.to_string()))
    }
}

/// [`Tasks`] over a [`Worker`] (runners over an executor).
pub struct WorkerTasks<E: Executor> {
    worker: Mutex<Option<Worker<E>>>,
}

impl<E: Executor> WorkerTasks<E> {
    /// Wraps a started worker.
    pub fn new(worker: Worker<E>) -> Arc<WorkerTasks<E>> {
        Arc::new(WorkerTasks {
            worker: Mutex::new(Some(worker)),
        })
    }
}

impl<E: Executor> WorkerTasks<E> {
    /// The node's network layer, while the worker runs.
    async fn network(&self) -> Option<Arc<crate::network::NodeNetwork>> {
        self.worker.lock().await.as_ref()?.network().cloned()
    }

    /// The executor, while the worker runs.
    async fn executor(&self) -> crate::executor::Result<Arc<E>> {
        let guard = self.worker.lock().await;
        guard
            .as_ref()
            .map(|w| w.executor().clone())
            .ok_or_else(|| crate::executor::Error::Shim("the node's worker has stopped".into()))
    }
}

#[async_trait::async_trait]
impl<E: Executor> Tasks for WorkerTasks<E> {
    async fn assign(&self, full: bool, tasks: Vec<Task>, removed: Vec<String>) {
        let tasks: Vec<Arc<Task>> = tasks.into_iter().map(Arc::new).collect();
        if full && let Some(network) = self.network().await {
            // The first full set after a start says which tasks' namespaces to keep; those an
            // executor made (docker) are found through their process.
            let pids = match self.executor().await {
                Ok(executor) if executor.makes_own_netns() && !network.recovered().await => {
                    held_pids(executor.as_ref(), &network, &tasks).await
                }
                _ => Default::default(),
            };
            network.recover_adopting(&tasks, &pids).await;
        }
        // Network attachments (standalone containers' addresses) run nothing: their
        // namespaces were kept above, and the daemon that asked for them uses them.
        let tasks: Vec<Arc<Task>> = tasks.into_iter().filter(|t| !t.is_attachment()).collect();
        let mut guard = self.worker.lock().await;
        let Some(worker) = guard.as_mut() else { return };
        if full {
            worker.reconcile(tasks);
        } else {
            worker.update(tasks, &removed);
        }
    }

    async fn assign_networks(
        &self,
        full: bool,
        networks: Vec<types::NetworkView>,
        removed: Vec<String>,
        deltas: Vec<types::NetworkDelta>,
    ) {
        // Not under the worker's lock: the data plane's calls must not hold up assignments.
        if let Some(network) = self.network().await {
            network.apply(full, networks, &removed, &deltas).await;
        }
    }

    async fn node_network(&self) -> Option<Arc<crate::network::NodeNetwork>> {
        self.network().await
    }

    async fn assign_payloads(
        &self,
        full: bool,
        payloads: Vec<types::Payload>,
        removed: Vec<(types::PayloadKind, String)>,
    ) {
        let layer = self
            .worker
            .lock()
            .await
            .as_ref()
            .and_then(|w| w.payloads().cloned());
        if let Some(layer) = layer {
            layer.apply(full, payloads, &removed);
        }
    }

    async fn logs(&self, task_id: &str, options: LogOptions) -> Option<LogLines> {
        let guard = self.worker.lock().await;
        guard.as_ref()?.logs(task_id, options).await.ok()
    }

    async fn containers(&self) -> Vec<(Arc<Task>, Details)> {
        let (tasks, executor) = {
            let guard = self.worker.lock().await;
            let Some(worker) = guard.as_ref() else {
                return Vec::new();
            };
            (worker.assigned(), worker.executor().clone())
        };
        let mut out = Vec::with_capacity(tasks.len());
        for task in tasks {
            // Not prepared yet, or already removed: no container to show.
            if let Ok(details) = executor.details(&task.id).await {
                out.push((task, details));
            }
        }
        out
    }

    async fn signal(&self, task_id: &str, signal: i32) -> crate::executor::Result<()> {
        self.executor().await?.signal(task_id, signal).await
    }

    async fn wait(&self, task_id: &str) -> crate::executor::Result<Exit> {
        // The lock is not held while waiting: the worker keeps taking assignments.
        self.executor().await?.wait(task_id).await
    }

    async fn stop(&self, remove: bool) {
        let Some(mut worker) = self.worker.lock().await.take() else {
            return;
        };
        if remove {
            let executor = worker.executor().clone();
            let network = worker.network().cloned();
            let payloads = worker.payloads().cloned();
            let ids = worker.task_ids();
            worker.reconcile(Vec::new());
            for id in ids {
                let _ = executor.remove(&id).await;
                if let Some(network) = &network {
                    network.release(&id).await;
                }
                if let Some(payloads) = &payloads {
                    let _ = payloads.release(&id);
                }
            }
            // Leaving the swarm: the node's data plane (overlays, ingress sandbox, mesh) goes
            // with its tasks, as dockerd's leave takes its networks down.
            if let Some(network) = &network {
                network.leave().await;
            }
        }
        worker.stop().await;
    }

    async fn held(&self) -> Vec<Arc<Task>> {
        let guard = self.worker.lock().await;
        guard.as_ref().map(Worker::assigned).unwrap_or_default()
    }

    async fn exec(
        &self,
        task_id: &str,
        spec: &crate::executor::exec::ExecSpec,
    ) -> crate::executor::Result<crate::executor::exec::ExecProcess> {
        // Not under the lock: assignments must not wait for a process to start.
        let executor = {
            let guard = self.worker.lock().await;
            match guard.as_ref() {
                Some(worker) => worker.executor().clone(),
                None => return Err(crate::executor::Error::NotFound(task_id.to_string())),
            }
        };
        executor.exec(task_id, spec).await
    }

    async fn stdin(
        &self,
        task_id: &str,
    ) -> crate::executor::Result<Box<dyn tokio::io::AsyncWrite + Send + Unpin>> {
        self.executor().await?.stdin(task_id)
    }

    async fn terminal_attach(
        &self,
        task_id: &str,
        want: crate::executor::oci::terminal::Want,
    ) -> crate::executor::Result<crate::executor::oci::terminal::Console> {
        self.executor().await?.terminal_attach(task_id, want).await
    }

    async fn terminal_resize(&self, task_id: &str, height: u16, width: u16) -> crate::executor::Result<()> {
        self.executor()
            .await?
            .terminal_resize(task_id, height, width)
            .await
    }
}

/// How often collected statuses are sent (Swarm batches agent reports similarly).
const REPORT_EVERY: Duration = Duration::from_millis(100);

/// Sends the latest status of each task to the leader, batched; keeps what it could not send
/// and resends everything it knows after a reconnect.
pub async fn report_statuses(
    pool: Pool,
    leader: watch::Receiver<Option<String>>,
    mut statuses: mpsc::UnboundedReceiver<StatusUpdate>,
    shutdown: CancellationToken,
) {
    let mut pending: HashMap<String, TaskStatus> = HashMap::new();
    let mut known: HashMap<String, TaskStatus> = HashMap::new();
    let mut leader = leader;
    let mut tick = tokio::time::interval(REPORT_EVERY);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            s = statuses.recv() => match s {
                Some(StatusUpdate { task_id, status }) => {
                    known.insert(task_id.clone(), status.clone());
                    pending.insert(task_id, status);
                }
                None => return,
            },
            changed = leader.changed() => {
                if changed.is_err() {
                    return;
                }
                // A new leader may have missed reports the old one never committed.
                pending.extend(known.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
            _ = tick.tick() => {
                if pending.is_empty() {
                    continue;
                }
                let Some(addr) = leader.borrow().clone() else { continue };
                let updates: Vec<(String, TaskStatus)> = pending.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                let batch = TaskStatusBatch { updates: updates.clone() };
                if pool.call_within::<UpdateTaskStatus>(&addr, &batch, Duration::from_secs(5)).await.is_ok() {
                    for (id, status) in updates {
                        if pending.get(&id) == Some(&status) {
                            pending.remove(&id);
                        }
                    }
                    // Forget finished tasks we reported; the store has them now.
                    known.retain(|_, s| !s.state.is_terminal());
                }
            }
        }
    }
}

/// The pids of the held tasks with endpoints (networks, or an ingress address), for
/// re-adopting the namespaces their executor made.
async fn held_pids<E: Executor>(
    executor: &E,
    network: &crate::network::NodeNetwork,
    tasks: &[Arc<Task>],
) -> HashMap<String, i64> {
    let mut pids = HashMap::new();
    for task in tasks {
        if !network.on_networks(task).await {
            continue;
        }
        // Not held (new to this node), or not running: nothing to adopt.
        if let Ok(details) = executor.details(&task.id).await
            && details.pid > 0
        {
            pids.insert(task.id.clone(), details.pid);
        }
    }
    pids
}
