//! The rules' error type, shared by the manager and the API edge. Each variant maps to the
//! HTTP status dockerd uses for the same failure (via its gRPC code, mapped in
//! `manager::error`), so the API edge needs no guessing.

use state::TxnError;

/// Errors of control API rules and manager operations.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    /// No such object (404).
    #[error("{0}")]
    NotFound(String),
    /// The request is malformed or names invalid values (400).
    #[error("{0}")]
    InvalidArgument(String),
    /// The request is valid but the cluster's state forbids it now (400, as dockerd).
    #[error("{0}")]
    FailedPrecondition(String),
    /// Conflicts with an existing object (409).
    #[error("{0}")]
    Conflict(String),
    /// The object changed since the caller read it (dockerd answers 500).
    #[error("update out of sequence")]
    OutOfSequence,
    /// Swarm does not support this change (501, as dockerd).
    #[error("{0}")]
    Unimplemented(String),
    /// The caller may not do this (403).
    #[error("{0}")]
    Forbidden(String),
    /// The caller's credential is wrong, e.g. a wrong unlock key (401, as dockerd).
    #[error("{0}")]
    Unauthorized(String),
    /// No leader or quorum; retry later (503).
    #[error("{0}")]
    Unavailable(String),
    /// Anything else (500).
    #[error("{0}")]
    Internal(String),
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, Error>;

impl From<TxnError> for Error {
    fn from(e: TxnError) -> Self {
        match e {
            TxnError::NotFound { .. } => Error::NotFound(e.to_string()),
            TxnError::Exists { .. } | TxnError::NameConflict { .. } => Error::Conflict(e.to_string()),
            TxnError::OutOfSequence { .. } => Error::OutOfSequence,
            TxnError::InUse { .. } => Error::FailedPrecondition(e.to_string()),
            TxnError::Unavailable(_) => Error::Conflict(e.to_string()),
        }
    }
}
