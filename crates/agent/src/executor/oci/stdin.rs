//! A container's stdin (`docker run -i`, `OpenStdin`): a FIFO in the task directory that
//! the agent writes the attached client's input into, and a pipe from the supervisor to the
//! container that stays open across clients.
//!
//! ```text
//!  client ─► hijacked conn ─► agent: writer() ─► <task dir>/stdin (FIFO) ─► shim: serve()
//!                                  opens it (blocks until the shim reads)     │ copies
//!                                                                             ▼
//!                                              container's fd 0 ◄── pipe ◄────┘
//! ```
//!
//! The supervisor holds the pipe's write end, so the container sees EOF only when asked:
//! with `StdinOnce` when the first client closes its input, else never (the next client
//! attaches to the same stdin, as with dockerd). The agent's open of the FIFO blocks until
//! the supervisor reads it, so input sent before the container starts is not lost; a
//! container that goes away releases blocked openers ([`release`]).

#![allow(unsafe_code)]

use std::io::{PipeReader, PipeWriter};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tokio::io::AsyncWrite;

use crate::executor::{Error, Result};

/// The FIFO's name in the task directory.
pub const FIFO: &str = "stdin";

/// Bytes buffered between the client's relay and the FIFO.
const BUFFER: usize = 64 * 1024;

/// How a container's stdin behaves, kept in the launch spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StdinPipe {
    /// Close the container's stdin when the first attached client closes its input.
    pub once: bool,
}

/// Creates the FIFO in `dir` (0600; an existing one is kept).
pub fn make_fifo(dir: &Path) -> Result<()> {
    let path = dir.join(FIFO);
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| Error::Invalid(format!("{} has a NUL byte", path.display())))?;
    // SAFETY: `c` is a valid NUL-terminated path for the duration of the call.
    let rc = unsafe { libc::mkfifo(c.as_ptr(), 0o600) };
    let err = std::io::Error::last_os_error();
    if rc != 0 && err.kind() != std::io::ErrorKind::AlreadyExists {
        return Err(Error::io(format!("creating {}", path.display()), err));
    }
    Ok(())
}

/// Supervisor side: the write end of the container's stdin pipe, fed from the FIFO once
/// [`Feed::start`]ed.
pub struct Feed {
    writer: PipeWriter,
    fifo: PathBuf,
    pipe: StdinPipe,
}

impl Feed {
    /// The pipe for the container of the task directory `dir`: its read end goes to the
    /// container as fd 0; start the feed once the container exists (the runtime forks, and
    /// no thread may run before that).
    pub fn new(dir: &Path, pipe: StdinPipe) -> std::result::Result<(PipeReader, Feed), String> {
        let (reader, writer) = std::io::pipe().map_err(|e| format!("creating stdin pipe: {e}"))?;
        let feed = Feed {
            writer,
            fifo: dir.join(FIFO),
            pipe,
        };
        Ok((reader, feed))
    }

    /// Copies each client's input from the FIFO into the pipe, on a thread of its own, until
    /// the container's end closes (or, with `once`, the first client is done).
    pub fn start(self) {
        let Feed {
            writer: mut out,
            fifo,
            pipe,
        } = self;
        std::thread::spawn(move || {
            loop {
                // Blocks until a client's writer opens it; each client is one open.
                let Ok(mut input) = std::fs::File::open(&fifo) else {
                    return;
                };
                match std::io::copy(&mut input, &mut out) {
                    // The container closed its stdin or exited.
                    Err(_) => return,
                    Ok(_) if pipe.once => return,
                    Ok(_) => {}
                }
            }
        });
    }
}

/// Agent side: a writer whose bytes reach the container's stdin in the task directory
/// `dir`. Shutting it down ends this client's input (the container's stdin closes with
/// `StdinOnce`). Input written before the container starts waits in a bounded buffer.
pub fn writer(dir: PathBuf) -> Box<dyn AsyncWrite + Send + Unpin> {
    let (tx, mut rx) = tokio::io::duplex(BUFFER);
    tokio::spawn(async move {
        let fifo = dir.join(FIFO);
        let opened = tokio::task::spawn_blocking(move || {
            std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_CLOEXEC)
                .open(&fifo)
        })
        .await;
        let file = match opened {
            Ok(Ok(file)) => file,
            Ok(Err(e)) => {
                tracing::debug!(dir = %dir.display(), "container stdin not opened: {e}");
                return;
            }
            Err(e) => {
                tracing::debug!("container stdin opener: {e}");
                return;
            }
        };
        let mut file = tokio::fs::File::from_std(file);
        // Ends on the client's EOF or when the container's side is gone (EPIPE).
        let _ = tokio::io::copy(&mut rx, &mut file).await;
        let _ = tokio::io::AsyncWriteExt::flush(&mut file).await;
    });
    Box::new(tx)
}

/// Lets writers blocked in opening the FIFO of `dir` go on (their writes then fail): called
/// when the container exits or is removed, so no opener waits for a reader that never comes.
pub fn release(dir: &Path) {
    // A non-blocking read-only open succeeds without a writer and completes blocked writers'
    // opens; dropping it leaves them with no reader (EPIPE on write).
    let _ = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(dir.join(FIFO));
}
