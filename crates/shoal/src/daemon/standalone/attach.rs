//! `docker attach` / the streams of `docker run`: the container's log lines, followed
//! until it exits, turned back into stdout and stderr byte streams for the hijacked relay
//! (`attach_output.rs`, shared with service tasks' attach); with `-i`, the client's input
//! into the container's stdin (`oci/stdin.rs`). An attach to an exited container follows its
//! next run (`docker start -a`).

use std::sync::Arc;

use agent::executor::Executor;
use api::{AttachOptions, ExecStreams};

use super::super::attach_output::{self, Output};
use super::{Result, Standalone, error};

impl Standalone {
    /// The container's output as attach streams; they end when the container exits.
    pub async fn attach(self: &Arc<Self>, task_id: &str, options: AttachOptions) -> Result<ExecStreams> {
        let entry = self.get(task_id)?;
        if entry.task.spec.container.tty {
            return self.attach_tty(task_id, options).await;
        }
        let log_options = attach_output::log_options(&options);
        // Subscribed before the logs are opened, so no run starts unseen in between.
        let mut life = entry.life.subscribe();
        let ended_run = {
            let l = life.borrow_and_update();
            l.ended.then_some(l.runs)
        };
        // A stream on a container whose run has ended is for the next run (`docker start
        // -a`): its logs come after the old run's (shown only with `logs`).
        let next_run = ended_run.filter(|_| options.stream);
        let log_options = match next_run {
            Some(_) => agent::logs::LogOptions {
                follow: false,
                ..log_options
            },
            None => log_options,
        };
        let lines = self
            .executor
            .logs(task_id, log_options.clone())
            .await
            .map_err(|e| error(task_id, e))?;
        // Input only for a container created with its stdin open, as dockerd (which ignores
        // `stdin=1` otherwise).
        let stdin = if options.stdin && entry.task.spec.container.open_stdin {
            Some(self.executor.stdin(task_id).map_err(|e| error(task_id, e))?)
        } else {
            None
        };
        let (mut output, streams) = Output::open(&options, stdin);
        entry.attached.send_modify(|n| *n += 1);
        let this = self.clone();
        let task_id = task_id.to_owned();
        tokio::spawn(async move {
            let connected = output.relay(lines).await;
            if let Some(seen) = next_run.filter(|_| connected) {
                let started = life
                    .wait_for(|l| l.runs > seen || l.removed)
                    .await
                    .ok()
                    .filter(|l| !l.removed)
                    .map(|l| l.run_started);
                if let Some(since) = started {
                    // The new run's lines: the logs of a rerun container hold the earlier
                    // runs' lines before them.
                    let options = agent::logs::LogOptions {
                        tail: None,
                        since,
                        follow: true,
                        ..log_options
                    };
                    match this.executor.logs(&task_id, options).await {
                        Ok(lines) => {
                            output.relay(lines).await;
                        }
                        Err(e) => tracing::debug!(container = %task_id, "attaching to the next run: {e}"),
                    }
                }
            }
            drop(output);
            entry.attached.send_modify(|n| *n = n.saturating_sub(1));
        });
        Ok(streams)
    }
}
