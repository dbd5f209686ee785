//! The agent crate's one error type: what executors, runners and log readers can fail with.

use std::path::PathBuf;

/// Result alias for the agent crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong running tasks on this node.
///
/// Variants say whether trying again can help: `Invalid` and `NoCommand` never will (the
/// spec must change), `Io` and `Shim` may (the machine may recover), `NotFound` means the
/// executor has no record of the task (it was removed, or its state was lost).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The task's spec cannot run on this executor; retrying will not help.
    #[error("invalid task spec: {0}")]
    Invalid(String),
    /// The process executor needs something to run.
    #[error("task has no command: the process executor runs ContainerSpec.Command/Args")]
    NoCommand,
    /// The executor does not know this task (never prepared, removed, or state lost).
    #[error("task {0} not found on this node")]
    NotFound(String),
    /// An operation came in the wrong order (e.g. start before prepare).
    #[error("task {task}: {message}")]
    State {
        /// Task ID.
        task: String,
        /// What was wrong.
        message: String,
    },
    /// The task's health check reported it unhealthy before it became healthy.
    #[error("task: unhealthy container")]
    Unhealthy,
    /// The task exited while starting (e.g. before its health check passed).
    #[error("task: exited while starting ({0})")]
    ExitedWhileStarting(String),
    /// The per-task supervisor failed; the task may or may not be running.
    #[error("task supervisor: {0}")]
    Shim(String),
    /// A file or process operation failed; retrying may help.
    #[error("{context}: {source}")]
    Io {
        /// What we were doing, with the path or process involved.
        context: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A state file could not be parsed (corrupt or from an incompatible version).
    #[error("corrupt state file {path}: {message}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Parser message.
        message: String,
    },
    /// The task's image could not be pulled or read (the registry's or the store's words);
    /// a retry may help once the registry or the reference is fixed.
    #[error("{0}")]
    Image(String),
    /// The container engine (dockerd, for the docker executor) failed or could not be
    /// reached; a retry may help once it is back.
    #[error("container engine: {0}")]
    Engine(String),
    /// The executor cannot do this at all (e.g. `docker exec` on the sim executor).
    #[error("{0}")]
    Unsupported(String),
}

impl Error {
    /// Wraps an I/O error with what we were doing.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}
