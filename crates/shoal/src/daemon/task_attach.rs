//! `docker attach` to a service task's container on this node (`POST /containers/{id}/attach`,
//! the stream the stock CLI hijacks). Without a terminal, as a standalone container's
//! (`attach_output.rs`): the task's log lines kept by the agent — the earlier ones with
//! `logs=1`, then with `stream=1` each new one until the container exits — each on its own
//! stream, and the client's input into its stdin when the task was created with `OpenStdin`.
//! With a terminal: `task_terminal.rs`. A task's container runs once, so a stream to one that
//! is not running is refused, with the words dockerd's CLI uses.
//!
//! ```text
//!  attach ─► the task's container on this node (else "No such container")
//!         ─► stream=1, not running ─► 409 "You cannot attach to a stopped container, …"
//!         ─► TTY ─► task_terminal.rs
//!         ─► Tasks::logs(backlog with logs=1; followed with stream=1) ─► stdout/stderr pipes
//!            client input (OpenStdin) ─► Tasks::stdin ─► the container's stdin
//! ```

use std::sync::Arc;

use api::{AttachOptions, ExecStreams};
use manager::Error;
use types::Task;

use super::attach_output::{self, Output};
use super::exec::exec_error;
use super::swarm::Swarm;
use super::task_terminal::attach_terminal;

type Result<T> = std::result::Result<T, Error>;

/// dockerd's answer for a task container that does not exist on this node.
pub(super) fn no_such(task_id: &str) -> Error {
    Error::NotFound(format!(
        "No such container: {}",
        api::containers::container_id(task_id)
    ))
}

/// A task container of this node: the node's task side, the task, and whether its container
/// runs (as `docker inspect` shows it).
pub(super) struct LocalTask {
    pub tasks: Arc<dyn agent::Tasks>,
    pub task: Arc<Task>,
    pub running: bool,
}

impl Swarm {
    /// The container of task `task_id` among this node's.
    pub(super) async fn local_task(&self, task_id: &str) -> Result<LocalTask> {
        let tasks = self.node_tasks().ok_or_else(|| no_such(task_id))?;
        let (task, details) = tasks
            .containers()
            .await
            .into_iter()
            .find(|(t, _)| t.id == task_id)
            .ok_or_else(|| no_such(task_id))?;
        let running = details.phase == agent::executor::Phase::Running;
        Ok(LocalTask { tasks, task, running })
    }

    /// `POST /containers/{id}/attach` of a service task's container.
    pub(crate) async fn task_attach(&self, task_id: &str, options: AttachOptions) -> Result<ExecStreams> {
        let local = self.local_task(task_id).await?;
        if options.stream && !local.running {
            return Err(Error::Conflict(
                "You cannot attach to a stopped container, start it first".into(),
            ));
        }
        if local.task.spec.container.tty {
            return attach_terminal(&local, options).await;
        }
        let lines = local
            .tasks
            .logs(task_id, attach_output::log_options(&options))
            .await
            .ok_or_else(|| no_such(task_id))?;
        // Input only for a task created with its stdin open, as dockerd (which ignores
        // `stdin=1` otherwise), and only on a stream to the running container.
        let stdin = if options.stream && options.stdin && local.task.spec.container.open_stdin {
            let writer = local.tasks.stdin(task_id).await;
            Some(writer.map_err(|e| exec_error(task_id, e))?)
        } else {
            None
        };
        let (mut output, streams) = Output::open(&options, stdin);
        tokio::spawn(async move {
            output.relay(lines).await;
        });
        Ok(streams)
    }
}
