//! `docker attach` / the streams of `docker run`: the container's log lines, followed
//! until it exits, turned back into stdout and stderr byte streams for the hijacked relay;
//! with `-i`, the client's input into the container's stdin (`oci/stdin.rs`).
//!
//! ```text
//! executor log follower ─► line + "\n" ─► stdout pipe ┐
//!                                      └► stderr pipe ┴─► api relay (frames) ─► client
//! ```
//!
//! The pipes are bounded: a slow client pauses the follower, never memory.

use std::sync::Arc;

use agent::executor::Executor;
use api::{AttachOptions, ExecStreams};
use futures::StreamExt;
use tokio::io::AsyncWriteExt;

use super::{Result, Standalone, error};

/// Copies log lines into the stdout and stderr pipes until the lines end; false when the
/// client went away.
async fn relay(
    mut lines: agent::logs::LogLines,
    out: &mut tokio::io::DuplexStream,
    err: &mut tokio::io::DuplexStream,
) -> bool {
    while let Some(Ok(message)) = lines.next().await {
        let sink = match message.stream {
            agent::logs::LogStream::Stdout => &mut *out,
            agent::logs::LogStream::Stderr => &mut *err,
        };
        let mut bytes = message.line;
        bytes.push(b'\n');
        if sink.write_all(&bytes).await.is_err() {
            return false;
        }
    }
    true
}

/// Bytes buffered per stream between the follower and the client.
const PIPE: usize = 64 * 1024;

impl Standalone {
    /// The container's output as attach streams; they end when the container exits.
    pub async fn attach(self: &Arc<Self>, task_id: &str, options: AttachOptions) -> Result<ExecStreams> {
        let entry = self.get(task_id)?;
        if entry.task.spec.container.tty {
            return self.attach_tty(task_id, options).await;
        }
        let log_options = agent::logs::LogOptions {
            // Without `logs`, only what comes from now on.
            tail: if options.logs { None } else { Some(0) },
            since: None,
            until: None,
            follow: options.stream,
            stdout: options.stdout,
            stderr: options.stderr,
        };
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
                tail: if options.logs { None } else { Some(0) },
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
        let (mut out_tx, out_rx) = tokio::io::duplex(PIPE);
        let (mut err_tx, err_rx) = tokio::io::duplex(PIPE);
        entry.attached.send_modify(|n| *n += 1);
        let this = self.clone();
        let task_id = task_id.to_owned();
        tokio::spawn(async move {
            let connected = relay(lines, &mut out_tx, &mut err_tx).await;
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
                            relay(lines, &mut out_tx, &mut err_tx).await;
                        }
                        Err(e) => tracing::debug!(container = %task_id, "attaching to the next run: {e}"),
                    }
                }
            }
            drop((out_tx, err_tx));
            entry.attached.send_modify(|n| *n = n.saturating_sub(1));
        });
        Ok(ExecStreams {
            tty: false,
            stdin,
            stdout: options.stdout.then(|| Box::new(out_rx) as _),
            stderr: options.stderr.then(|| Box::new(err_rx) as _),
            exited: Box::pin(std::future::ready(())),
        })
    }
}
