//! The network layer's errors: what a task's status reports when its sandbox cannot be made.

/// Why a task's network sandbox could not be made or taken down.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// This node cannot attach tasks to overlay networks (not root, no data plane); retrying
    /// here does not help, another node may run the task.
    #[error("task {task} needs overlay networks, but this node cannot attach tasks to them: {why}")]
    Refused {
        /// The task.
        task: String,
        /// Why the node cannot.
        why: String,
    },
    /// The views did not give the task an address on a network before the deadline.
    #[error("task {task}: no address on network {network} reached this node within {seconds} s")]
    NotReady {
        /// The task.
        task: String,
        /// The network target (ID or name) still missing.
        network: String,
        /// The deadline waited.
        seconds: u64,
    },
    /// The data plane refused a step.
    #[error("task {task}: {what}: {source}")]
    Plane {
        /// The task.
        task: String,
        /// The step.
        what: &'static str,
        /// The plane's error.
        source: netplane::Error,
    },
    /// Writing the sandbox's files failed.
    #[error("task {task}: {what}: {source}")]
    Files {
        /// The task.
        task: String,
        /// The step.
        what: &'static str,
        /// The cause.
        source: std::io::Error,
    },
}

/// The network layer's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
