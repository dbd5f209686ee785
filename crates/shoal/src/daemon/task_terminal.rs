//! `docker attach` and `docker container resize` of a service task's container created
//! with a terminal (`docker service create -t`): the terminal the task-shim serves, reached
//! through the node's tasks as a standalone `-t` container's is (`standalone/tty.rs`). A
//! task's container runs once, so an attach is to the live terminal only and ends with it.
//!
//! ```text
//!  attach ─► the task on this node, running, with TTY ─► Tasks::terminal_attach(Live)
//!          ─► raw output to the client; its input typed in when the task has OpenStdin
//!  resize ─► Tasks::terminal_resize ─► the pty master's window size
//! ```

use std::sync::Arc;

use agent::executor::oci::terminal::Want;
use api::{AttachOptions, ExecStreams};
use manager::Error;
use types::{Task, TaskState};

use super::swarm::Swarm;

type Result<T> = std::result::Result<T, Error>;

impl Swarm {
    /// The task `task_id` of this node's swarm worker, with the node's task side.
    async fn terminal_task(&self, task_id: &str) -> Result<(Arc<dyn agent::Tasks>, Arc<Task>)> {
        let no_such = || {
            Error::NotFound(format!(
                "No such container: {}",
                api::containers::container_id(task_id)
            ))
        };
        let tasks = self.node_tasks().ok_or_else(no_such)?;
        let task = tasks
            .held()
            .await
            .into_iter()
            .find(|t| t.id == task_id)
            .ok_or_else(no_such)?;
        Ok((tasks, task))
    }

    /// `POST /containers/{id}/attach` of a service task's container.
    pub(crate) async fn task_attach(&self, task_id: &str, options: AttachOptions) -> Result<ExecStreams> {
        let (tasks, task) = self.terminal_task(task_id).await?;
        let name = task.name();
        if !task.spec.container.tty {
            return Err(Error::Unimplemented(format!(
                "cannot attach to container {name}: a service task is attached to through its terminal \
                 (docker service create -t); follow its output with docker logs -f"
            )));
        }
        if options.logs {
            return Err(Error::Unimplemented(format!(
                "attach to container {name} with logs=1: a service task's terminal is attached live; \
                 read its earlier output with docker logs"
            )));
        }
        if task.status.state != TaskState::Running {
            return Err(Error::Conflict(
                "You cannot attach to a stopped container, start it first".into(),
            ));
        }
        if !options.stream {
            // Nothing asked for but the (refused) logs: an empty stream, as dockerd's.
            return Ok(ExecStreams {
                tty: true,
                stdin: None,
                stdout: None,
                stderr: None,
                exited: Box::pin(std::future::ready(())),
            });
        }
        let console = tasks
            .terminal_attach(task_id, Want::Live)
            .await
            .map_err(|e| super::exec::exec_error(task_id, e))?;
        // Input only for a task created with its stdin open, as dockerd.
        let stdin = (options.stdin && task.spec.container.open_stdin).then_some(console.input);
        Ok(ExecStreams {
            tty: true,
            stdin,
            stdout: (options.stdout || options.stderr).then_some(console.output),
            stderr: None,
            exited: Box::pin(std::future::ready(())),
        })
    }

    /// `POST /containers/{id}/resize` of a service task's container.
    pub(crate) async fn task_resize(&self, task_id: &str, height: u16, width: u16) -> Result<()> {
        let (tasks, task) = self.terminal_task(task_id).await?;
        if !task.spec.container.tty {
            return Err(Error::Conflict(format!(
                "container {} has no TTY to resize",
                api::containers::container_id(task_id)
            )));
        }
        tasks
            .terminal_resize(task_id, height, width)
            .await
            .map_err(|e| super::exec::exec_error(task_id, e))
    }
}
