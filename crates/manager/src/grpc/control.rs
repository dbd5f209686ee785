//! `Control` service: writes forwarded by followers, and Raft membership for joining managers.

use std::sync::Arc;

use rpc::Call;
use rpc::calls::{JoinRaft, Propose, RaftMembers, ReadIndex, ReadState, SubscribeLogs};
use rpc::messages::{JoinRaftResponse, ProposeResponse};
use rpc::pb::Msg;
use store::consensus::Consensus;
use tonic::{Request, Status};

use super::{Gate, Reply, not_leader, to_leader};
use crate::authz::Family;
use crate::error::{from_store, to_status};
use crate::logbroker::LogBroker;
use crate::membership::Membership;

/// Server side of manager-to-manager control calls.
pub struct ControlService {
    gate: Gate,
    consensus: Consensus,
    logs: Arc<LogBroker>,
    membership: Membership,
}

impl ControlService {
    /// Serves forwarded writes and reads of `consensus`, log subscriptions of `logs`, and
    /// joins through `membership`.
    pub fn new(
        gate: Gate,
        consensus: Consensus,
        logs: Arc<LogBroker>,
        membership: Membership,
    ) -> ControlService {
        ControlService {
            gate,
            consensus,
            logs,
            membership,
        }
    }
}

#[tonic::async_trait]
impl rpc::pb::control_server::Control for ControlService {
    async fn propose(&self, req: Request<Msg>) -> Reply {
        self.gate.admit(&req, Family::Control)?;
        let txn = Propose::request(&req)?;
        let result: ProposeResponse = match self.consensus.write(txn).await {
            Ok(index) => Ok(index),
            Err(store::Error::Txn(e)) => Err(e),
            Err(store::Error::ForwardToLeader { addr, .. }) => return Err(not_leader(Some(addr))),
            Err(e) => return Err(to_status(from_store(e))),
        };
        Propose::reply(&result)
    }

    type SubscribeLogsStream = std::pin::Pin<Box<dyn futures::Stream<Item = Result<Msg, Status>> + Send>>;

    async fn subscribe_logs(
        &self,
        req: Request<Msg>,
    ) -> Result<tonic::Response<Self::SubscribeLogsStream>, Status> {
        self.gate.admit(&req, Family::Control)?;
        if !self.consensus.is_leader() {
            return Err(to_leader(&self.consensus));
        }
        let request = SubscribeLogs::request(&req)?;
        let view = self.consensus.store().view();
        let reachable = |n: &str| {
            view.node(n)
                .is_some_and(|n| n.status.state == types::NodeState::Ready)
        };
        let mut sub = self
            .logs
            .subscribe(request.tasks_by_node, request.options, reachable);
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        tokio::spawn(async move {
            while let Some(batch) = sub.recv().await {
                if tx.send(Ok(SubscribeLogs::response_item(&batch))).await.is_err() {
                    return;
                }
            }
        });
        Ok(tonic::Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }

    async fn read_index(&self, req: Request<Msg>) -> Reply {
        self.gate.admit(&req, Family::Control)?;
        if !self.consensus.is_leader() {
            return Err(to_leader(&self.consensus));
        }
        ReadIndex::reply(&self.consensus.applied_index())
    }

    async fn read_state(&self, req: Request<Msg>) -> Reply {
        self.gate.admit(&req, Family::Control)?;
        if !self.consensus.is_leader() {
            return Err(to_leader(&self.consensus));
        }
        let bytes = self
            .consensus
            .store()
            .view()
            .encode()
            .map_err(|e| Status::internal(format!("encoding the state: {e}")))?;
        ReadState::reply(&bytes)
    }

    async fn raft_members(&self, req: Request<Msg>) -> Reply {
        self.gate.admit(&req, Family::Control)?;
        let members: Vec<String> = self
            .consensus
            .members()
            .into_values()
            .map(|peer| peer.node_id)
            .collect();
        RaftMembers::reply(&members)
    }

    async fn join_raft(&self, req: Request<Msg>) -> Reply {
        let join = JoinRaft::request(&req)?;
        let caller = rpc::require_node(&req, self.gate.cluster_id())?;
        if caller.node_id == join.node_id {
            self.gate.admit(&req, Family::JoinRaft)?;
        } else {
            // Only a current member may forward another node's request; the leader's
            // `join_raft` then checks the joiner itself.
            self.gate.admit(&req, Family::Control).map_err(|_| {
                Status::permission_denied("a node may only ask to join the raft group for itself")
            })?;
        }
        let members = self.membership.add(join).await.map_err(to_status)?;
        JoinRaft::reply(&JoinRaftResponse { members })
    }
}
