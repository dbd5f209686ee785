//! The manager crate's error type. Each variant maps to the HTTP status dockerd uses for the
//! same failure (via its gRPC code), so the API edge needs no guessing.

use store::TxnError;

/// Errors of manager operations.
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
        }
    }
}

impl From<store::Error> for Error {
    fn from(e: store::Error) -> Self {
        match e {
            store::Error::Txn(t) => t.into(),
            store::Error::NoLeader | store::Error::ForwardToLeader { .. } => {
                Error::Unavailable(store::Error::NoLeader.to_string())
            }
            other => Error::Internal(other.to_string()),
        }
    }
}

impl From<Error> for tonic::Status {
    fn from(e: Error) -> Self {
        let msg = e.to_string();
        match e {
            Error::NotFound(_) => tonic::Status::not_found(msg),
            Error::InvalidArgument(_) => tonic::Status::invalid_argument(msg),
            Error::FailedPrecondition(_) => tonic::Status::failed_precondition(msg),
            Error::Conflict(_) => tonic::Status::already_exists(msg),
            Error::OutOfSequence => tonic::Status::unknown(msg),
            Error::Forbidden(_) => tonic::Status::permission_denied(msg),
            Error::Unauthorized(_) => tonic::Status::unauthenticated(msg),
            Error::Unimplemented(_) => tonic::Status::unimplemented(msg),
            Error::Unavailable(_) => tonic::Status::unavailable(msg),
            Error::Internal(_) => tonic::Status::internal(msg),
        }
    }
}

impl From<tonic::Status> for Error {
    fn from(s: tonic::Status) -> Self {
        let msg = s.message().to_string();
        match s.code() {
            tonic::Code::NotFound => Error::NotFound(msg),
            tonic::Code::InvalidArgument => Error::InvalidArgument(msg),
            tonic::Code::FailedPrecondition => Error::FailedPrecondition(msg),
            tonic::Code::AlreadyExists => Error::Conflict(msg),
            tonic::Code::PermissionDenied | tonic::Code::Unauthenticated => Error::Forbidden(msg),
            tonic::Code::Unavailable | tonic::Code::DeadlineExceeded | tonic::Code::Cancelled => {
                Error::Unavailable(msg)
            }
            tonic::Code::Unknown if msg == "update out of sequence" => Error::OutOfSequence,
            tonic::Code::Unimplemented => Error::Unimplemented(msg),
            _ => Error::Internal(msg),
        }
    }
}

impl From<rpc::Error> for Error {
    fn from(e: rpc::Error) -> Self {
        match e {
            rpc::Error::Status(s) => s.into(),
            other => Error::Unavailable(other.to_string()),
        }
    }
}
