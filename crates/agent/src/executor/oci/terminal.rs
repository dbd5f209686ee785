//! A container's terminal from the agent's side: a connection to the supervisor's
//! `tty.sock` (`console.rs`) carries the raw output out and the client's input in; the pty
//! master that comes with it sets the window size (`docker resize`, the CLI's SIGWINCH).
//!
//! ```text
//!  connect(tty.sock) ─► mode byte ─► 'k' + master ─► Console { output, input, terminal }
//! ```

use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};

use super::console::{self, MODE_LIVE, MODE_LOG, MODE_MASTER, MODE_REPLAY, TTY_SOCKET};
use crate::executor::exec::Terminal;
use crate::executor::{Error, Result};

/// How long the supervisor may take to answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

/// What a client asks the terminal for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// Output since the container started (up to 64 KiB), then live output, and input.
    Replay,
    /// Every line its log keeps (both files), then live output, and input: `docker attach`
    /// with `logs=1`, as dockerd replays its log file.
    Log,
    /// Live output and input.
    Live,
}

/// An attached client's streams.
pub struct Console {
    /// The terminal's output, raw.
    pub output: Box<dyn AsyncRead + Send + Unpin>,
    /// Input typed into the terminal.
    pub input: Box<dyn AsyncWrite + Send + Unpin>,
    /// The terminal, to resize.
    pub terminal: Terminal,
}

/// Connects to the terminal of the container whose task directory is `dir`.
pub async fn attach(dir: &Path, want: Want) -> Result<Console> {
    let mode = match want {
        Want::Replay => MODE_REPLAY,
        Want::Log => MODE_LOG,
        Want::Live => MODE_LIVE,
    };
    let (stream, master) = connect(dir.to_path_buf(), mode).await?;
    stream
        .set_nonblocking(true)
        .map_err(|e| Error::io("terminal connection", e))?;
    let stream = tokio::net::UnixStream::from_std(stream).map_err(|e| Error::io("terminal connection", e))?;
    let (output, input) = stream.into_split();
    Ok(Console {
        output: Box::new(output),
        input: Box::new(input),
        terminal: Terminal::from_master(master),
    })
}

/// The terminal of the container whose task directory is `dir`, to resize it.
pub async fn terminal(dir: &Path) -> Result<Terminal> {
    let (_, master) = connect(dir.to_path_buf(), MODE_MASTER).await?;
    Ok(Terminal::from_master(master))
}

async fn connect(dir: PathBuf, mode: u8) -> Result<(UnixStream, OwnedFd)> {
    tokio::task::spawn_blocking(move || {
        let handle = std::fs::File::open(&dir)?;
        let stream = UnixStream::connect(console::socket_path(&handle, TTY_SOCKET))?;
        stream.set_read_timeout(Some(ANSWER_TIMEOUT))?;
        std::io::Write::write_all(&mut &stream, &[mode])?;
        let master = console::recv_fd(&stream)?;
        stream.set_read_timeout(None)?;
        Ok::<_, std::io::Error>((stream, master))
    })
    .await
    .map_err(|e| Error::Shim(format!("terminal connection thread: {e}")))?
    .map_err(|e| Error::io("connecting to the container's terminal", e))
}
