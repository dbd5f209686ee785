//! The streams of a container with a terminal (`docker run -it`, `docker attach`, `docker
//! start -a` of a `-t` container): one raw stream, as dockerd's, from the terminal the
//! task-shim serves (`agent/src/executor/oci/console.rs`); the client's input is typed into
//! it; `docker resize` (the CLI's own size, then SIGWINCH) sets its window size.
//!
//! ```text
//!  attached while it runs     ─► console(Live)   ─► raw output ─► client
//!    with logs=1              ─► console(Log): the task-shim streams the log files, then what
//!                                came meanwhile, so nothing falls between the two
//!  attached before the start  ─► [logs=1: its log lines] ─► wait for the start ─►
//!                                console(Replay, once launched): its output from the start on
//!                                (a run already over: its log lines instead)
//!  client input (-i) ─► console input ─► the terminal
//! ```

use std::sync::Arc;

use agent::executor::oci::terminal::Want;
use api::{AttachOptions, ExecStreams};
use tokio::io::{AsyncWriteExt, DuplexStream};

use super::super::attach_output::{PIPE, write_lines};
use super::{Entry, Result, Standalone, error};

impl Standalone {
    /// `docker resize` / `POST /containers/{id}/resize`.
    pub async fn resize(&self, task_id: &str, height: u16, width: u16) -> Result<()> {
        self.get(task_id)?;
        self.executor
            .resize(task_id, height, width)
            .await
            .map_err(|e| error(task_id, e))
    }

    /// The attach streams of a container created with `Tty`.
    pub(super) async fn attach_tty(
        self: &Arc<Self>,
        task_id: &str,
        options: AttachOptions,
    ) -> Result<ExecStreams> {
        let entry = self.get(task_id)?;
        // Input only for a container created with its stdin open, as dockerd.
        let (stdin, input) = if options.stdin && entry.task.spec.container.open_stdin {
            let (tx, rx) = tokio::io::duplex(PIPE);
            (Some(Box::new(tx) as _), Some(rx))
        } else {
            (None, None)
        };
        let (output, out_rx) = tokio::io::duplex(PIPE);
        entry.attached.send_modify(|n| *n += 1);
        let this = self.clone();
        tokio::spawn(async move {
            this.relay_terminal(&entry, options, output, input).await;
            entry.attached.send_modify(|n| *n = n.saturating_sub(1));
        });
        Ok(ExecStreams {
            tty: true,
            stdin,
            stdout: (options.stdout || options.stderr).then(|| Box::new(out_rx) as _),
            stderr: None,
            exited: Box::pin(std::future::ready(())),
        })
    }

    /// Copies the terminal to `output` and `input` to the terminal, for as long as this
    /// attach lasts: the current run, or the next one when none runs.
    async fn relay_terminal(
        &self,
        entry: &Entry,
        options: AttachOptions,
        mut output: DuplexStream,
        input: Option<DuplexStream>,
    ) {
        let task_id = entry.task.id.clone();
        let mut life = entry.life.subscribe();
        let (running, runs, exits) = {
            let l = life.borrow_and_update();
            (l.running, l.runs, l.exits)
        };
        // While it runs, the task-shim replays the log itself when the stream follows (its
        // files up to the moment the client joined, then the output since): copying the
        // lines here and then joining the live terminal would lose or repeat what it wrote
        // in between. Stopped, the log is complete and nothing follows until the next start.
        let shim_replays = options.logs && options.stream && running;
        if options.logs && !shim_replays && !self.copy_logs(&task_id, None, &mut output).await {
            return;
        }
        if !options.stream {
            return;
        }
        let want = match (running, shim_replays) {
            (true, true) => Want::Log,
            (true, false) => Want::Live,
            (false, _) => Want::Replay,
        };
        if !running {
            // Wait for the next run's start to begin (`docker run` attaches before it).
            if life.wait_for(|l| l.runs > runs || l.removed).await.is_err() || life.borrow().removed {
                return;
            }
        }
        // The console waits for the container to launch; a start that fails ends the wait.
        let connected = tokio::select! {
            c = self.executor.console(&task_id, want) => Some(c),
            _ = life.wait_for(|l| l.exits > exits || l.removed) => None,
        };
        let console = match connected {
            Some(Ok(console)) => console,
            other => {
                if let Some(Err(e)) = other {
                    tracing::debug!(container = %task_id, "attaching to the terminal: {e}");
                }
                // That run is over already: what it printed is in its log.
                match want {
                    Want::Replay => {
                        let since = { life.borrow().run_started };
                        self.copy_logs(&task_id, Some(since), &mut output).await;
                    }
                    Want::Log => {
                        self.copy_logs(&task_id, None, &mut output).await;
                    }
                    Want::Live => {}
                }
                return;
            }
        };
        let mut terminal_in = console.input;
        let typing = input.map(|mut input| {
            tokio::spawn(async move {
                let _ = tokio::io::copy(&mut input, &mut terminal_in).await;
                let _ = terminal_in.shutdown().await;
            })
        });
        let mut terminal_out = console.output;
        let _ = tokio::io::copy(&mut terminal_out, &mut output).await;
        if let Some(typing) = typing {
            typing.abort();
        }
    }

    /// Writes the container's log lines (those of the run started at `since`, or all) to
    /// `output` as the terminal wrote them; false when the client went away.
    async fn copy_logs(
        &self,
        task_id: &str,
        since: Option<Option<types::Timestamp>>,
        output: &mut DuplexStream,
    ) -> bool {
        let options = agent::logs::LogOptions {
            tail: None,
            since: since.flatten(),
            until: None,
            follow: false,
            stdout: true,
            stderr: true,
        };
        let Ok(lines) = agent::executor::Executor::logs(&*self.executor, task_id, options).await else {
            return true;
        };
        write_lines(lines, output, None).await
    }
}
