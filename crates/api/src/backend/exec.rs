//! The streams of `docker exec` and `docker attach`: what is asked, and what the API relays.

/// What `POST /containers/{id}/attach` asks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AttachOptions {
    /// The output kept so far first (`logs=1`).
    pub logs: bool,
    /// New output as it comes (`stream=1`).
    pub stream: bool,
    /// Include stdout.
    pub stdout: bool,
    /// Include stderr.
    pub stderr: bool,
    /// Send the client's input to the container's stdin (`stdin=1`; it must have been
    /// created with `OpenStdin`).
    pub stdin: bool,
}

/// What `POST /containers/{id}/exec` asks to run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecCreate {
    /// Program and arguments.
    pub cmd: Vec<String>,
    /// Extra environment, `K=V`.
    pub env: Vec<String>,
    /// User; empty for the container's.
    pub user: String,
    /// Working directory; empty for the container's.
    pub working_dir: String,
    /// Allocate a TTY.
    pub tty: bool,
    /// Attach stdin.
    pub attach_stdin: bool,
    /// Attach stdout.
    pub attach_stdout: bool,
    /// Attach stderr.
    pub attach_stderr: bool,
    /// Detach keys as the client spelled them (`--detach-keys`); empty for ctrl-p ctrl-q.
    pub detach_keys: String,
}

/// An exec instance, as `GET /exec/{id}/json` shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecView {
    /// Its ID.
    pub id: String,
    /// The task it runs in.
    pub container_id: String,
    /// Started and not exited.
    pub running: bool,
    /// Exit code once exited.
    pub exit_code: Option<i64>,
    /// Host pid while running (0 otherwise).
    pub pid: i64,
    /// What was asked.
    pub config: ExecCreate,
}

/// The streams of a started exec, for the API to relay over the hijacked connection.
pub struct ExecStreams {
    /// Output is raw (TTY) rather than multiplexed.
    pub tty: bool,
    /// Where the client's input goes, if stdin is attached.
    pub stdin: Option<Box<dyn tokio::io::AsyncWrite + Send + Unpin>>,
    /// The process's stdout (with a TTY, all its output), if attached.
    pub stdout: Option<Box<dyn tokio::io::AsyncRead + Send + Unpin>>,
    /// Its stderr, if attached and without a TTY.
    pub stderr: Option<Box<dyn tokio::io::AsyncRead + Send + Unpin>>,
    /// Resolves once the exit code is recorded, so the client's inspect after the stream
    /// ends sees it.
    pub exited: futures::future::BoxFuture<'static, ()>,
}
