//! `AttachNetwork` / `DetachNetwork`: a node's standalone containers join attachable networks
//! through the leader (a worker has no store to propose to). Checked like every dispatcher
//! call (a node certificate of this cluster, a current member); the attachment task is always
//! the caller's own — its node is the certificate's, never one named in the request — and
//! only an attachable network takes one (`rules::controlapi::attachment`).
//!
//! ```text
//! worker daemon ─► AttachNetwork{network, container, aliases, address, held}
//!   leader: stale attachments of the caller deleted ─► attachment task (+ address) proposed
//!   ◄─ the task, the network's name ─► the worker's network layer waits for its view
//! ```

use rpc::Call;
use rpc::calls::{AttachNetwork, DetachNetwork};
use rpc::messages::AttachNetworkResponse;
use rules::controlapi::attachment;
use tonic::{Request, Status};

use super::session::DispatcherService;
use crate::authz::Family;
use crate::error::to_status;
use crate::grpc::Reply;
use rpc::pb::Msg;

/// Age after which a node's attachment that none of its containers holds is deleted (the
/// daemon's own rule for managers, `STALE_AFTER` in shoal's `standalone/network.rs`).
const STALE_AFTER_NANOS: i64 = 120 * 1_000_000_000;

/// Bounds on what a request may carry (it comes off the wire).
const MAX_HELD: usize = 4096;
const MAX_ALIASES: usize = 64;

impl DispatcherService {
    /// `AttachNetwork`: the caller's container gets an attachment task on the network.
    pub(super) async fn attach_network_call(&self, req: Request<Msg>) -> Reply {
        attach(self, req).await
    }

    /// `DetachNetwork`: the caller gives one of its attachment tasks up.
    pub(super) async fn detach_network_call(&self, req: Request<Msg>) -> Reply {
        detach(self, req).await
    }
}

/// `AttachNetwork`: the caller's container gets an attachment task on the network.
async fn attach(d: &DispatcherService, req: Request<Msg>) -> Reply {
    d.check_leader()?;
    let caller = d.gate.admit(&req, Family::Dispatcher)?;
    let r = AttachNetwork::request(&req)?;
    if r.held.len() > MAX_HELD || r.aliases.len() > MAX_ALIASES {
        return Err(Status::invalid_argument("too many held attachments or aliases"));
    }
    let view = d.consensus.store().view();
    let held: std::collections::HashSet<String> = r.held.into_iter().collect();
    let now = d.proposer.now();
    let (collected, mut ops) = attachment::stale(&view, &caller.node_id, &held, now, STALE_AFTER_NANOS);
    let planned = attachment::plan(
        &view,
        &r.network,
        &caller.node_id,
        &r.container,
        r.aliases,
        r.address,
        d.proposer.new_id(),
        now,
    )
    .map_err(to_status)?;
    ops.extend(planned.ops);
    d.proposer.propose(ops).await.map_err(to_status)?;
    AttachNetwork::reply(&AttachNetworkResponse {
        task: planned.task,
        network_name: planned.network_name,
        collected,
    })
}

/// `DetachNetwork`: the caller's attachment task is deleted (its address freed); another
/// node's is refused, an unknown one is already gone.
async fn detach(d: &DispatcherService, req: Request<Msg>) -> Reply {
    d.check_leader()?;
    let caller = d.gate.admit(&req, Family::Dispatcher)?;
    let r = DetachNetwork::request(&req)?;
    let view = d.consensus.store().view();
    if let Some(t) = view.task(&r.task_id)
        && t.node_id != caller.node_id
    {
        return Err(Status::permission_denied(format!(
            "attachment {} belongs to another node",
            r.task_id
        )));
    }
    if let Some(op) = attachment::remove(&view, &r.task_id).map_err(to_status)? {
        d.proposer.propose(vec![op]).await.map_err(to_status)?;
    }
    DetachNetwork::reply(&())
}
