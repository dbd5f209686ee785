//! The output of `docker attach` made from a container's log lines, for standalone
//! containers (`standalone/attach.rs`) and service tasks (`task_attach.rs`) alike: without a
//! terminal each line goes back to its own stream, which the API relay frames (8-byte
//! headers, stream 1 or 2); a terminal's logged lines go back as one raw stream
//! (`standalone/tty.rs`, `task_terminal.rs`).
//!
//! ```text
//! log lines (backlog with logs=1, followed with stream=1 until the container ends)
//!   ─► line + "\n" ─► stdout pipe ┐
//!                 └► stderr pipe ┴─► api relay (frames) ─► client
//! ```
//!
//! The pipes are bounded: a slow client pauses the follower, never memory.

use agent::logs::{LogLines, LogOptions, LogStream};
use api::{AttachOptions, ExecStreams};
use futures::StreamExt;
use tokio::io::{AsyncWrite, AsyncWriteExt, DuplexStream};

/// Bytes buffered per stream between the container's side and the client.
pub(super) const PIPE: usize = 64 * 1024;

/// What of the log an attach reads: every earlier line with `logs` (none without), then with
/// `stream` each new one until the container ends; only the streams asked for.
pub(super) fn log_options(options: &AttachOptions) -> LogOptions {
    LogOptions {
        tail: if options.logs { None } else { Some(0) },
        since: None,
        until: None,
        follow: options.stream,
        stdout: options.stdout,
        stderr: options.stderr,
    }
}

/// The container's side of an attach's stdout and stderr pipes; dropping it ends both.
pub(super) struct Output {
    stdout: DuplexStream,
    stderr: DuplexStream,
}

impl Output {
    /// The pipes, and the attach's streams that read them (the ones `options` asks for), with
    /// `stdin` as the client's input.
    pub(super) fn open(
        options: &AttachOptions,
        stdin: Option<Box<dyn AsyncWrite + Send + Unpin>>,
    ) -> (Output, ExecStreams) {
        let (stdout, out_rx) = tokio::io::duplex(PIPE);
        let (stderr, err_rx) = tokio::io::duplex(PIPE);
        let streams = ExecStreams {
            tty: false,
            stdin,
            stdout: options.stdout.then(|| Box::new(out_rx) as _),
            stderr: options.stderr.then(|| Box::new(err_rx) as _),
            exited: Box::pin(std::future::ready(())),
        };
        (Output { stdout, stderr }, streams)
    }

    /// Copies `lines` in, each to its stream, until they end; false when the client went away.
    pub(super) async fn relay(&mut self, lines: LogLines) -> bool {
        write_lines(lines, &mut self.stdout, Some(&mut self.stderr)).await
    }
}

/// Writes each of `lines` with its newline to `stdout`, or a stderr line to `stderr` when
/// given (without it, one stream as a terminal wrote them), until the lines end; false when
/// the client went away.
pub(super) async fn write_lines<W: AsyncWrite + Unpin>(
    mut lines: LogLines,
    stdout: &mut W,
    mut stderr: Option<&mut W>,
) -> bool {
    while let Some(Ok(message)) = lines.next().await {
        let sink = match (message.stream, stderr.as_deref_mut()) {
            (LogStream::Stderr, Some(err)) => err,
            _ => &mut *stdout,
        };
        let mut bytes = message.line;
        bytes.push(b'\n');
        if sink.write_all(&bytes).await.is_err() {
            return false;
        }
    }
    true
}
