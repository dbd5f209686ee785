//! Raft messages over the cluster port: openraft's network traits on top of the RPC pool.
//!
//! Snapshots are sent as a stream of 1 MiB chunks, so a manager can always join however
//! large the state grows (Swarm's single message broke past 4 MiB).

use std::future::Future;

use rpc::messages::{SNAPSHOT_CHUNK, SnapshotChunk};
use rpc::{Pool, decode, encode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use store::consensus::wire::*;
use store::consensus::{Peer, RaftNetworkFactory, Snapshot, TypeConfig, Vote};

/// Creates one [`RaftPeer`] per replication target.
#[derive(Clone)]
pub struct RaftNetwork {
    /// Shared channels.
    pub pool: Pool,
}

impl RaftNetworkFactory<TypeConfig> for RaftNetwork {
    type Network = RaftPeer;

    async fn new_client(&mut self, _target: u64, node: &Peer) -> RaftPeer {
        RaftPeer {
            pool: self.pool.clone(),
            addr: node.addr.clone(),
        }
    }
}

/// Sends Raft RPCs to one member.
pub struct RaftPeer {
    pool: Pool,
    addr: String,
}

type RpcResult<T> = Result<T, RPCError<TypeConfig>>;

fn unreachable(addr: &str, what: impl std::fmt::Display) -> RPCError<TypeConfig> {
    RPCError::Unreachable(Unreachable::from_string(format!("{addr}: {what}")))
}

/// One method of the generated Raft client, called with a ready request.
type RaftMethod =
    fn(
        rpc::pb::raft_client::RaftClient<tonic::transport::Channel>,
        tonic::Request<rpc::pb::Msg>,
    ) -> futures::future::BoxFuture<'static, Result<tonic::Response<rpc::pb::Msg>, tonic::Status>>;

impl RaftPeer {
    async fn call<Req: Serialize, Resp: DeserializeOwned>(
        &mut self,
        req: &Req,
        option: &RPCOption,
        method: RaftMethod,
    ) -> RpcResult<Resp> {
        let client = self
            .pool
            .raft(&self.addr)
            .map_err(|e| unreachable(&self.addr, e))?;
        let mut request = tonic::Request::new(encode(req));
        request.set_timeout(option.soft_ttl());
        let reply = match method(client, request).await {
            Ok(r) => r.into_inner(),
            Err(status) => {
                if status.code() == tonic::Code::Unavailable || status.code() == tonic::Code::Unknown {
                    self.pool.forget(&self.addr);
                }
                return Err(unreachable(&self.addr, status.message()));
            }
        };
        let result: Result<Resp, String> =
            decode(&reply).map_err(|e| unreachable(&self.addr, e.message()))?;
        result.map_err(|e| RPCError::Network(NetworkError::from_string(e)))
    }
}

impl RaftNetworkV2<TypeConfig> for RaftPeer {
    type SnapshotData = Vec<u8>;

    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<TypeConfig>> {
        self.call(&rpc, &option, |mut c, r| {
            Box::pin(async move { c.append_entries(r).await })
        })
        .await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<TypeConfig>> {
        self.call(&rpc, &option, |mut c, r| Box::pin(async move { c.vote(r).await }))
            .await
    }

    async fn pre_vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<TypeConfig>> {
        self.call(&rpc, &option, |mut c, r| {
            Box::pin(async move { c.pre_vote(r).await })
        })
        .await
    }

    async fn transfer_leader(
        &mut self,
        req: TransferLeaderRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<TransferLeaderResponse<TypeConfig>> {
        self.call(&req, &option, |mut c, r| {
            Box::pin(async move { c.transfer_leader(r).await })
        })
        .await
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote,
        snapshot: Snapshot,
        cancel: impl Future<Output = ReplicationClosed> + Send + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        let addr = self.addr.clone();
        let mut client = self
            .pool
            .raft(&addr)
            .map_err(|e| StreamingError::Unreachable(Unreachable::from_string(e.to_string())))?;
        let Snapshot { meta, snapshot: data } = snapshot;
        let mut chunks = Vec::new();
        let mut header = Some((vote, meta));
        let mut rest = data.as_slice();
        loop {
            let take = rest.len().min(SNAPSHOT_CHUNK);
            chunks.push(encode(&SnapshotChunk {
                header: header.take(),
                data: rest[..take].to_vec(),
            }));
            rest = &rest[take..];
            if rest.is_empty() {
                break;
            }
        }
        let mut request = tonic::Request::new(futures::stream::iter(chunks));
        request.set_timeout(option.hard_ttl());
        let send = client.install_snapshot(request);
        tokio::pin!(cancel);
        let reply = tokio::select! {
            closed = &mut cancel => return Err(StreamingError::Closed(closed)),
            r = send => r,
        };
        let reply = reply.map_err(|s| {
            StreamingError::Unreachable(Unreachable::from_string(format!("{addr}: {}", s.message())))
        })?;
        let result: Result<SnapshotResponse<TypeConfig>, String> = decode(&reply.into_inner())
            .map_err(|s| StreamingError::Network(NetworkError::from_string(s.message().to_string())))?;
        result.map_err(|e| StreamingError::Network(NetworkError::from_string(e)))
    }
}
