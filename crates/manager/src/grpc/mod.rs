//! gRPC services on the cluster port, one file per service (the dispatcher's lives in
//! `dispatcher/session.rs`), and what every handler shares: replies, leader redirects, admission.

pub mod ca;
pub mod control;
pub mod raft;

use ::ca::PeerIdentity;
use openraft::async_runtime::WatchReceiver;
use store::consensus::Consensus;
use tonic::{Request, Response, Status};

use crate::authz::{Caller, Family, View, authorize};

/// The gRPC reply type every handler returns (built by the call's `rpc::Call::reply`).
pub type Reply = Result<Response<rpc::pb::Msg>, Status>;

/// `Unavailable` carrying the leader's address (if known) in the `x-leader` metadata, so a
/// caller that reached a follower can retry at the leader.
pub fn not_leader(leader_addr: Option<String>) -> Status {
    let mut status = Status::unavailable("this manager is not the leader");
    if let Some(addr) = leader_addr.and_then(|a| a.parse().ok()) {
        status.metadata_mut().insert("x-leader", addr);
    }
    status
}

/// `Unavailable` naming the leader `consensus` knows of, for a call that needs the leader.
pub fn to_leader(consensus: &Consensus) -> Status {
    not_leader(consensus.leader().map(|(_, p)| p.addr))
}

/// Admission to the cluster port: whether a caller's certificate is of this cluster and its
/// current membership allows a family of calls (see [`crate::authz`]).
#[derive(Clone)]
pub struct Gate {
    cluster_id: String,
    consensus: Consensus,
}

impl Gate {
    /// Admits members of `cluster_id` as `consensus` knows them.
    pub fn new(cluster_id: String, consensus: Consensus) -> Gate {
        Gate {
            cluster_id,
            consensus,
        }
    }

    /// The cluster this port serves.
    pub fn cluster_id(&self) -> &str {
        &self.cluster_id
    }

    /// The caller's identity once its certificate is of this cluster and its current
    /// membership allows calls of `family`.
    pub fn admit<T>(&self, req: &Request<T>, family: Family) -> Result<PeerIdentity, Status> {
        let identity = rpc::require_node(req, &self.cluster_id)?;
        let view = self.membership(&identity.node_id);
        let caller = Caller {
            node_id: &identity.node_id,
            role: identity.role,
        };
        authorize(family, caller, view).map_err(|denied| {
            tracing::debug!(node = %identity.node_id, ?family, "refused: {denied}");
            Status::from(denied)
        })?;
        Ok(identity)
    }

    /// What this replica knows of `node_id`'s membership now.
    pub fn membership(&self, node_id: &str) -> View {
        let (raft_initialised, raft_member) = {
            let metrics = self.consensus.raft().metrics();
            let m = metrics.borrow_watched();
            let mut nodes = m.membership_config.nodes().peekable();
            let initialised = nodes.peek().is_some();
            (initialised, nodes.any(|(_, peer)| peer.node_id == node_id))
        };
        View {
            authoritative: self.consensus.is_leader(),
            raft_initialised,
            raft_member,
            desired_role: self.consensus.store().view().node(node_id).map(|n| n.spec.role),
        }
    }
}
