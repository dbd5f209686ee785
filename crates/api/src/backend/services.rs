//! Services, and the logs of their tasks.

use std::sync::Arc;

use rules::controlapi::service::ServiceStatus;
use types::{Service, Timestamp};

/// A service with its task counts (`?status=true`).
#[derive(Debug, Clone)]
pub struct ServiceView {
    /// The stored service.
    pub service: Arc<Service>,
    /// Running/desired/completed counts.
    pub status: ServiceStatus,
}

/// Which logs to read.
#[derive(Debug, Clone)]
pub enum LogTarget {
    /// Every task of a service (ID, name or ID prefix).
    Service(String),
    /// One task (ID or ID prefix).
    Task(String),
}

/// Options of `GET /services/{id}/logs` and `GET /tasks/{id}/logs`.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    /// Keep streaming new lines.
    pub follow: bool,
    /// Only the last N lines of each task (None: all).
    pub tail: Option<usize>,
    /// Only lines at or after this time.
    pub since: Option<Timestamp>,
    /// Only lines before this time.
    pub until: Option<Timestamp>,
    /// Include stdout.
    pub stdout: bool,
    /// Include stderr.
    pub stderr: bool,
}

/// Which output stream a log line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogStream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// One log line of one task.
#[derive(Debug, Clone)]
pub struct LogLine {
    /// When it was written.
    pub timestamp: Timestamp,
    /// stdout or stderr.
    pub stream: LogStream,
    /// The line, without its trailing newline.
    pub line: bytes::Bytes,
    /// Task it came from.
    pub task_id: String,
    /// Node the task ran on.
    pub node_id: String,
    /// Service of the task.
    pub service_id: String,
}
