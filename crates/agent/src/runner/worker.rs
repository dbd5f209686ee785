//! The worker: one runner per assigned task, kept in line with the dispatcher's assignments.
//!
//! ```text
//!  Worker::start ─► executor.reattach() ─► tasks still held (running ones are watched again)
//!  reconcile(full set) / update(changed, removed):
//!     new task      ─► spawn a runner
//!     known task    ─► hand the runner the new assignment (desired state)
//!     gone task     ─► stop its runner, then shutdown + remove in the executor (best effort)
//!     re-attached but not assigned by the first full set ─► likewise removed
//!  stop() ─► runners end, tasks keep running (an agent restart re-attaches to them)
//! ```

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use types::{Clock, Task};

use super::{StatusSender, run_task_with};
use crate::executor::{Attached, Executor, Result};
use crate::logs::{LogLines, LogOptions};
use crate::network::NodeNetwork;
use crate::payloads::Payloads;

/// Keeps one runner per assigned task.
pub struct Worker<E: Executor> {
    executor: Arc<E>,
    network: Option<Arc<NodeNetwork>>,
    payloads: Option<Arc<Payloads>>,
    clock: Arc<dyn Clock>,
    statuses: StatusSender,
    runners: HashMap<String, RunnerHandle>,
    /// Tasks found by re-attach that no assignment has claimed yet.
    unclaimed: HashSet<String>,
    /// Cleanups of unassigned tasks still under way.
    cleanups: Vec<JoinHandle<()>>,
}

struct RunnerHandle {
    assignment: watch::Sender<Arc<Task>>,
    stop: CancellationToken,
    join: JoinHandle<()>,
}

impl<E: Executor> Worker<E> {
    /// Re-attaches to the tasks the executor still holds and returns a worker with no
    /// runners yet; the first [`Worker::reconcile`] with the full assignment set starts them.
    pub async fn start(executor: Arc<E>, clock: Arc<dyn Clock>, statuses: StatusSender) -> Result<Worker<E>> {
        let attached = executor.reattach().await?;
        Ok(Worker::with_attached(executor, clock, statuses, attached))
    }

    /// Like [`Worker::start`], with the re-attach result already in hand.
    pub fn with_attached(
        executor: Arc<E>,
        clock: Arc<dyn Clock>,
        statuses: StatusSender,
        attached: Vec<Attached>,
    ) -> Worker<E> {
        if !attached.is_empty() {
            tracing::info!(
                tasks = attached.len(),
                "re-attached to tasks left by a previous agent"
            );
        }
        Worker {
            executor,
            network: None,
            payloads: None,
            clock,
            statuses,
            runners: HashMap::new(),
            unclaimed: attached.into_iter().map(|a| a.task_id).collect(),
            cleanups: Vec::new(),
        }
    }

    /// Gives the worker's runners the node's network layer (sandboxes for tasks on networks).
    pub fn with_network(mut self, network: Arc<NodeNetwork>) -> Self {
        self.network = Some(network);
        self
    }

    /// Gives the worker's runners the node's secrets and configs (a tmpfs of files per task).
    pub fn with_payloads(mut self, payloads: Arc<Payloads>) -> Self {
        self.payloads = Some(payloads);
        self
    }

    /// The node's secrets and configs, if it has a place for them.
    pub fn payloads(&self) -> Option<&Arc<Payloads>> {
        self.payloads.as_ref()
    }

    /// The node's network layer, if it has one.
    pub fn network(&self) -> Option<&Arc<NodeNetwork>> {
        self.network.as_ref()
    }

    /// Applies the full set of tasks assigned to this node: starts runners for new tasks,
    /// updates known ones, and removes every task not in the set.
    pub fn reconcile(&mut self, assigned: Vec<Arc<Task>>) {
        let keep: HashSet<String> = assigned.iter().map(|t| t.id.clone()).collect();
        let gone: Vec<String> = self
            .runners
            .keys()
            .chain(self.unclaimed.iter())
            .filter(|id| !keep.contains(*id))
            .cloned()
            .collect();
        self.update(assigned, &gone);
    }

    /// Applies an incremental change: `changed` tasks are added or updated, `removed` ones
    /// are stopped and removed.
    pub fn update(&mut self, changed: Vec<Arc<Task>>, removed: &[String]) {
        for task in changed {
            self.unclaimed.remove(&task.id);
            match self.runners.get(&task.id) {
                // A runner that finished (its task was removed) stays until the task leaves
                // the assignments, so it is not started again.
                Some(r) => {
                    r.assignment.send_replace(task);
                }
                None => self.spawn(task),
            }
        }
        for id in removed {
            let unclaimed = self.unclaimed.remove(id);
            let runner = self.runners.remove(id);
            if let Some(r) = &runner {
                r.stop.cancel();
            }
            // A task this worker never ran nor re-attached has nothing here to clean. The
            // dispatcher also lists tasks that have a node but are not assigned yet (global
            // tasks, standalone containers' network attachments, whose sandbox the daemon
            // owns): releasing those would tear down what someone else just made.
            if runner.is_none() && !unclaimed {
                continue;
            }
            let executor = Arc::clone(&self.executor);
            let network = self.network.clone();
            let payloads = self.payloads.clone();
            let id = id.clone();
            self.cleanups.retain(|c| !c.is_finished());
            self.cleanups.push(tokio::spawn(async move {
                // Remove stops a task that still runs, then forgets it (Swarm's closeManager).
                if let Err(e) = executor.remove(&id).await {
                    tracing::warn!(task = %id, error = %e, "removing unassigned task failed");
                }
                if let Some(network) = network {
                    network.release(&id).await;
                }
                if let Some(payloads) = payloads
                    && let Err(e) = payloads.release(&id)
                {
                    tracing::warn!(task = %id, error = %e, "releasing the task's secrets failed");
                }
            }));
        }
    }

    fn spawn(&mut self, task: Arc<Task>) {
        let id = task.id.clone();
        let (assignment, rx) = watch::channel(task);
        let stop = CancellationToken::new();
        let join = tokio::spawn(run_task_with(
            Arc::clone(&self.executor),
            self.network.clone(),
            self.payloads.clone(),
            Arc::clone(&self.clock),
            rx,
            self.statuses.clone(),
            stop.clone(),
        ));
        self.runners.insert(
            id,
            RunnerHandle {
                assignment,
                stop,
                join,
            },
        );
    }

    /// IDs of the tasks with a runner.
    pub fn task_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.runners.keys().cloned().collect();
        ids.sort();
        ids
    }

    /// The latest assignment of every task with a runner (for the Engine API's containers).
    pub fn assigned(&self) -> Vec<Arc<Task>> {
        let mut tasks: Vec<Arc<Task>> = self
            .runners
            .values()
            .map(|r| r.assignment.borrow().clone())
            .collect();
        tasks.sort_by(|a, b| a.id.cmp(&b.id));
        tasks
    }

    /// The executor this worker drives.
    pub fn executor(&self) -> &Arc<E> {
        &self.executor
    }

    /// Reads a task's logs (see [`LogOptions`]).
    pub async fn logs(&self, task_id: &str, options: LogOptions) -> Result<LogLines> {
        self.executor.logs(task_id, options).await
    }

    /// Stops every runner and waits for them and for pending cleanups. Tasks keep running:
    /// this is what an agent does when it exits, and the next agent re-attaches.
    pub async fn stop(self) {
        for r in self.runners.values() {
            r.stop.cancel();
        }
        for (_, r) in self.runners {
            let _ = r.join.await;
        }
        for c in self.cleanups {
            let _ = c.await;
        }
    }
}
