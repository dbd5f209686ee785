//! `Dispatcher` service: node sessions and heartbeats, served by the leader only.
//!
//! ```text
//! agent ── Session(description) ──► leader: mark ready, then stream SessionMessage on change
//!       ── Heartbeat every period ─► leader: Liveness::seen (memory only), tunnel key
//!                                     (memory only: tunnel_keys.rs)
//!       ── Leave (swarm leave) ──────► leader: mark down now, never ready again
//! ```

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use rpc::calls::{Assignments, Heartbeat, Leave, PublishLogs, Session, UpdateTaskStatus};
use rpc::messages::{AssignmentsMessage, HeartbeatResponse, SessionMessage};
use rpc::pb::Msg;
use rpc::{Call, require_node};
use store::WatchEvent;
use store::consensus::Consensus;
use tokio::time::Instant;
use tonic::{Request, Response, Status};
use types::{Node, Task};
use types::{NodeState, Role};

use super::assignments::{Router, assigned_to};
use super::liveness::{Liveness, heartbeat_period};
use super::netfeed::{self, StreamNets};
use super::node_tasks::NodeTasks;
use super::payfeed::StreamPayloads;
use super::status_batcher::{CurrentBatcher, status_update};
use super::tunnel_keys::StreamKeys;
use crate::authz::{Denied, Family};
use crate::error::to_status;
use crate::grpc::{Gate, Reply, to_leader};
use crate::logbroker::LogBroker;
use crate::propose::Proposer;

/// Status message of a node that said it left the swarm.
pub const LEFT: &str = "node left the swarm";

/// True once the node said it left: nothing it sends later may make it ready again.
fn has_left(node: &Node) -> bool {
    node.status.state == NodeState::Down && node.status.message == LEFT
}

fn left_refusal(node_id: &str) -> Status {
    Status::permission_denied(format!("node {node_id} left the swarm"))
}

/// Server side of node sessions. Its parts are the leader's dispatcher state, shared with
/// the leadership supervisor (which resets liveness and installs the batcher each term).
#[derive(Clone)]
pub struct DispatcherService {
    pub(super) gate: Gate,
    pub(super) consensus: Consensus,
    pub(super) proposer: Proposer,
    liveness: Arc<Liveness>,
    router: Arc<Router>,
    logs: Arc<LogBroker>,
    batcher: CurrentBatcher,
}

type SessionStream = Pin<Box<dyn Stream<Item = Result<Msg, Status>> + Send>>;

impl DispatcherService {
    /// Serves sessions of `consensus`'s leader: node writes through `proposer`, heartbeats
    /// into `liveness`, assignments from `router`, log subscriptions of `logs`, status
    /// reports into the term's `batcher`.
    pub fn new(
        gate: Gate,
        consensus: Consensus,
        proposer: Proposer,
        liveness: Arc<Liveness>,
        router: Arc<Router>,
        logs: Arc<LogBroker>,
        batcher: CurrentBatcher,
    ) -> DispatcherService {
        DispatcherService {
            gate,
            consensus,
            proposer,
            liveness,
            router,
            logs,
            batcher,
        }
    }

    pub(super) fn check_leader(&self) -> Result<(), Status> {
        if self.consensus.is_leader() {
            Ok(())
        } else {
            Err(to_leader(&self.consensus))
        }
    }

    fn heartbeat_period(&self) -> Duration {
        heartbeat_period(&self.consensus.store().view())
    }

    /// The membership check of [`Gate::admit`] for a node whose stream is already open.
    fn admit_node(&self, node_id: &str) -> Result<(), Status> {
        let caller = crate::authz::Caller {
            node_id,
            role: Role::Worker,
        };
        crate::authz::authorize(Family::Dispatcher, caller, self.gate.membership(node_id))
            .map_err(Status::from)
    }

    /// What a node should know now: managers (leader first), its desired role, the period.
    fn session_message(&self, node_id: &str) -> Option<SessionMessage> {
        let view = self.consensus.store().view();
        let node = view.node(node_id)?;
        let cluster = view.cluster().map(|c| c.as_ref());
        let mut managers: Vec<String> = Vec::new();
        if let Some((_, leader)) = self.consensus.leader() {
            managers.push(leader.addr);
        }
        for (_, peer) in self.consensus.voters() {
            if !managers.contains(&peer.addr) {
                managers.push(peer.addr);
            }
        }
        Some(SessionMessage {
            managers,
            // A demoted manager hears "worker" only once it is out of Raft (see `role_now`).
            desired_role: crate::roles::role_now(
                node.spec.role,
                node.manager_status.is_some() || self.gate.membership(node_id).raft_member,
            ),
            heartbeat_period_ms: heartbeat_period(&view).as_millis() as u64,
            log_subscriptions: self.logs.for_node(node_id),
            ca_trust_pem: cluster
                .map(|c| rules::root_rotation::trust_pem(view.ca_state(), c))
                .unwrap_or_default(),
            ca_renew_under_pem: match (cluster, &view.ca_state().rotation) {
                (Some(c), Some(_)) => rules::root_rotation::wanted_issuer_pem(view.ca_state(), c).to_string(),
                _ => String::new(),
            },
            tunnel_key_rotation_ms: self.router.keys().rotation().as_millis() as u64,
        })
    }
}

#[tonic::async_trait]
impl rpc::pb::dispatcher_server::Dispatcher for DispatcherService {
    type SessionStream = SessionStream;

    async fn session(&self, req: Request<Msg>) -> Result<Response<SessionStream>, Status> {
        require_node(&req, self.gate.cluster_id())?;
        self.check_leader()?;
        let caller = self.gate.admit(&req, Family::Dispatcher)?;
        let remote_ip = rpc::server::remote_addr(&req)
            .map(|a| a.ip().to_string())
            .unwrap_or_default();
        let open = Session::request(&req)?;
        let (view, mut watch) = self.consensus.store().view_and_watch();
        let node = view
            .node(&caller.node_id)
            .cloned()
            .ok_or_else(|| Status::from(Denied::Removed(caller.node_id.clone())))?;
        if has_left(&node) {
            return Err(left_refusal(&node.id));
        }
        self.liveness.seen(&node.id, Instant::now());
        // Bound to the node the certificate names, after the membership checks above, and
        // before the node's Raft write: right after a failover that write waits for the new
        // leader's first commit, and the peers' tunnels should not.
        if let Some(key) = open.tunnel_key {
            self.router.set_key(&node.id, key);
        }
        let worker = caller.role == Role::Worker;
        self.proposer
            .update_node(&node.id, |n| {
                n.description = open.description.clone();
                n.status.state = NodeState::Ready;
                n.status.message = String::new();
                if !remote_ip.is_empty() {
                    n.status.addr = remote_ip.clone();
                }
                if worker && n.manager_status.is_none() {
                    n.role = Role::Worker;
                }
            })
            .await
            .map_err(to_status)?;
        let this = self.clone();
        let node_id = node.id.clone();
        let mut log_changes = self.logs.watch();
        let stream = async_stream(move |tx| async move {
            let mut last: Option<SessionMessage> = None;
            loop {
                if !this.consensus.is_leader() {
                    let _ = tx.send(Err(to_leader(&this.consensus))).await;
                    return;
                }
                match this.session_message(&node_id) {
                    None => {
                        let _ = tx.send(Err(Status::from(Denied::Removed(node_id.clone())))).await;
                        return;
                    }
                    Some(msg) if last.as_ref() != Some(&msg) => {
                        if tx.send(Ok(Session::response_item(&msg))).await.is_err() {
                            return;
                        }
                        last = Some(msg);
                    }
                    Some(_) => {}
                }
                // Wake on any store change (roles, membership), a log subscription change, or
                // at the latest every second to notice leadership loss.
                let logs_changed = log_changes.changed();
                let _ = tokio::time::timeout(Duration::from_secs(1), async {
                    tokio::pin!(logs_changed);
                    loop {
                        tokio::select! {
                            _ = &mut logs_changed => return,
                            event = watch.next() => match event {
                                Some(WatchEvent::Reset) | None => return,
                                // Cluster: a root CA rotation changes the roots nodes trust.
                                Some(WatchEvent::Commit(c)) if c.changes.iter().any(|ch| matches!(ch.kind(), types::Kind::Node | types::Kind::Cluster)) => return,
                                Some(_) => {}
                            },
                        }
                    }
                })
                .await;
            }
        });
        Ok(Response::new(stream))
    }

    type AssignmentsStream = SessionStream;

    async fn assignments(&self, req: Request<Msg>) -> Result<Response<SessionStream>, Status> {
        require_node(&req, self.gate.cluster_id())?;
        self.check_leader()?;
        let caller = self.gate.admit(&req, Family::Dispatcher)?;
        let node_id = caller.node_id;
        if self.consensus.store().view().node(&node_id).is_none() {
            return Err(Status::from(Denied::Removed(node_id)));
        }
        // Subscribe before reading the full set so no change falls in between.
        let feed = self.router.subscribe(&node_id);
        let mut nets = self.router.nets().stream(&feed);
        let mut payloads = StreamPayloads::default();
        let mut keys = StreamKeys::default();
        let mut index = NodeTasks::default();
        let this = self.clone();
        let stream = async_stream(move |tx| async move {
            let full = |this: &DispatcherService,
                        nets: &mut StreamNets,
                        payloads: &mut StreamPayloads,
                        keys: &mut StreamKeys,
                        index: &mut NodeTasks| {
                let view = this.consensus.store().view();
                let tasks: Vec<Task> = view
                    .tasks_on_node(&node_id)
                    .filter(|t| assigned_to(t, &node_id))
                    .map(|t| as_sent(t, view.generic_resources(&t.id)))
                    .collect();
                index.reset(&view, &node_id, &tasks);
                let networks = nets.full(&view, &node_id, &tasks, &index.networks(&view));
                let peer_keys = keys.full(this.router.keys(), &nets.encrypted_peers(&node_id));
                AssignmentsMessage {
                    full: true,
                    tasks,
                    removed: Vec::new(),
                    networks,
                    networks_removed: Vec::new(),
                    network_deltas: Vec::new(),
                    payloads: payloads.full(&view, index),
                    payloads_removed: Vec::new(),
                    peer_keys,
                }
            };
            if !send(&tx, &full(&this, &mut nets, &mut payloads, &mut keys, &mut index)).await {
                return;
            }
            loop {
                let touched = match tokio::time::timeout(Duration::from_secs(1), feed.next()).await {
                    Ok(t) => t,
                    Err(_) => {
                        if !this.consensus.is_leader() {
                            let _ = tx.send(Err(to_leader(&this.consensus))).await;
                            return;
                        }
                        // A removed node's open stream ends too, not only its next call.
                        if let Err(denied) = this.admit_node(&node_id) {
                            let _ = tx.send(Err(denied)).await;
                            return;
                        }
                        continue;
                    }
                };
                let msg = if touched.resync {
                    full(&this, &mut nets, &mut payloads, &mut keys, &mut index)
                } else {
                    // The current value of each touched task decides what the node hears.
                    let view = this.consensus.store().view();
                    let mut changed = Vec::new();
                    let mut removed = Vec::new();
                    for id in touched.tasks {
                        match view.task(&id) {
                            Some(t) if assigned_to(t, &node_id) => {
                                changed.push(as_sent(t, view.generic_resources(&t.id)))
                            }
                            _ => removed.push(id),
                        }
                    }
                    // What the networks and payloads depend on: a status report alters
                    // nothing, so neither feed rescans the node's tasks for it.
                    let alters = index.apply(&view, &node_id, &changed, &removed, &touched.readdressed);
                    // In the same message: the networks these tasks use, and what changed.
                    let update = nets.update(&view, &node_id, &changed, &index.networks(&view));
                    // The keys of the peers on the encrypted networks the node now holds (a
                    // key change wakes the stream through the network feed).
                    let peer_keys = keys.update(this.router.keys(), &nets.encrypted_peers(&node_id));
                    // And the secrets and configs the node's tasks now need (or no longer do).
                    let delivered = if alters.payloads {
                        payloads.update(&view, &index)
                    } else {
                        super::payfeed::PayloadUpdate::default()
                    };
                    AssignmentsMessage {
                        full: false,
                        tasks: changed,
                        removed,
                        networks: update.networks,
                        networks_removed: update.removed,
                        network_deltas: update.deltas,
                        payloads: delivered.payloads,
                        payloads_removed: delivered.removed,
                        peer_keys,
                    }
                };
                if msg.tasks.is_empty()
                    && msg.removed.is_empty()
                    && msg.networks.is_empty()
                    && msg.networks_removed.is_empty()
                    && msg.network_deltas.is_empty()
                    && msg.payloads.is_empty()
                    && msg.payloads_removed.is_empty()
                    && msg.peer_keys.is_empty()
                    && !msg.full
                {
                    continue;
                }
                if !send(&tx, &msg).await {
                    return;
                }
            }
        });
        Ok(Response::new(stream))
    }

    async fn update_task_status(&self, req: Request<Msg>) -> Reply {
        require_node(&req, self.gate.cluster_id())?;
        self.check_leader()?;
        let caller = self.gate.admit(&req, Family::Dispatcher)?;
        let batch = UpdateTaskStatus::request(&req)?;
        let view = self.consensus.store().view();
        // A node reports only on its own tasks.
        let updates = batch
            .updates
            .into_iter()
            .filter(|(id, _)| view.task(id).is_some_and(|t| t.node_id == caller.node_id))
            .map(|(id, status)| status_update(id, status))
            .collect();
        let batcher = self.batcher.get().ok_or_else(|| to_leader(&self.consensus))?;
        batcher.submit(updates).await.map_err(to_status)?;
        UpdateTaskStatus::reply(&())
    }

    async fn publish_logs(&self, req: Request<tonic::Streaming<Msg>>) -> Reply {
        let caller = self.gate.admit(&req, Family::Dispatcher)?;
        let mut stream = req.into_inner();
        while let Some(msg) = stream.message().await? {
            // A long stream outlives the membership it was opened under: re-checked per batch.
            self.admit_node(&caller.node_id)?;
            let batch = PublishLogs::request_item(&msg)?;
            if !self.logs.publish(&caller.node_id, batch).await {
                // The caller went away: tell the node to stop streaming this subscription.
                return Err(Status::not_found("log subscription is gone"));
            }
        }
        PublishLogs::reply(&())
    }

    async fn heartbeat(&self, req: Request<Msg>) -> Reply {
        require_node(&req, self.gate.cluster_id())?;
        self.check_leader()?;
        let caller = self.gate.admit(&req, Family::Dispatcher)?;
        let beat = Heartbeat::request(&req)?;
        let view = self.consensus.store().view();
        let node = view
            .node(&caller.node_id)
            .ok_or_else(|| Status::from(Denied::Removed(caller.node_id.clone())))?;
        if has_left(node) {
            return Err(left_refusal(&node.id));
        }
        self.liveness.seen(&node.id, Instant::now());
        if let Some(key) = beat.tunnel_key {
            self.router.set_key(&node.id, key);
        }
        if node.status.state != NodeState::Ready {
            self.proposer
                .update_node(&node.id, |n| {
                    n.status.state = NodeState::Ready;
                    n.status.message = String::new();
                })
                .await
                .map_err(to_status)?;
        }
        Heartbeat::reply(&HeartbeatResponse {
            period_ms: self.heartbeat_period().as_millis() as u64,
        })
    }

    async fn leave(&self, req: Request<Msg>) -> Reply {
        self.mark_left(req).await
    }

    async fn attach_network(&self, req: Request<Msg>) -> Reply {
        self.attach_network_call(req).await
    }

    async fn detach_network(&self, req: Request<Msg>) -> Reply {
        self.detach_network_call(req).await
    }
}

impl DispatcherService {
    /// `Leave`: the node is leaving, so it is down now rather than after missed heartbeats
    /// (which took seconds and showed a node that had left as ready).
    async fn mark_left(&self, req: Request<Msg>) -> Reply {
        require_node(&req, self.gate.cluster_id())?;
        self.check_leader()?;
        let caller = self.gate.admit(&req, Family::Dispatcher)?;
        let _ = Leave::request(&req)?;
        self.proposer
            .update_node(&caller.node_id, |n| {
                n.status.state = NodeState::Down;
                n.status.message = LEFT.into();
            })
            .await
            .map_err(to_status)?;
        // Log streams stop waiting for a node that will not answer.
        self.logs.node_gone(&caller.node_id);
        self.router.keys().remove(&caller.node_id);
        tracing::info!(node = %caller.node_id, "node left the swarm");
        Leave::reply(&())
    }
}

/// Sends one assignment message, counting its bytes; false once the node went away.
async fn send(tx: &tokio::sync::mpsc::Sender<Result<Msg, Status>>, msg: &AssignmentsMessage) -> bool {
    let item = Assignments::response_item(msg);
    let carries_networks =
        !(msg.networks.is_empty() && msg.networks_removed.is_empty() && msg.network_deltas.is_empty());
    netfeed::count_sent(carries_networks, item.body.len());
    tx.send(Ok(item)).await.is_ok()
}

/// A stream fed by a task through a small channel.
fn async_stream<F, Fut>(body: F) -> SessionStream
where
    F: FnOnce(tokio::sync::mpsc::Sender<Result<Msg, Status>>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(body(tx));
    Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))
}

/// A task as its node receives it: with the `DOCKER_RESOURCE_<KIND>` variables of the generic
/// resources it was `given` in its env (`DOCKER_RESOURCE_GPU=GPU-1,GPU-2` for named units, the
/// count for counts), as SwarmKit's executor sets them. A task assigned before the units were
/// recorded is told what it reserves.
fn as_sent(task: &Task, given: &[types::generic::GenericResource]) -> Task {
    let mut sent = task.clone();
    let reserved;
    let units = if given.is_empty() {
        reserved = types::generic::reserved(&task.spec);
        &reserved[..]
    } else {
        given
    };
    if !units.is_empty() {
        let mut spec = (*task.spec).clone();
        spec.container.env.extend(types::generic::env(units));
        sent.spec = std::sync::Arc::new(spec);
    }
    sent
}

#[cfg(test)]
mod tests {
    use types::generic::{GenericResource, set_reserved};

    use super::as_sent;

    #[test]
    fn a_task_reserving_generic_resources_is_sent_with_their_env() {
        let mut task = types::testing::task("t1").build();
        assert_eq!(as_sent(&task, &[]), task, "nothing reserved, nothing added");
        let mut spec = (*task.spec).clone();
        spec.container.env = vec!["A=1".into()];
        set_reserved(
            &mut spec,
            &[GenericResource::Discrete {
                kind: "gpu".into(),
                value: 2,
            }],
        );
        task.spec = std::sync::Arc::new(spec);
        assert_eq!(
            as_sent(&task, &[]).spec.container.env,
            ["A=1", "DOCKER_RESOURCE_GPU=2"]
        );
        let named = |v: &str| GenericResource::Named {
            kind: "gpu".into(),
            value: v.into(),
        };
        assert_eq!(
            as_sent(&task, &[named("GPU-1"), named("GPU-2")])
                .spec
                .container
                .env,
            ["A=1", "DOCKER_RESOURCE_GPU=GPU-1,GPU-2"],
            "the units it was given"
        );
        assert_eq!(task.spec.container.env, ["A=1"], "the stored task is unchanged");
    }
}
