//! `Raft` service: hands replication messages to the local replica (managers only).

use rpc::Call;
use rpc::calls::{AppendEntries, InstallSnapshot, PreVote, TransferLeader, Vote};
use rpc::pb::Msg;
use store::consensus::Snapshot;
use tokio_stream::StreamExt;
use tonic::{Request, Status, Streaming};

use super::{Gate, Reply};
use crate::authz::Family;
use crate::vouch::Vouches;
use store::consensus::Consensus;
use types::Role;

/// Server side of Raft replication.
pub struct RaftService {
    gate: Gate,
    consensus: Consensus,
    vouches: Vouches,
}

impl RaftService {
    /// Serves Raft for `consensus`; unknown managers are checked with `vouches`.
    pub fn new(gate: Gate, consensus: Consensus, vouches: Vouches) -> RaftService {
        RaftService {
            gate,
            consensus,
            vouches,
        }
    }

    /// [`admit`] for the Raft family; a manager certificate this replica does not know as a
    /// member is checked with the members it does know (see [`crate::vouch`]).
    async fn admit<T>(&self, req: &Request<T>) -> Result<(), Status> {
        let refused = match self.gate.admit(req, Family::Raft) {
            Ok(_) => return Ok(()),
            Err(refused) => refused,
        };
        let identity = rpc::require_node(req, self.gate.cluster_id())?;
        let view = self.gate.membership(&identity.node_id);
        let unknown_manager = identity.role == Role::Manager && view.raft_initialised && !view.raft_member;
        if unknown_manager && self.vouches.confirmed(&identity.node_id).await {
            return Ok(());
        }
        Err(refused)
    }
}

fn stringify<T, E: std::fmt::Display>(r: Result<T, E>) -> Result<T, String> {
    r.map_err(|e| e.to_string())
}

#[tonic::async_trait]
impl rpc::pb::raft_server::Raft for RaftService {
    async fn append_entries(&self, req: Request<Msg>) -> Reply {
        self.admit(&req).await?;
        let rpc = AppendEntries::request(&req)?;
        AppendEntries::reply(&stringify(self.consensus.raft().append_entries(rpc).await))
    }

    async fn vote(&self, req: Request<Msg>) -> Reply {
        self.admit(&req).await?;
        let rpc = Vote::request(&req)?;
        Vote::reply(&stringify(self.consensus.raft().vote(rpc).await))
    }

    async fn pre_vote(&self, req: Request<Msg>) -> Reply {
        self.admit(&req).await?;
        let rpc = PreVote::request(&req)?;
        PreVote::reply(&stringify(self.consensus.raft().pre_vote(rpc).await))
    }

    async fn transfer_leader(&self, req: Request<Msg>) -> Reply {
        self.admit(&req).await?;
        let rpc = TransferLeader::request(&req)?;
        TransferLeader::reply(&stringify(
            self.consensus.raft().handle_transfer_leader(rpc).await,
        ))
    }

    async fn install_snapshot(&self, req: Request<Streaming<Msg>>) -> Reply {
        self.admit(&req).await?;
        let mut stream = req.into_inner();
        let mut header = None;
        let mut data = Vec::new();
        while let Some(msg) = stream.next().await {
            let chunk = InstallSnapshot::request_item(&msg?)?;
            if let Some(h) = chunk.header {
                header = Some(h);
            }
            data.extend_from_slice(&chunk.data);
        }
        let (vote, meta) =
            header.ok_or_else(|| Status::invalid_argument("snapshot stream without header"))?;
        let result = self
            .consensus
            .raft()
            .install_full_snapshot(vote, Snapshot { meta, snapshot: data })
            .await;
        InstallSnapshot::reply(&stringify(result))
    }
}
