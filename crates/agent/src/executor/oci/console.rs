//! A container's terminal (`docker run -t`, a service with `TTY: true`), from the
//! supervisor's side: libcontainer makes the pty inside the container and hands its master
//! over a console socket; the supervisor keeps it for the container's life, writes what the
//! container prints to the task's log and serves it to the agent's clients (`terminal.rs`).
//!
//! ```text
//!  shim: bind console.sock ─► libcontainer build (init sends the master) ─► accept, recvmsg
//!        bind tty.sock ─► reader thread: master ─► log lines (split at \n)
//!                                               └► ring (last 64 KiB) + every client
//!  client (agent): connect tty.sock ─► mode byte ─► 'k' + SCM_RIGHTS(master, for resizing)
//!        ─► [ring, when replay was asked] ─► live output ; its input ─► master
//!        ─► [log, when the whole log was asked: the files as they stand at the client's
//!            registration, then the line not logged yet, then what it missed meanwhile
//!            (queued, bounded)] ─► live output
//! ```
//!
//! The reader thread logs and fans out under one lock, so at any moment the log plus the
//! line not yet logged is exactly the output so far: a client registered then misses and
//! repeats nothing.
//!
//! The output is raw, as dockerd's TTY streams are: one stream, bytes as the terminal wrote
//! them. A slow client is not waited for beyond [`SEND_TIMEOUT`] (it is dropped), so neither
//! the log nor the container stalls behind it; memory stays bounded by the ring and each
//! log-replaying client's queue ([`CATCH_UP`]; a client further behind is dropped).

#![allow(unsafe_code)]

use std::collections::VecDeque;
use std::fs::File;
use std::io::{IoSlice, IoSliceMut, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use nix::sys::socket::{ControlMessage, ControlMessageOwned, MsgFlags, recvmsg, sendmsg};
use types::Clock;

use super::console_replay;
use crate::logs::{LogStream, LogWriter, MAX_LINE};

/// Where libcontainer hands the pty master over, in the task directory.
pub const CONSOLE_SOCKET: &str = "console.sock";
/// Where the supervisor serves the terminal to the agent, in the task directory.
pub const TTY_SOCKET: &str = "tty.sock";

/// A client's first byte: the output kept since the container started, then live output.
pub const MODE_REPLAY: u8 = b'r';
/// A client's first byte: live output only.
pub const MODE_LIVE: u8 = b'l';
/// A client's first byte: only the master (to resize it); no stream.
pub const MODE_MASTER: u8 = b'm';
/// A client's first byte: the whole log kept (`docker attach` with `logs=1`), then live output.
pub const MODE_LOG: u8 = b'a';

/// Output kept for clients that ask for a replay (one that attached before the start).
const RING: usize = 64 * 1024;
/// Live output queued for a client still replaying the log; beyond it the client is dropped.
const CATCH_UP: usize = 1024 * 1024;
/// How long a write to a client may block before the client is dropped.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a handshake may take (libcontainer's handover, a client's mode byte).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// A path naming `name` in `dir` through the open directory, so a socket's address stays
/// short (108 bytes) however deep the data directory is.
pub fn socket_path(dir: &File, name: &str) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}/{name}", dir.as_raw_fd()))
}

/// The listening socket libcontainer connects to, bound before the container is built.
pub struct Handover {
    listener: UnixListener,
    path: PathBuf,
}

impl Handover {
    /// Binds `<task dir>/console.sock` (a stale one from an earlier run is replaced).
    pub fn bind(task_dir: &Path) -> Result<Handover, String> {
        let path = task_dir.join(CONSOLE_SOCKET);
        let listener =
            bind(task_dir, CONSOLE_SOCKET).map_err(|e| format!("binding the console socket: {e}"))?;
        Ok(Handover { listener, path })
    }

    /// The socket's path, for libcontainer.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The pty master the container's init sent while the container was built. Its
    /// connection is already queued by then (libcontainer connects before it forks).
    pub fn receive(self) -> Result<OwnedFd, String> {
        self.listener
            .set_nonblocking(true)
            .map_err(|e| format!("console socket: {e}"))?;
        let (conn, _) = self
            .listener
            .accept()
            .map_err(|e| format!("the container runtime did not connect to the console socket: {e}"))?;
        let _ = std::fs::remove_file(&self.path);
        conn.set_nonblocking(false)
            .and_then(|()| conn.set_read_timeout(Some(HANDSHAKE_TIMEOUT)))
            .map_err(|e| format!("console socket: {e}"))?;
        recv_fd(&conn).map_err(|e| format!("receiving the container's terminal: {e}"))
    }
}

/// Binds a unix socket `name` in `dir`, replacing a stale one.
fn bind(dir: &Path, name: &str) -> std::io::Result<UnixListener> {
    let handle = File::open(dir)?;
    let path = socket_path(&handle, name);
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    UnixListener::bind(&path)
}

/// Sends `fd` with one byte `k` over `sock`.
pub fn send_fd(sock: &UnixStream, fd: RawFd) -> std::io::Result<()> {
    let iov = [IoSlice::new(b"k")];
    let fds = [fd];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    sendmsg::<()>(sock.as_raw_fd(), &iov, &cmsg, MsgFlags::MSG_NOSIGNAL, None)?;
    Ok(())
}

/// Receives one fd sent with [`send_fd`] (or libcontainer's handover); other fds that came
/// along are closed. Reads one byte of data only: what follows is the stream's.
pub fn recv_fd(sock: &UnixStream) -> std::io::Result<OwnedFd> {
    let mut buf = [0u8; 1];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([RawFd; 4]);
    let msg = recvmsg::<()>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )?;
    let mut got: Option<OwnedFd> = None;
    for cmsg in msg.cmsgs()? {
        if let ControlMessageOwned::ScmRights(fds) = cmsg {
            for fd in fds {
                // SAFETY: the kernel just installed this fd in our table for us; nothing
                // else owns it.
                let owned = unsafe { OwnedFd::from_raw_fd(fd) };
                if got.is_none() {
                    got = Some(owned);
                }
            }
        }
    }
    got.ok_or_else(|| std::io::Error::other("no file descriptor came with the message"))
}

/// What the reader thread and the clients share.
struct Shared {
    clients: Vec<UnixStream>,
    ring: VecDeque<u8>,
    /// The output's current line, not logged yet (without its newline).
    line: Vec<u8>,
    /// Live output for each client replaying the log, by its number.
    catching_up: Vec<CatchUp>,
    next_client: u64,
    /// The terminal's output ended (the container's processes all closed it).
    closed: bool,
    /// The last entry logged is the partial line the terminal closed on.
    unterminated_tail: bool,
}

/// What a client replaying the log has missed so far.
struct CatchUp {
    id: u64,
    queued: Vec<u8>,
    /// More than [`CATCH_UP`] was missed: the client is dropped.
    overflow: bool,
}

impl Shared {
    fn lock(this: &Mutex<Shared>) -> std::sync::MutexGuard<'_, Shared> {
        // Each change leaves the state whole (a push, a retain, a flag): poison is harmless.
        this.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Serves the container's terminal from `master` until its output ends: binds
/// `<dir>/tty.sock` (before returning, so the socket is there once the agent hears the
/// container started), copies output to the log and the clients, and clients' input in.
/// `done` receives one message when the output has ended and is in the log.
pub fn serve(
    master: OwnedFd,
    dir: &Path,
    writer: Arc<Mutex<LogWriter>>,
    clock: Arc<dyn Clock>,
    done: mpsc::Sender<()>,
) -> Result<(), String> {
    let listener = bind(dir, TTY_SOCKET).map_err(|e| format!("binding the terminal socket: {e}"))?;
    let master = Arc::new(File::from(master));
    let shared = Arc::new(Mutex::new(Shared {
        clients: Vec::new(),
        ring: VecDeque::new(),
        line: Vec::new(),
        catching_up: Vec::new(),
        next_client: 0,
        closed: false,
        unterminated_tail: false,
    }));
    {
        let (master, shared, writer) = (master.clone(), shared.clone(), writer.clone());
        std::thread::spawn(move || accept_clients(listener, master, shared, writer));
    }
    std::thread::spawn(move || {
        read_output(&master, &shared, &writer, &*clock);
        let _ = done.send(());
    });
    Ok(())
}

/// Reads the master until the terminal's last user closes it (EIO), logging whole lines
/// and passing every byte on to the clients.
fn read_output(master: &File, shared: &Mutex<Shared>, writer: &Mutex<LogWriter>, clock: &dyn Clock) {
    let mut buf = vec![0u8; 16 * 1024];
    let log = |line: &[u8]| {
        let mut w = writer.lock().unwrap_or_else(|p| p.into_inner());
        if let Err(e) = w.write_line(clock.now(), LogStream::Stdout, line) {
            eprintln!("task-shim: writing log: {e}");
        }
    };
    loop {
        let n = match (&*master).read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            // EIO: no process holds the terminal any more.
            Err(_) => break,
        };
        let data = &buf[..n];
        let mut s = Shared::lock(shared);
        s.ring.extend(data);
        let excess = s.ring.len().saturating_sub(RING);
        s.ring.drain(..excess);
        s.clients.retain_mut(|c| c.write_all(data).is_ok());
        for c in s.catching_up.iter_mut().filter(|c| !c.overflow) {
            if c.queued.len() + data.len() > CATCH_UP {
                c.overflow = true;
                c.queued = Vec::new();
            } else {
                c.queued.extend_from_slice(data);
            }
        }
        // Logged under the same lock (see the module's comment).
        for &b in data {
            if b == b'\n' {
                log(&s.line);
                s.line.clear();
            } else {
                s.line.push(b);
                if s.line.len() >= MAX_LINE {
                    log(&s.line);
                    s.line.clear();
                }
            }
        }
    }
    let mut s = Shared::lock(shared);
    if !s.line.is_empty() {
        log(&s.line);
        s.line.clear();
        s.unterminated_tail = true;
    }
    s.closed = true;
    for c in s.clients.drain(..) {
        let _ = c.shutdown(std::net::Shutdown::Both);
    }
}

fn accept_clients(
    listener: UnixListener,
    master: Arc<File>,
    shared: Arc<Mutex<Shared>>,
    writer: Arc<Mutex<LogWriter>>,
) {
    for conn in listener.incoming() {
        let Ok(conn) = conn else { continue };
        let (master, shared, writer) = (master.clone(), shared.clone(), writer.clone());
        std::thread::spawn(move || {
            if let Err(e) = client(conn, &master, shared, writer) {
                eprintln!("task-shim: terminal client: {e}");
            }
        });
    }
}

/// One client: its mode, the master, its output registration, then its input until it ends.
fn client(
    conn: UnixStream,
    master: &File,
    shared: Arc<Mutex<Shared>>,
    writer: Arc<Mutex<LogWriter>>,
) -> std::io::Result<()> {
    conn.set_read_timeout(Some(HANDSHAKE_TIMEOUT))?;
    let mut mode = [0u8; 1];
    (&conn).read_exact(&mut mode)?;
    send_fd(&conn, master.as_raw_fd())?;
    if mode[0] == MODE_MASTER {
        return Ok(());
    }
    conn.set_read_timeout(None)?;
    conn.set_write_timeout(Some(SEND_TIMEOUT))?;
    let output = conn.try_clone()?;
    if mode[0] == MODE_LOG {
        // Its own thread, so the client's input reaches the terminal during the replay.
        std::thread::spawn(move || {
            if let Err(e) = replay_log(output, &shared, &writer) {
                eprintln!("task-shim: terminal client replaying the log: {e}");
            }
        });
    } else {
        let mut s = Shared::lock(&shared);
        let mut output = output;
        if mode[0] == MODE_REPLAY {
            let (a, b) = s.ring.as_slices();
            output.write_all(a)?;
            output.write_all(b)?;
        }
        if s.closed {
            let _ = output.shutdown(std::net::Shutdown::Write);
        } else {
            s.clients.push(output);
        }
    }
    // Input: everything the client sends goes to the terminal, until it stops sending.
    let mut input = conn;
    let mut buf = vec![0u8; 4096];
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return Ok(()),
        };
        if (&*master).write_all(&buf[..n]).is_err() {
            return Ok(());
        }
    }
}

/// A client that asked for the whole log: the snapshot (the log files as they stand, the
/// line not logged yet) taken and the client's queue opened under the lock; the files sent
/// outside it; then what it missed meanwhile, queue by queue, until it is caught up and
/// joins the live clients (under the lock, so nothing falls between).
fn replay_log(
    mut output: UnixStream,
    shared: &Mutex<Shared>,
    writer: &Mutex<LogWriter>,
) -> std::io::Result<()> {
    let (parts, line, closed, unterminated_tail, id) = {
        let mut s = Shared::lock(shared);
        let files = writer.lock().unwrap_or_else(|p| p.into_inner()).snapshot()?;
        let id = s.next_client;
        s.next_client += 1;
        if !s.closed {
            s.catching_up.push(CatchUp {
                id,
                queued: Vec::new(),
                overflow: false,
            });
        }
        let parts: Vec<console_replay::Part> = files
            .into_iter()
            .map(|(file, len)| console_replay::Part { file, len })
            .collect();
        (parts, s.line.clone(), s.closed, s.unterminated_tail, id)
    };
    let leave = |output: &UnixStream| {
        Shared::lock(shared).catching_up.retain(|c| c.id != id);
        let _ = output.shutdown(std::net::Shutdown::Both);
    };
    let sent = console_replay::replay(parts, closed && unterminated_tail, &mut output)
        .and_then(|()| output.write_all(&line));
    if let Err(e) = sent {
        leave(&output);
        return Err(e);
    }
    loop {
        let missed = {
            let mut s = Shared::lock(shared);
            let Some(i) = s.catching_up.iter().position(|c| c.id == id) else {
                // Closed before it registered: the replay was everything.
                let _ = output.shutdown(std::net::Shutdown::Write);
                return Ok(());
            };
            if s.catching_up[i].overflow {
                s.catching_up.remove(i);
                drop(s);
                let _ = output.shutdown(std::net::Shutdown::Both);
                return Err(std::io::Error::other(format!(
                    "more than {CATCH_UP} bytes of output behind; dropped"
                )));
            }
            if s.catching_up[i].queued.is_empty() {
                s.catching_up.remove(i);
                if s.closed {
                    let _ = output.shutdown(std::net::Shutdown::Write);
                } else {
                    s.clients.push(output);
                }
                return Ok(());
            }
            std::mem::take(&mut s.catching_up[i].queued)
        };
        if let Err(e) = output.write_all(&missed) {
            leave(&output);
            return Err(e);
        }
    }
}
