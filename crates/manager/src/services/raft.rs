//! `Raft` service: hands replication messages to the local replica (managers only).

use std::sync::Arc;

use rpc::decode;
use rpc::messages::SnapshotChunk;
use rpc::pb::Msg;
use store::consensus::Snapshot;
use tokio_stream::StreamExt;
use tonic::{Request, Status, Streaming};

use super::{Reply, admit, reply};
use crate::authz::Family;
use crate::manager::Inner;

/// Server side of Raft replication.
pub struct RaftService(pub Arc<Inner>);

fn stringify<T, E: std::fmt::Display>(r: Result<T, E>) -> Result<T, String> {
    r.map_err(|e| e.to_string())
}

#[tonic::async_trait]
impl rpc::pb::raft_server::Raft for RaftService {
    async fn append_entries(&self, req: Request<Msg>) -> Reply {
        admit(&self.0, &req, Family::Raft)?;
        let rpc = decode(req.get_ref())?;
        reply(&stringify(self.0.consensus.raft().append_entries(rpc).await))
    }

    async fn vote(&self, req: Request<Msg>) -> Reply {
        admit(&self.0, &req, Family::Raft)?;
        let rpc = decode(req.get_ref())?;
        reply(&stringify(self.0.consensus.raft().vote(rpc).await))
    }

    async fn pre_vote(&self, req: Request<Msg>) -> Reply {
        admit(&self.0, &req, Family::Raft)?;
        let rpc = decode(req.get_ref())?;
        reply(&stringify(self.0.consensus.raft().pre_vote(rpc).await))
    }

    async fn transfer_leader(&self, req: Request<Msg>) -> Reply {
        admit(&self.0, &req, Family::Raft)?;
        let rpc = decode(req.get_ref())?;
        reply(&stringify(
            self.0.consensus.raft().handle_transfer_leader(rpc).await,
        ))
    }

    async fn install_snapshot(&self, req: Request<Streaming<Msg>>) -> Reply {
        admit(&self.0, &req, Family::Raft)?;
        let mut stream = req.into_inner();
        let mut header = None;
        let mut data = Vec::new();
        while let Some(msg) = stream.next().await {
            let chunk: SnapshotChunk = decode(&msg?)?;
            if let Some(h) = chunk.header {
                header = Some(h);
            }
            data.extend_from_slice(&chunk.data);
        }
        let (vote, meta) =
            header.ok_or_else(|| Status::invalid_argument("snapshot stream without header"))?;
        let result = self
            .0
            .consensus
            .raft()
            .install_full_snapshot(vote, Snapshot { meta, snapshot: data })
            .await;
        reply(&stringify(result))
    }
}
