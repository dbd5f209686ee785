//! `Raft` service: hands replication messages to the local replica (managers only).

use rpc::Call;
use rpc::calls::{AppendEntries, InstallSnapshot, PreVote, TransferLeader, Vote};
use rpc::messages::SNAPSHOT_CHUNK;
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
    max_snapshot_bytes: u64,
}

/// The default bound on a snapshot received in `InstallSnapshot` (4 GiB). A snapshot is the
/// whole encoded state, so a legitimate one is as big as the store, mostly tasks, each encoded
/// with its own copy of its spec: a task with an empty spec takes 128 bytes, a real container
/// spec (image, env, labels) some 1–2 KiB more, and a slot keeps by default up to 5 old tasks
/// besides its current one. A 100k-slot cluster with full history is then about 1 GiB; 4 GiB
/// leaves room several times over, while a sender cannot make a replica hold more.
pub const DEFAULT_MAX_SNAPSHOT_BYTES: u64 = 4 << 30;

impl RaftService {
    /// Serves Raft for `consensus`; unknown managers are checked with `vouches`; a snapshot
    /// sent to this replica may be at most `max_snapshot_bytes` long.
    pub fn new(gate: Gate, consensus: Consensus, vouches: Vouches, max_snapshot_bytes: u64) -> RaftService {
        RaftService {
            gate,
            consensus,
            vouches,
            max_snapshot_bytes,
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
        let (header, data) = receive_snapshot(req.into_inner(), self.max_snapshot_bytes).await?;
        let (vote, meta) = header;
        let result = self
            .consensus
            .raft()
            .install_full_snapshot(vote, Snapshot { meta, snapshot: data })
            .await;
        InstallSnapshot::reply(&stringify(result))
    }
}

/// Reads a snapshot stream whole: the header from the first chunk that has one, and the bytes.
/// A chunk longer than the sender's [`SNAPSHOT_CHUNK`] is `InvalidArgument`, a total over
/// `max_bytes` `ResourceExhausted` (gRPC's code for a message over a receiver's limit); on either the
/// bytes read so far are dropped and nothing is installed.
async fn receive_snapshot(
    mut stream: Streaming<Msg>,
    max_bytes: u64,
) -> Result<((store::consensus::Vote, store::consensus::SnapshotMeta), Vec<u8>), Status> {
    let mut header = None;
    let mut data = Vec::new();
    while let Some(msg) = stream.next().await {
        let chunk = InstallSnapshot::request_item(&msg?)?;
        if chunk.data.len() > SNAPSHOT_CHUNK {
            return Err(Status::invalid_argument(format!(
                "snapshot chunk of {} bytes, more than {SNAPSHOT_CHUNK}",
                chunk.data.len()
            )));
        }
        if (data.len() + chunk.data.len()) as u64 > max_bytes {
            tracing::warn!("refused a snapshot over {max_bytes} bytes");
            return Err(Status::resource_exhausted(format!(
                "snapshot larger than this manager accepts ({max_bytes} bytes)"
            )));
        }
        if let Some(h) = chunk.header {
            header = Some(h);
        }
        data.extend_from_slice(&chunk.data);
    }
    let header = header.ok_or_else(|| Status::invalid_argument("snapshot stream without header"))?;
    Ok((header, data))
}
