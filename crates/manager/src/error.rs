//! The manager's errors: the rules' [`Error`], and its mapping to and from the cluster RPC's
//! gRPC status and the store's errors. Functions rather than `From` impls because neither
//! side of each conversion is this crate's type.

use store::TxnError;

pub use rules::{Error, Result};

/// The gRPC status a peer receives for `e`: the code dockerd's mapping expects, the message
/// users read, and a typed [`rpc::Reason`] where the caller acts on the kind.
pub fn to_status(e: Error) -> tonic::Status {
    let msg = e.to_string();
    match e {
        Error::NotFound(_) => tonic::Status::not_found(msg),
        Error::InvalidArgument(_) => tonic::Status::invalid_argument(msg),
        Error::FailedPrecondition(_) => tonic::Status::failed_precondition(msg),
        Error::Conflict(_) => tonic::Status::already_exists(msg),
        Error::OutOfSequence => rpc::Reason::OutOfSequence.attach(tonic::Status::unknown(msg)),
        Error::Forbidden(_) => tonic::Status::permission_denied(msg),
        Error::Unauthorized(_) => tonic::Status::unauthenticated(msg),
        Error::Unimplemented(_) => tonic::Status::unimplemented(msg),
        Error::Unavailable(_) => tonic::Status::unavailable(msg),
        Error::Internal(_) => tonic::Status::internal(msg),
    }
}

/// The error a peer's gRPC status stands for.
pub fn from_status(s: tonic::Status) -> Error {
    if rpc::Reason::of(&s) == Some(rpc::Reason::OutOfSequence) {
        return Error::OutOfSequence;
    }
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
        tonic::Code::Unimplemented => Error::Unimplemented(msg),
        _ => Error::Internal(msg),
    }
}

/// The error a store failure stands for: lost leadership is worth a retry, a failed
/// precondition is the caller's.
pub fn from_store(e: store::Error) -> Error {
    match e {
        store::Error::Txn(t) => from_txn(t),
        store::Error::NoLeader | store::Error::ForwardToLeader { .. } => {
            Error::Unavailable(store::Error::NoLeader.to_string())
        }
        other => Error::Internal(other.to_string()),
    }
}

/// The error a failed transaction precondition stands for.
pub fn from_txn(e: TxnError) -> Error {
    e.into()
}

/// The error a failed cluster RPC stands for: a peer's answer as it was given, anything in
/// transport as unavailable.
pub fn from_rpc(e: rpc::Error) -> Error {
    match e {
        rpc::Error::Status(s) => from_status(s),
        other => Error::Unavailable(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_crosses_the_cluster_rpc_as_itself() {
        for e in [
            Error::NotFound("no such service: web".into()),
            Error::InvalidArgument("bad".into()),
            Error::FailedPrecondition("not now".into()),
            Error::Conflict("exists".into()),
            Error::OutOfSequence,
            Error::Forbidden("no".into()),
            Error::Unimplemented("later".into()),
            Error::Unavailable("no leader".into()),
            Error::Internal("boom".into()),
        ] {
            let status = to_status(e.clone());
            assert_eq!(status.message(), e.to_string());
            assert_eq!(from_status(status), e);
        }
    }

    #[test]
    fn out_of_sequence_is_told_by_its_reason_not_its_wording() {
        // The same words from a handler that did not mark them mean nothing special.
        let plain = tonic::Status::unknown("update out of sequence");
        assert_eq!(
            from_status(plain),
            Error::Internal("update out of sequence".into())
        );
        let marked = to_status(Error::OutOfSequence);
        assert_eq!(marked.code(), tonic::Code::Unknown);
        assert_eq!(from_status(marked), Error::OutOfSequence);
    }
}
