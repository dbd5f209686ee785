//! `Control` service: writes forwarded by followers, and Raft membership for joining managers.

use std::sync::Arc;

use rpc::messages::{JoinRaftRequest, JoinRaftResponse, ProposeResponse};
use rpc::pb::Msg;
use rpc::{decode, require_manager};
use store::Txn;
use tonic::{Request, Status};

use super::{Reply, not_leader, reply};
use crate::manager::Inner;

/// Server side of manager-to-manager control calls.
pub struct ControlService(pub Arc<Inner>);

#[tonic::async_trait]
impl rpc::pb::control_server::Control for ControlService {
    async fn propose(&self, req: Request<Msg>) -> Reply {
        require_manager(&req, &self.0.cluster_id)?;
        let txn: Txn = decode(req.get_ref())?;
        let result: ProposeResponse = match self.0.consensus.write(txn).await {
            Ok(index) => Ok(index),
            Err(store::Error::Txn(e)) => Err(e),
            Err(store::Error::ForwardToLeader { addr, .. }) => return Err(not_leader(Some(addr))),
            Err(e) => return Err(crate::Error::from(e).into()),
        };
        reply(&result)
    }

    type SubscribeLogsStream = std::pin::Pin<Box<dyn futures::Stream<Item = Result<Msg, Status>> + Send>>;

    async fn subscribe_logs(
        &self,
        req: Request<Msg>,
    ) -> Result<tonic::Response<Self::SubscribeLogsStream>, Status> {
        require_manager(&req, &self.0.cluster_id)?;
        if !self.0.consensus.is_leader() {
            return Err(not_leader(self.0.consensus.leader().map(|(_, p)| p.addr)));
        }
        let request: rpc::messages::LogRequest = decode(req.get_ref())?;
        let view = self.0.consensus.store().view();
        let reachable = |n: &str| {
            view.node(n)
                .is_some_and(|n| n.status.state == types::NodeState::Ready)
        };
        let mut sub = self
            .0
            .logs
            .subscribe(request.tasks_by_node, request.options, reachable);
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        tokio::spawn(async move {
            while let Some(batch) = sub.recv().await {
                if tx.send(Ok(rpc::encode(&batch))).await.is_err() {
                    return;
                }
            }
        });
        Ok(tonic::Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }

    async fn read_index(&self, req: Request<Msg>) -> Reply {
        require_manager(&req, &self.0.cluster_id)?;
        if !self.0.consensus.is_leader() {
            return Err(not_leader(self.0.consensus.leader().map(|(_, p)| p.addr)));
        }
        reply(&self.0.consensus.applied_index())
    }

    async fn join_raft(&self, req: Request<Msg>) -> Reply {
        let caller = require_manager(&req, &self.0.cluster_id)?;
        let join: JoinRaftRequest = decode(req.get_ref())?;
        if caller.node_id != join.node_id {
            // Only an existing member may forward another node's request.
            let is_member = self
                .0
                .consensus
                .store()
                .view()
                .node(&caller.node_id)
                .is_some_and(|n| n.manager_status.is_some());
            if !is_member {
                return Err(Status::permission_denied(
                    "a node may only ask to join the raft group for itself",
                ));
            }
        }
        let members = self.0.join_raft(join).await.map_err(Status::from)?;
        reply(&JoinRaftResponse { members })
    }
}
