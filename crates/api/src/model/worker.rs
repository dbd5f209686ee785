//! `GET /shoal/workers`: shoal's own endpoint (not Docker's) listing a manager's background
//! loops, each a named worker with its state (garage's `worker list`).

use serde::{Deserialize, Serialize};

/// One background loop of the manager that answered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Worker {
    /// Its name, unique within a manager (`control-loop`, `status-batcher`, …).
    pub name: String,
    /// `idle`, `busy`, `error` or `stopped`.
    pub state: String,
    /// Iterations finished since the manager started.
    pub iterations: u64,
    /// Iterations that failed.
    pub errors: u64,
    /// The last failure's message, kept after the worker recovers.
    pub last_error: Option<String>,
}
