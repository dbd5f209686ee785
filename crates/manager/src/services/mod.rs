//! gRPC service implementations on the cluster port, one file per service.

pub mod ca;
pub mod control;
pub mod dispatcher;
pub mod raft;

use tonic::{Response, Status};

/// The gRPC reply type every handler returns.
pub type Reply = Result<Response<rpc::pb::Msg>, Status>;

/// Wraps a value as a reply.
pub fn reply<T: serde::Serialize>(value: &T) -> Reply {
    Ok(Response::new(rpc::encode(value)))
}

/// `Unavailable` carrying the leader's address (if known) in the `x-leader` metadata, so a
/// caller that reached a follower can retry at the leader.
pub fn not_leader(leader_addr: Option<String>) -> Status {
    let mut status = Status::unavailable("this manager is not the leader");
    if let Some(addr) = leader_addr.and_then(|a| a.parse().ok()) {
        status.metadata_mut().insert("x-leader", addr);
    }
    status
}
