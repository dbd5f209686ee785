//! Raft membership: a manager joining (through any member; followers forward to the leader)
//! and a demoted manager leaving the group.
//!
//! ```text
//! joiner ─ Control/JoinRaft ─► any member ─(follower: forward)─► leader:
//!          add learner ─► promote voter ─► node.manager_status = {raft_id, addr}
//! ```

use std::time::Duration;

use rpc::Pool;
use rpc::calls::JoinRaft;
use rpc::messages::JoinRaftRequest;
use store::consensus::{Consensus, Peer};
use types::{ManagerStatus, Role};

use crate::error::{from_status, from_store};
use crate::propose::Proposer;
use crate::{Error, Result};

/// Rounds over the remotes before a join gives up.
const JOIN_ROUNDS: usize = 20;
/// Pause between rounds: the leader may be electing.
const JOIN_RETRY: Duration = Duration::from_millis(250);

/// The Raft group's membership, as this replica changes it.
#[derive(Clone)]
pub struct Membership {
    consensus: Consensus,
    pool: Pool,
    proposer: Proposer,
}

impl Membership {
    /// Membership changes of `consensus`, forwarded over `pool`, recorded through `proposer`.
    pub fn new(consensus: Consensus, pool: Pool, proposer: Proposer) -> Membership {
        Membership {
            consensus,
            pool,
            proposer,
        }
    }

    /// Adds a manager to the Raft group (leader only; followers forward). Returns the members.
    pub async fn add(&self, req: JoinRaftRequest) -> Result<Vec<(u64, Peer)>> {
        if !self.consensus.is_leader() {
            let (_, leader) = self
                .consensus
                .leader()
                .ok_or_else(|| Error::Unavailable(store::Error::NoLeader.to_string()))?;
            let resp = self
                .pool
                .call::<JoinRaft>(&leader.addr, &req)
                .await
                .map_err(from_status)?;
            return Ok(resp.members);
        }
        let node = self
            .consensus
            .store()
            .view()
            .node(&req.node_id)
            .cloned()
            .ok_or_else(|| Error::NotFound(format!("node {} not found", req.node_id)))?;
        if node.spec.role != Role::Manager {
            return Err(Error::FailedPrecondition(format!(
                "node {} is not a manager",
                node.id
            )));
        }
        let peer = Peer {
            addr: req.addr.clone(),
            node_id: node.id.clone(),
        };
        self.consensus
            .add_learner(req.raft_id, peer)
            .await
            .map_err(from_store)?;
        self.consensus
            .promote_voter(req.raft_id)
            .await
            .map_err(from_store)?;
        let status = ManagerStatus {
            raft_id: req.raft_id,
            addr: req.addr,
        };
        self.proposer
            .update_node(&node.id, |n| {
                n.manager_status = Some(status.clone());
                n.role = Role::Manager;
            })
            .await?;
        Ok(self.consensus.members().into_iter().collect())
    }

    /// Asks the managers at `remotes`, in turn, to add this replica (`req`) to the group.
    pub async fn join(&self, remotes: &[String], req: &JoinRaftRequest) -> Result<()> {
        let mut last = Error::Unavailable("no manager to join through".into());
        for _round in 0..JOIN_ROUNDS {
            for addr in remotes {
                match self.pool.call::<JoinRaft>(addr, req).await {
                    Ok(_) => return Ok(()),
                    Err(status) => {
                        last = from_status(status);
                        if !matches!(last, Error::Unavailable(_)) {
                            return Err(last);
                        }
                    }
                }
            }
            tokio::time::sleep(JOIN_RETRY).await;
        }
        Err(last)
    }

    /// Removes a demoted manager from the group and clears its manager status.
    pub async fn remove(&self, node_id: &str, raft_id: u64) -> Result<()> {
        tracing::info!(node_id, raft_id, "removing demoted manager from raft");
        self.consensus.remove_member(raft_id).await.map_err(from_store)?;
        match self
            .proposer
            .update_node(node_id, |n| n.manager_status = None)
            .await
        {
            Err(Error::NotFound(_)) => Ok(()),
            other => other,
        }
    }
}
