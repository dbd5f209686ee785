//! The exec stream over a hijacked connection: the client's bytes go to the process's stdin;
//! its output comes back raw (TTY) or in dockerd's multiplexed frames
//! (`[stream, 0, 0, 0, len u32 BE] payload`, stream 1 = stdout, 2 = stderr).
//!
//! ```text
//!  client ──► stdin (EOF on the client's half-close) ──► process
//!  client ◄── frames ◄── stdout/stderr (bounded chunks) ◄── process
//!             └ both at EOF ─► wait for the recorded exit ─► close
//! ```
//!
//! Copies go through fixed buffers: a slow client stops reading the process's pipe, which
//! then stops the process, as a full pipe does; nothing piles up in memory.

use axum::body::Body;
use axum::response::Response;
use http::{HeaderValue, StatusCode, header};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::backend::ExecStreams;

/// The client asked to take the connection over (`Upgrade: tcp`, as the docker CLI sends).
pub fn wants_upgrade(headers: &http::HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("tcp"))
}

/// Answers an exec start or a container attach with `streams`: over the taken-over connection
/// (101, input and output) when the client asked for the upgrade, else output only as the
/// response body. `what` names the stream in the log when the upgrade fails. Typing
/// `detach`'s sequence into the input ends the stream (`detach.rs`).
pub fn respond_detachable(
    upgrade: Option<hyper::upgrade::OnUpgrade>,
    streams: ExecStreams,
    what: String,
    detach: Option<super::detach::Escape>,
) -> Response {
    let content_type = if streams.tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    };
    let Some(upgrade) = upgrade else {
        let (client, server) = tokio::io::duplex(64 * 1024);
        tokio::spawn(relay(tokio::io::empty(), server, streams));
        let mut response = Response::new(Body::from_stream(tokio_util::io::ReaderStream::new(client)));
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        return response;
    };
    tokio::spawn(async move {
        match upgrade.await {
            Ok(upgraded) => {
                let (rd, wr) = tokio::io::split(TokioIo::new(upgraded));
                relay_detachable(rd, wr, streams, detach).await;
            }
            Err(e) => tracing::info!("{what}: connection upgrade failed: {e}"),
        }
    });
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("tcp"));
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

/// Largest chunk read from the process before it is framed and sent.
const CHUNK: usize = 32 * 1024;

/// Relays `streams` between the process and the client until its output ends and its exit
/// is recorded; then closes the client's side. Errors end the relay (the client went away).
pub async fn relay<R, W>(client_in: R, client_out: W, streams: ExecStreams)
where
    R: AsyncRead + Send + Unpin,
    W: AsyncWrite + Send + Unpin,
{
    relay_detachable(client_in, client_out, streams, None).await;
}

/// [`relay`], ending early (the process goes on) when the input holds `detach`'s sequence.
pub async fn relay_detachable<R, W>(
    client_in: R,
    mut client_out: W,
    streams: ExecStreams,
    detach: Option<super::detach::Escape>,
) where
    R: AsyncRead + Send + Unpin,
    W: AsyncWrite + Send + Unpin,
{
    let ExecStreams {
        tty,
        stdin,
        stdout,
        stderr,
        exited,
    } = streams;
    // Resolves true when the client typed the detach sequence.
    let input = async move {
        let Some(mut stdin) = stdin else { return false };
        let mut client_in = client_in;
        let detached = match detach {
            None => {
                let _ = tokio::io::copy(&mut client_in, &mut stdin).await;
                false
            }
            Some(mut escape) => {
                let mut buf = vec![0u8; CHUNK];
                loop {
                    let n = match client_in.read(&mut buf).await {
                        Ok(0) | Err(_) => break false,
                        Ok(n) => n,
                    };
                    let (pass, detached) = escape.filter(&buf[..n]);
                    if stdin.write_all(&pass).await.is_err() || detached {
                        break detached;
                    }
                }
            }
        };
        if !detached {
            // The client's half-close is the process's end of input.
            let _ = stdin.shutdown().await;
        }
        detached
    };
    let output = async move {
        if pump(&mut client_out, tty, stdout, stderr).await.is_ok() {
            exited.await;
            let _ = client_out.flush().await;
        }
        let _ = client_out.shutdown().await;
    };
    tokio::pin!(input, output);
    let mut input_done = false;
    loop {
        tokio::select! {
            // Detached: dropping both halves closes the client's connection; the container
            // runs on.
            detached = &mut input, if !input_done => {
                input_done = true;
                if detached {
                    break;
                }
            }
            _ = &mut output => break,
        }
    }
}

/// Copies stdout and stderr to the client until both end.
async fn pump<W: AsyncWrite + Unpin>(
    out: &mut W,
    tty: bool,
    mut stdout: Option<Box<dyn AsyncRead + Send + Unpin>>,
    mut stderr: Option<Box<dyn AsyncRead + Send + Unpin>>,
) -> std::io::Result<()> {
    let mut out_buf = vec![0u8; CHUNK];
    let mut err_buf = vec![0u8; CHUNK];
    while stdout.is_some() || stderr.is_some() {
        let (stream, n) = tokio::select! {
            n = read_some(&mut stdout, &mut out_buf) => (1u8, n),
            n = read_some(&mut stderr, &mut err_buf) => (2u8, n),
        };
        let n = match n {
            Ok(0) | Err(_) => {
                // End of that stream (a read error of a pipe is its end too).
                if stream == 1 {
                    stdout = None
                } else {
                    stderr = None
                }
                continue;
            }
            Ok(n) => n,
        };
        let data = if stream == 1 { &out_buf[..n] } else { &err_buf[..n] };
        if tty {
            out.write_all(data).await?;
        } else {
            out.write_all(&frame_header(stream, n)).await?;
            out.write_all(data).await?;
        }
        out.flush().await?;
    }
    Ok(())
}

/// Reads from `stream`, or never resolves when there is none.
async fn read_some(
    stream: &mut Option<Box<dyn AsyncRead + Send + Unpin>>,
    buf: &mut [u8],
) -> std::io::Result<usize> {
    match stream {
        Some(s) => s.read(buf).await,
        None => std::future::pending().await,
    }
}

/// dockerd's 8-byte frame header.
pub fn frame_header(stream: u8, len: usize) -> [u8; 8] {
    let len = u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes();
    [stream, 0, 0, 0, len[0], len[1], len[2], len[3]]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn detach_keys_end_a_terminal_stream_and_never_reach_the_process() {
        let (stdin, mut process_in) = tokio::io::duplex(1024);
        let (mut process_out, stdout) = tokio::io::duplex(1024);
        let streams = ExecStreams {
            tty: true,
            stdin: Some(Box::new(stdin)),
            stdout: Some(Box::new(stdout)),
            stderr: None,
            // The process never exits here: only the detach may end the stream.
            exited: Box::pin(std::future::pending()),
        };
        let (client, server) = tokio::io::duplex(1024);
        let (server_in, server_out) = tokio::io::split(server);
        let escape = super::super::detach::Escape::new(super::super::detach::DEFAULT.to_vec());
        let relay = tokio::spawn(relay_detachable(server_in, server_out, streams, Some(escape)));
        let (mut client_in, mut client_out) = tokio::io::split(client);
        process_out.write_all(b"$ ").await.unwrap();
        let mut prompt = [0u8; 2];
        client_in.read_exact(&mut prompt).await.unwrap();
        client_out.write_all(b"ls\n\x10\x11after").await.unwrap();
        tokio::time::timeout(std::time::Duration::from_secs(10), relay)
            .await
            .expect("the detach keys ended the stream")
            .unwrap();
        let mut typed = Vec::new();
        process_in.read_to_end(&mut typed).await.unwrap();
        assert_eq!(typed, b"ls\n", "the keys and what follows them stay out");
        // The client's connection is closed.
        let mut rest = Vec::new();
        client_in.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty());
    }

    #[tokio::test]
    async fn frames_stdout_and_stderr_and_waits_for_the_exit() {
        let (exit_tx, exit_rx) = tokio::sync::oneshot::channel::<()>();
        let streams = ExecStreams {
            tty: false,
            stdin: None,
            stdout: Some(Box::new(&b"out"[..])),
            stderr: Some(Box::new(&b"err!"[..])),
            exited: Box::pin(async move {
                let _ = exit_rx.await;
            }),
        };
        let (client, server) = tokio::io::duplex(1024);
        let (server_in, server_out) = tokio::io::split(server);
        let relay = tokio::spawn(relay(server_in, server_out, streams));
        let (mut client_in, _client_out) = tokio::io::split(client);
        let mut got = vec![0u8; 8 + 3 + 8 + 4];
        client_in.read_exact(&mut got).await.unwrap();
        assert!(!relay.is_finished());
        exit_tx.send(()).unwrap();
        relay.await.unwrap();
        let mut rest = Vec::new();
        client_in.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty());
        let frames = [
            [&frame_header(1, 3)[..], b"out"].concat(),
            [&frame_header(2, 4)[..], b"err!"].concat(),
        ];
        assert!(
            got == [frames[0].clone(), frames[1].clone()].concat()
                || got == [frames[1].clone(), frames[0].clone()].concat(),
            "{got:?}"
        );
    }
}
