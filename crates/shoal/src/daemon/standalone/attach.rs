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

/// Bytes buffered per stream between the follower and the client.
const PIPE: usize = 64 * 1024;

impl Standalone {
    /// The container's output as attach streams; they end when the container exits.
    pub async fn attach(self: &Arc<Self>, task_id: &str, options: AttachOptions) -> Result<ExecStreams> {
        let entry = self.get(task_id)?;
        let log_options = agent::logs::LogOptions {
            // Without `logs`, only what comes from now on.
            tail: if options.logs { None } else { Some(0) },
            since: None,
            until: None,
            follow: options.stream,
            stdout: options.stdout,
            stderr: options.stderr,
        };
        let mut lines = self
            .executor
            .logs(task_id, log_options)
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
        tokio::spawn(async move {
            while let Some(Ok(message)) = lines.next().await {
                let sink = match message.stream {
                    agent::logs::LogStream::Stdout => &mut out_tx,
                    agent::logs::LogStream::Stderr => &mut err_tx,
                };
                let mut bytes = message.line;
                bytes.push(b'\n');
                if sink.write_all(&bytes).await.is_err() {
                    // The client went away.
                    break;
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
