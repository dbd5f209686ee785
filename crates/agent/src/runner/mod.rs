//! Task runners: one per assigned task, stepping it through the executor the way Swarm's
//! `exec.Do` does, and reporting every status change. What to do next is decided by the pure
//! [`next_step`] and [`settle`] (`next_step.rs`); this file does the I/O they name.
//!
//! ```text
//!  observed:  ACCEPTED ─► PREPARING ─prepare─► READY ─► STARTING ─start─► RUNNING ─wait─► COMPLETE
//!                  │            │                 │          │                │         └► FAILED
//!                  └────────────┴─ error ─► REJECTED         └──── error ─────┴─► FAILED
//!  start = executor start, then the endpoints attached to an executor-made namespace, then
//!  the executor's `ready` (its health check's first pass, which may need those endpoints).
//!  desired ≥ SHUTDOWN at any point: shutdown ─► SHUTDOWN (unless already COMPLETE or later)
//!  desired = REMOVE: also remove it from the executor, then the runner ends.
//! ```
//!
//! States only move forward; a step whose state is at or past the desired state waits
//! (desired READY holds a restarted task at READY through its restart delay). The executor's
//! operations are idempotent, so a runner that starts from whatever state the manager last
//! saw — e.g. after an agent restart — never starts a task twice: `prepare` and `start` of a
//! task the executor already runs are no-ops and `wait` picks up its exit.

pub mod next_step;
pub mod worker;

use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use types::{Clock, ContainerStatus, Task, TaskState, TaskStatus};

use crate::executor::{Error, Executor, Exit, Sandbox};
use crate::network::NodeNetwork;
use crate::payloads::Payloads;

pub use next_step::{Action, Report, Settled, next_step, settle};

pub use worker::Worker;

/// A status change of one task, for the session to batch to the dispatcher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusUpdate {
    /// The task.
    pub task_id: String,
    /// Its new status.
    pub status: TaskStatus,
}

/// Where the runner's status updates go. Unbounded so that a runner never stalls on a slow
/// session: each task reports a handful of states in its life, and the session coalesces
/// them by task ID before sending.
pub type StatusSender = mpsc::UnboundedSender<StatusUpdate>;

/// Drives one task until it is removed or `stop` is cancelled. `task` carries the latest
/// assignment (its desired state); the task's own `status` is used only as the start point.
pub async fn run_task<E: Executor>(
    executor: Arc<E>,
    clock: Arc<dyn Clock>,
    task: watch::Receiver<Arc<Task>>,
    statuses: StatusSender,
    stop: CancellationToken,
) {
    run_task_on(executor, None, clock, task, statuses, stop).await
}

/// As [`run_task`], with the node's network layer making the task's sandbox before prepare
/// (and attaching it after start for executors that make their own namespace). Without one, a
/// task on networks is refused: it never runs unattached.
pub async fn run_task_on<E: Executor>(
    executor: Arc<E>,
    network: Option<Arc<NodeNetwork>>,
    clock: Arc<dyn Clock>,
    task: watch::Receiver<Arc<Task>>,
    statuses: StatusSender,
    stop: CancellationToken,
) {
    run_task_with(executor, network, None, clock, task, statuses, stop).await
}

/// As [`run_task_on`], with the node's secrets and configs: a task referencing any gets its
/// files on a tmpfs of its own before prepare, released after remove. Without them, such a
/// task is refused.
pub async fn run_task_with<E: Executor>(
    executor: Arc<E>,
    network: Option<Arc<NodeNetwork>>,
    payloads: Option<Arc<Payloads>>,
    clock: Arc<dyn Clock>,
    mut task: watch::Receiver<Arc<Task>>,
    statuses: StatusSender,
    stop: CancellationToken,
) {
    let first = task.borrow_and_update().clone();
    let mut runner = Runner {
        id: first.id.clone(),
        status: first.status.clone(),
        desired: first.desired_state,
        executor,
        network,
        payloads,
        clock,
        statuses,
    };
    runner.run(&mut task, &stop).await;
}

struct Runner<E> {
    id: String,
    status: TaskStatus,
    desired: TaskState,
    executor: Arc<E>,
    network: Option<Arc<NodeNetwork>>,
    payloads: Option<Arc<Payloads>>,
    clock: Arc<dyn Clock>,
    statuses: StatusSender,
}

/// How a step ended.
enum Step {
    /// Go round again.
    Continue,
    /// Nothing to do until the desired state changes.
    Pause,
    /// The task is gone from the executor; the runner is done.
    Done,
}

impl<E: Executor> Runner<E> {
    async fn run(&mut self, task: &mut watch::Receiver<Arc<Task>>, stop: &CancellationToken) {
        loop {
            self.absorb(task);
            let step = tokio::select! {
                biased;
                _ = stop.cancelled() => return,
                step = self.step(task) => step,
            };
            match step {
                Step::Continue => {}
                Step::Done => return,
                Step::Pause => tokio::select! {
                    _ = stop.cancelled() => return,
                    changed = task.changed() => if changed.is_err() { return },
                },
            }
        }
    }

    /// Takes the newest desired state; it never moves backwards (Swarm ignores such updates).
    fn absorb(&mut self, task: &mut watch::Receiver<Arc<Task>>) {
        let desired = task.borrow_and_update().desired_state;
        if desired > self.desired {
            self.desired = desired;
        }
    }

    /// One step of `exec.Do`: [`next_step`] names it, this does the executor call and
    /// [`settle`] turns the report into the new state. Long operations race against the
    /// desired state rising to SHUTDOWN, so a task stuck starting (e.g. never healthy) can
    /// still be stopped.
    async fn step(&mut self, task: &mut watch::Receiver<Arc<Task>>) -> Step {
        let action = next_step(self.status.state, self.desired);
        let executor = Arc::clone(&self.executor);
        let id = self.id.clone();
        match action {
            Action::Pause => Step::Pause,
            Action::Advance(_) => self.record(action, Report::Done, None, None),
            Action::Prepare => {
                let task_now = task.borrow().clone();
                let prepared =
                    prepare_in_sandbox(executor, self.network.clone(), self.payloads.clone(), task_now);
                match self.until_shutdown(task, prepared).await {
                    None => Step::Continue,
                    Some(Ok(())) => self.record(action, Report::Done, None, None),
                    Some(Err(why)) => {
                        tracing::info!(task = %self.id, error = %why, "task error");
                        self.record(action, Report::Failed, Some(why), None)
                    }
                }
            }
            Action::Start => match self.until_shutdown(task, executor.start(&id)).await {
                None => Step::Continue,
                Some(Ok(container)) => {
                    let task_now = task.borrow().clone();
                    if let Err(why) = self.attach_started(&task_now).await {
                        tracing::info!(task = %self.id, error = %why, "task error");
                        return self.record(action, Report::Failed, Some(why), Some(container));
                    }
                    // Attached first: a health check may need the overlay to pass.
                    match self.until_shutdown(task, executor.ready(&id)).await {
                        None => Step::Continue,
                        Some(Ok(())) => self.record(action, Report::Done, None, Some(container)),
                        Some(Err(e)) => {
                            tracing::info!(task = %self.id, error = %e, "task error");
                            self.record(action, Report::Failed, Some(e.to_string()), Some(container))
                        }
                    }
                }
                Some(Err(e)) => self.record_result(action, Err(e)),
            },
            Action::Wait => match self.until_shutdown(task, executor.wait(&id)).await {
                None => Step::Continue,
                Some(Ok(exit)) => {
                    let container = Some(self.container_with_exit(&exit));
                    match exit.failure() {
                        None => self.record(action, Report::Done, None, container),
                        Some(why) => self.record(action, Report::Failed, Some(why), container),
                    }
                }
                Some(Err(e)) => self.record_result(action, Err(e)),
            },
            Action::Shutdown => match executor.shutdown(&id).await {
                Ok(exit) => {
                    let container = exit.map(|e| self.container_with_exit(&e));
                    self.record(action, Report::Done, None, container)
                }
                // Never prepared here: nothing to stop.
                Err(Error::NotFound(_)) => self.record(action, Report::NotFound, None, None),
                Err(e) => self.record_result(action, Err(e)),
            },
            Action::Remove => {
                if let Err(e) = executor.remove(&id).await {
                    tracing::warn!(task = %self.id, error = %e, "removing task failed");
                }
                if let Some(network) = &self.network {
                    network.release(&id).await;
                }
                if let Some(payloads) = &self.payloads
                    && let Err(e) = payloads.release(&id)
                {
                    tracing::warn!(task = %self.id, error = %e, "releasing the task's secrets failed");
                }
                Step::Done
            }
        }
    }

    /// For an executor that makes the task's namespace itself: the endpoints go into the
    /// started process's namespace.
    async fn attach_started(&self, task: &Task) -> Result<(), String> {
        let Some(network) = &self.network else {
            return Ok(());
        };
        // A task holding only an ingress address (published ports, no network in its spec)
        // has endpoints too.
        if !self.executor.makes_own_netns() || !network.awaits_start(&task.id).await {
            return Ok(());
        }
        let details = self.executor.details(&self.id).await.map_err(|e| e.to_string())?;
        network
            .started(&self.id, details.pid)
            .await
            .map_err(|e| e.to_string())
    }

    /// Runs `op` unless the desired state reaches SHUTDOWN first (then `None`; the caller
    /// goes round again and shuts the task down).
    async fn until_shutdown<T>(
        &mut self,
        task: &mut watch::Receiver<Arc<Task>>,
        op: impl std::future::Future<Output = T>,
    ) -> Option<T> {
        tokio::pin!(op);
        loop {
            tokio::select! {
                out = &mut op => return Some(out),
                changed = task.changed() => {
                    if changed.is_err() {
                        // The worker dropped the assignment; finish the operation anyway.
                        return Some(op.await);
                    }
                    self.absorb(task);
                    if self.desired >= TaskState::Shutdown {
                        return None;
                    }
                }
            }
        }
    }

    fn container_with_exit(&self, exit: &Exit) -> ContainerStatus {
        let mut c = self.status.container.clone().unwrap_or_else(|| ContainerStatus {
            container_id: self.id.clone(),
            ..ContainerStatus::default()
        });
        c.exit_code = Some(exit.code);
        c
    }

    /// Records what the executor answered for `action`: its container on success, its
    /// error otherwise.
    fn record_result(&mut self, action: Action, result: Result<Option<ContainerStatus>, Error>) -> Step {
        match result {
            Ok(container) => self.record(action, Report::Done, None, container),
            Err(error) => {
                tracing::info!(task = %self.id, %error, "task error");
                self.record(action, Report::Failed, Some(error.to_string()), None)
            }
        }
    }

    /// Moves to the state [`settle`] gives for `report`: a success clears the error and sets
    /// the step's message; a failure keeps the message and records `error` (Swarm's fatal path).
    fn record(
        &mut self,
        action: Action,
        report: Report,
        error: Option<String>,
        container: Option<ContainerStatus>,
    ) -> Step {
        let settled = settle(self.status.state, action, report);
        match settled.message {
            Some(message) => {
                self.status.err.clear();
                self.set(settled.state, message, container);
            }
            None => {
                self.status.err = error.unwrap_or_default();
                let message = self.status.message.clone();
                self.set(settled.state, &message, container);
            }
        }
        Step::Continue
    }

    /// Records and reports a new status; refuses to move backwards.
    fn set(&mut self, state: TaskState, message: &str, container: Option<ContainerStatus>) {
        if state < self.status.state {
            tracing::error!(task = %self.id, from = self.status.state.as_str(), to = state.as_str(), "refusing backwards state");
            return;
        }
        tracing::debug!(task = %self.id, state = state.as_str(), "task state");
        self.status.state = state;
        self.status.message = message.to_string();
        self.status.timestamp = self.clock.now();
        if container.is_some() {
            self.status.container = container;
        }
        // A finished task never runs again (a new task replaces it): its secrets leave the
        // node's memory now rather than when the task is removed from the history.
        if state.is_terminal()
            && let Some(payloads) = &self.payloads
            && let Err(e) = payloads.release(&self.id)
        {
            tracing::warn!(task = %self.id, error = %e, "releasing the task's secrets failed");
        }
        let update = StatusUpdate {
            task_id: self.id.clone(),
            status: self.status.clone(),
        };
        // A closed channel means the agent is shutting down; the task itself carries on.
        let _ = self.statuses.send(update);
    }
}

/// The task's sandbox from the network layer, then the executor's `prepare_in` with it.
async fn prepare_in_sandbox<E: Executor>(
    executor: Arc<E>,
    network: Option<Arc<NodeNetwork>>,
    payloads: Option<Arc<Payloads>>,
    task: Arc<Task>,
) -> Result<(), String> {
    let mut sandbox = match network {
        Some(network) => network
            .sandbox(&task, executor.makes_own_netns())
            .await
            .map_err(|e| e.to_string())?,
        None if !task.spec.networks.is_empty() => {
            return Err(format!(
                "task {} needs overlay networks, but this node has no network layer",
                task.id
            ));
        }
        None => Sandbox::default(),
    };
    let files = match payloads {
        Some(payloads) => payloads.files_for(&task).map_err(|e| e.to_string())?,
        None => {
            let refs = types::secret::references(&task.spec.container.extra).map_err(|e| e.to_string())?;
            if !refs.is_empty() {
                return Err(format!(
                    "task {} references secrets or configs, but this node has no place for them",
                    task.id
                ));
            }
            crate::payloads::TaskFiles::default()
        }
    };
    sandbox.payload_files = files.files;
    sandbox.payload_dir = files.dir;
    executor
        .prepare_in(&task, &sandbox)
        .await
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests;
