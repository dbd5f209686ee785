//! `docker exec` on the executor side: one more process in a running task, with its stdio on
//! pipes or on a pseudo-terminal that the caller relays.
//!
//! ```text
//!  ExecSpec ─► Executor::exec(task) ─► Command (oci: `shoal exec-shim` that enters the
//!                                       container; process: the command itself)
//!            ─► spawn(command, tty?) ─► ExecProcess { stdin, stdout, stderr | pty, child }
//! ```
//!
//! With a TTY the process gets a new session whose controlling terminal is the pty's slave
//! (stdin, stdout and stderr all on it); the caller keeps the master, reads the merged
//! output from it, writes input to it and sets its window size. Without one, stdin (only
//! when asked for), stdout and stderr are pipes. Nothing is buffered here: the caller copies
//! with bounded buffers, and a full pipe or pty stops the process until it reads on.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::unix::pipe;

use super::{Error, Result};

/// What to run in a task, from `POST /containers/{id}/exec`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecSpec {
    /// Program and arguments.
    pub argv: Vec<String>,
    /// Extra environment (`K=V`), over the task's own.
    pub env: Vec<String>,
    /// `user`, `uid`, `user:group` or `uid:gid`; empty for the task's user.
    pub user: String,
    /// Working directory; empty for the task's.
    pub workdir: String,
    /// Allocate a pseudo-terminal.
    pub tty: bool,
    /// Give the process a stdin the caller writes to (else it reads /dev/null, or the
    /// terminal with a TTY).
    pub stdin: bool,
}

/// Boxed reading half of a stream.
pub type Reader = Box<dyn AsyncRead + Send + Unpin>;
/// Boxed writing half of a stream.
pub type Writer = Box<dyn AsyncWrite + Send + Unpin>;

/// A started exec process and its streams.
pub struct ExecProcess {
    /// Input for the process (pipe, or the pty master); `None` without stdin.
    pub stdin: Option<Writer>,
    /// Its stdout (with a TTY: everything it writes to the terminal).
    pub stdout: Reader,
    /// Its stderr; `None` with a TTY (merged into the terminal).
    pub stderr: Option<Reader>,
    /// The pty, to set its window size; `None` without a TTY.
    pub terminal: Option<Terminal>,
    /// The process the executor started (for oci: the helper that waits for the command
    /// and exits with its status).
    pub child: tokio::process::Child,
}

impl std::fmt::Debug for ExecProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecProcess")
            .field("pid", &self.child.id())
            .field("tty", &self.terminal.is_some())
            .finish()
    }
}

/// The master side of an exec's pseudo-terminal, kept to resize it.
#[derive(Clone, Debug)]
pub struct Terminal {
    master: Arc<OwnedFd>,
}

impl Terminal {
    /// The terminal whose master is `master` (a container's, kept by its supervisor).
    pub fn from_master(master: OwnedFd) -> Terminal {
        Terminal {
            master: Arc::new(master),
        }
    }

    /// Sets the window size (`TIOCSWINSZ`); the kernel sends SIGWINCH to the terminal's
    /// foreground process group.
    pub fn resize(&self, height: u16, width: u16) -> io::Result<()> {
        let size = libc::winsize {
            ws_row: height,
            ws_col: width,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads one winsize from the pointer, which lives across the call;
        // the fd is the pty master we own.
        let rc = unsafe { libc::ioctl(self.master.as_raw_fd(), libc::TIOCSWINSZ, &size) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

/// The exit code of an exec process as Docker reports it: its code, or 128 + the signal
/// that killed it.
pub fn exit_code(status: std::process::ExitStatus) -> i64 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => i64::from(code),
        (None, Some(signal)) => 128 + i64::from(signal),
        (None, None) => -1,
    }
}

/// Starts `command` with its stdio as `spec` asks (pipes or a pty) and hands the streams
/// back. The command must not have its stdio set already. A TTY comes from `ptmx` when
/// given (a container's own devpts, so the command finds its terminal under its `/dev/pts`),
/// else from the agent's.
pub fn spawn(
    mut command: tokio::process::Command,
    spec: &ExecSpec,
    ptmx: Option<&Path>,
) -> Result<ExecProcess> {
    // The process must not take the agent's runtime with it when the API call ends: an exec
    // runs until it exits, as dockerd's do.
    command.kill_on_drop(false);
    if !spec.tty {
        command
            .stdin(if spec.stdin { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command
            .spawn()
            .map_err(|e| Error::io("starting the exec process", e))?;
        let stdin = child.stdin.take().map(|w| Box::new(w) as Writer);
        let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            return Err(Error::Shim("the exec process has no output pipes".into()));
        };
        return Ok(ExecProcess {
            stdin,
            stdout: Box::new(stdout),
            stderr: Some(Box::new(stderr)),
            terminal: None,
            child,
        });
    }
    let (master, slave) = match ptmx {
        Some(ptmx) => open_pty_at(ptmx),
        None => open_pty(),
    }
    .map_err(|e| Error::io("allocating a pseudo-terminal", e))?;
    let dup = |fd: &OwnedFd| fd.try_clone().map_err(|e| Error::io("duplicating the pty", e));
    command
        .stdin(Stdio::from(dup(&slave)?))
        .stdout(Stdio::from(dup(&slave)?))
        .stderr(Stdio::from(slave));
    // SAFETY: the hook only makes two async-signal-safe syscalls on the child's own fd 0.
    unsafe {
        command.pre_exec(|| {
            // A session of its own, with the pty (its stdin) as controlling terminal, so
            // ^C, job control and SIGWINCH reach it as in a login shell.
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = command
        .spawn()
        .map_err(|e| Error::io("starting the exec process", e))?;
    // The command's copies of the slave are closed now (spawn dropped them), so reading the
    // master ends once the process and its children have all closed the terminal.
    let reader = pipe::Receiver::from_owned_fd_unchecked(dup(&master)?)
        .map_err(|e| Error::io("watching the pty", e))?;
    let stdin = if spec.stdin {
        let writer = pipe::Sender::from_owned_fd_unchecked(dup(&master)?)
            .map_err(|e| Error::io("watching the pty", e))?;
        Some(Box::new(writer) as Writer)
    } else {
        None
    };
    Ok(ExecProcess {
        stdin,
        stdout: Box::new(PtyReader(reader)),
        stderr: None,
        terminal: Some(Terminal {
            master: Arc::new(master),
        }),
        child,
    })
}

/// Reads a pty master, where the slave's last close reads as EIO: that is the end of output.
struct PtyReader(pipe::Receiver);

impl AsyncRead for PtyReader {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        match std::pin::Pin::new(&mut self.0).poll_read(cx, buf) {
            std::task::Poll::Ready(Err(e)) if e.raw_os_error() == Some(libc::EIO) => {
                std::task::Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

/// A new pseudo-terminal of the devpts instance whose `ptmx` is given: (master, slave), both
/// close-on-exec and the master non-blocking. The slave is reached through the master
/// (`TIOCGPTPEER`), not by a path, which would name the agent's devpts.
fn open_pty_at(ptmx: &Path) -> io::Result<(OwnedFd, OwnedFd)> {
    use std::os::unix::fs::OpenOptionsExt;
    let master: OwnedFd = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK)
        .open(ptmx)?
        .into();
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads one int from the pointer, which lives across the call.
    if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: TIOCGPTPEER takes open flags by value and returns a new fd or -1.
    let slave = unsafe {
        libc::ioctl(
            master.as_raw_fd(),
            libc::TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    if slave < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the ioctl just returned this fd to us and nothing else owns it.
    Ok((master, unsafe { OwnedFd::from_raw_fd(slave) }))
}

/// A new pseudo-terminal: (master, slave), both close-on-exec and the master non-blocking.
fn open_pty() -> io::Result<(OwnedFd, OwnedFd)> {
    let (mut master, mut slave) = (-1, -1);
    // SAFETY: openpty writes two fds to the pointers we pass, which live across the call;
    // the name, termios and winsize arguments may be null.
    let rc = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: openpty just returned these fds to us and nothing else owns them.
    let (master, slave) = unsafe { (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave)) };
    for fd in [&master, &slave] {
        // SAFETY: fcntl on an fd we own, with plain integer arguments.
        if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    // SAFETY: as above; O_NONBLOCK lets the reactor drive the master.
    if unsafe { libc::fcntl(master.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK | libc::O_RDWR) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((master, slave))
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test]
    async fn pipes_carry_stdin_and_keep_stdout_and_stderr_apart() {
        let mut command = tokio::process::Command::new("sh");
        command.args(["-c", "cat; echo oops >&2; exit 3"]);
        let spec = ExecSpec {
            stdin: true,
            ..ExecSpec::default()
        };
        let mut p = spawn(command, &spec, None).unwrap();
        let mut stdin = p.stdin.take().unwrap();
        stdin.write_all(b"hi\n").await.unwrap();
        drop(stdin);
        let mut out = String::new();
        p.stdout.read_to_string(&mut out).await.unwrap();
        let mut err = String::new();
        p.stderr.take().unwrap().read_to_string(&mut err).await.unwrap();
        assert_eq!((out.as_str(), err.as_str()), ("hi\n", "oops\n"));
        assert_eq!(exit_code(p.child.wait().await.unwrap()), 3);
    }

    #[tokio::test]
    async fn a_tty_is_the_controlling_terminal_and_takes_its_size() {
        let mut command = tokio::process::Command::new("sh");
        command.args(["-c", "read x; tty; stty size; echo got=$x"]);
        let spec = ExecSpec {
            tty: true,
            stdin: true,
            ..ExecSpec::default()
        };
        let mut p = spawn(command, &spec, None).unwrap();
        p.terminal.as_ref().unwrap().resize(33, 101).unwrap();
        let mut stdin = p.stdin.take().unwrap();
        stdin.write_all(b"yes\n").await.unwrap();
        let mut out = String::new();
        p.stdout.read_to_string(&mut out).await.unwrap();
        assert!(out.contains("/dev/pts/"), "{out}");
        assert!(out.contains("33 101"), "{out}");
        assert!(out.contains("got=yes"), "{out}");
        assert!(p.stderr.is_none());
        assert_eq!(exit_code(p.child.wait().await.unwrap()), 0);
    }
}
