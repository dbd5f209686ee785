//! Raft messages over the cluster port: openraft's network traits on top of the RPC pool.
//!
//! Snapshots are sent as a stream of 1 MiB chunks, so a manager can always join however
//! large the state grows (Swarm's single message broke past 4 MiB).

use std::future::Future;
use std::time::Duration;

use rpc::Pool;
use rpc::calls::{self, RaftReply, Unary};
use rpc::messages::{SNAPSHOT_CHUNK, SnapshotChunk};
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

/// Rate at which a follower is assumed to take in entries, for an append's deadline: openraft
/// gives every append of its replication stream the heartbeat interval (50 ms, cut at 3/4),
/// and on a loaded host a follower answers later than that — in the e2e benchmark with three
/// managers, appends queued behind the follower's writes took 38–63 ms — so the append failed
/// as unreachable, the stream backed off and was set up again, dozens of times a run.
const APPEND_BYTES_PER_SEC: u64 = 4 << 20;
/// Allowance for the follower's fsync and scheduling on top of moving the bytes.
const APPEND_SLACK: Duration = Duration::from_millis(250);

/// The deadline of one AppendEntries sent by the replication stream: openraft's own plus
/// time for the follower to take in `bytes` of entries. Heartbeats, also empty appends, are
/// cut at the heartbeat interval by openraft's heartbeat worker itself, so a dead peer is
/// still noticed at once; an append of the replication stream (empty ones included, which
/// queue behind the follower's writes) is given long enough not to fail and be resent.
fn append_timeout(option: &RPCOption, bytes: usize) -> Duration {
    let moving = Duration::from_millis((bytes as u64).saturating_mul(1000) / APPEND_BYTES_PER_SEC);
    option.soft_ttl() + APPEND_SLACK + moving
}

impl RaftPeer {
    /// Calls `C`, allowing it `timeout(encoded bytes)`.
    async fn call<C, T>(&mut self, req: &C::Request, timeout: impl FnOnce(usize) -> Duration) -> RpcResult<T>
    where
        C: Unary<Response = RaftReply<T>>,
    {
        let result = match self.pool.call_sized::<C>(&self.addr, req, timeout).await {
            Ok(result) => result,
            Err(status) => {
                if status.code() == tonic::Code::Unavailable || status.code() == tonic::Code::Unknown {
                    self.pool.forget(&self.addr);
                }
                return Err(unreachable(&self.addr, status.message()));
            }
        };
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
        self.call::<calls::AppendEntries, _>(&rpc, |bytes| append_timeout(&option, bytes))
            .await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<TypeConfig>> {
        self.call::<calls::Vote, _>(&rpc, |_| option.soft_ttl()).await
    }

    async fn pre_vote(
        &mut self,
        rpc: VoteRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<TypeConfig>> {
        self.call::<calls::PreVote, _>(&rpc, |_| option.soft_ttl()).await
    }

    async fn transfer_leader(
        &mut self,
        req: TransferLeaderRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<TransferLeaderResponse<TypeConfig>> {
        self.call::<calls::TransferLeader, _>(&req, |_| option.soft_ttl())
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
        let Snapshot { meta, snapshot: data } = snapshot;
        let mut chunks = Vec::new();
        let mut header = Some((vote, meta));
        let mut rest = data.as_slice();
        loop {
            let take = rest.len().min(SNAPSHOT_CHUNK);
            chunks.push(SnapshotChunk {
                header: header.take(),
                data: rest[..take].to_vec(),
            });
            rest = &rest[take..];
            if rest.is_empty() {
                break;
            }
        }
        let send = self.pool.send_stream::<calls::InstallSnapshot, _>(
            &addr,
            futures::stream::iter(chunks),
            Some(option.hard_ttl()),
        );
        tokio::pin!(cancel);
        let reply = tokio::select! {
            closed = &mut cancel => return Err(StreamingError::Closed(closed)),
            r = send => r,
        };
        // A reply that does not decode is `InvalidArgument`; a transport failure any other code.
        let result = match reply {
            Ok(result) => result,
            Err(s) if s.code() == tonic::Code::InvalidArgument => {
                return Err(StreamingError::Network(NetworkError::from_string(
                    s.message().to_string(),
                )));
            }
            Err(s) => {
                return Err(StreamingError::Unreachable(Unreachable::from_string(format!(
                    "{addr}: {}",
                    s.message()
                ))));
            }
        };
        result.map_err(|e| StreamingError::Network(NetworkError::from_string(e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_appends_deadline_grows_with_its_entries() {
        // openraft's option for a 50 ms heartbeat interval: 37.5 ms.
        let option = RPCOption::new(Duration::from_millis(50));
        let base = option.soft_ttl() + APPEND_SLACK;
        assert_eq!(append_timeout(&option, 0), base);
        assert_eq!(append_timeout(&option, 4 << 20), base + Duration::from_secs(1));
        assert!(append_timeout(&option, usize::MAX) > Duration::from_secs(3600));
    }
}
