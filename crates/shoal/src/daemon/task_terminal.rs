//! `docker attach` and `docker container resize` of a service task's container created
//! with a terminal (`docker service create -t`): the terminal the task-shim serves, reached
//! through the node's tasks as a standalone `-t` container's is (`standalone/tty.rs`). A
//! task's container runs once, so a stream is to the live terminal and ends with it; with
//! `logs=1` it begins with the whole output its log keeps (streamed by the task-shim from
//! the log files, the line not logged yet, then what came meanwhile, so nothing falls
//! between the replay and the live output; `console.rs`); `logs=1&stream=0` gives the task's
//! logged lines, as the terminal wrote them.
//!
//! ```text
//!  attach (task_attach.rs) ─► stream=1 ─► Tasks::terminal_attach(Live, or Log with logs=1)
//!                                      ─► raw output to the client; its input typed in
//!                                         when the task has OpenStdin
//!                          ─► logs=1, stream=0 ─► Tasks::logs ─► the lines, raw
//!  resize ─► Tasks::terminal_resize ─► the pty master's window size
//! ```

use agent::executor::oci::terminal::Want;
use api::{AttachOptions, ExecStreams};
use manager::Error;

use super::attach_output::{self, PIPE, write_lines};
use super::exec::exec_error;
use super::swarm::Swarm;
use super::task_attach::{LocalTask, no_such};

type Result<T> = std::result::Result<T, Error>;

/// The attach streams of a task container with a terminal (`task_attach.rs` found it and
/// checked that a stream is to a running one).
pub(super) async fn attach_terminal(local: &LocalTask, options: AttachOptions) -> Result<ExecStreams> {
    let task_id = local.task.id.as_str();
    let output_wanted = options.stdout || options.stderr;
    let streams = |stdin, stdout| ExecStreams {
        tty: true,
        stdin,
        stdout,
        stderr: None,
        exited: Box::pin(std::future::ready(())),
    };
    if !options.stream {
        // The earlier output only (nothing at all without `logs`, as dockerd).
        let (mut output, out_rx) = tokio::io::duplex(PIPE);
        if options.logs && output_wanted {
            let all = AttachOptions {
                stdout: true,
                stderr: true,
                ..options
            };
            let lines = local
                .tasks
                .logs(task_id, attach_output::log_options(&all))
                .await
                .ok_or_else(|| no_such(task_id))?;
            tokio::spawn(async move {
                write_lines(lines, &mut output, None).await;
            });
        }
        return Ok(streams(None, output_wanted.then(|| Box::new(out_rx) as _)));
    }
    let want = if options.logs { Want::Log } else { Want::Live };
    let console = local
        .tasks
        .terminal_attach(task_id, want)
        .await
        .map_err(|e| exec_error(task_id, e))?;
    // Input only for a task created with its stdin open, as dockerd.
    let stdin = (options.stdin && local.task.spec.container.open_stdin).then_some(console.input);
    Ok(streams(stdin, output_wanted.then_some(console.output)))
}

impl Swarm {
    /// `POST /containers/{id}/resize` of a service task's container.
    pub(crate) async fn task_resize(&self, task_id: &str, height: u16, width: u16) -> Result<()> {
        let local = self.local_task(task_id).await?;
        if !local.task.spec.container.tty {
            return Err(Error::Conflict(format!(
                "container {} has no TTY to resize",
                api::containers::container_id(task_id)
            )));
        }
        local
            .tasks
            .terminal_resize(task_id, height, width)
            .await
            .map_err(|e| exec_error(task_id, e))
    }
}
