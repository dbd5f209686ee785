//! The manager runtime: one Raft replica, the cluster-port services, and the loops that run
//! only while this replica leads.
//!
//! ```text
//!            ┌──────────── cluster port (mTLS gRPC) ─────────────┐
//!            │ Raft · Ca · Control · Dispatcher                  │
//!            └───────────────┬───────────────────────────────────┘
//!   API ── propose(ops) ──► Consensus ──► Store ──► watch ──► leader loops
//!                 │  (follower: forward to leader)             (liveness, roles)
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use rand::RngCore;
use rand::rngs::StdRng;
use rpc::messages::{JoinRaftRequest, JoinRaftResponse};
use rpc::{Pool, decode, encode};
use rustls::ServerConfig;
use store::consensus::{Consensus, Peer};
use store::{Op, State, Store};
use tokio::net::TcpListener;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use types::cluster::RaftSettings;
use types::{Clock, Cluster, ManagerStatus, Node, Object, Reachability, Role};

use crate::dispatcher::Liveness;
use crate::raft_net::RaftNetwork;
use crate::services::{
    ca::CaService, control::ControlService, dispatcher::DispatcherService, raft::RaftService,
};
use crate::{Error, Result};

/// Tries of a system node write that keeps losing to concurrent writes.
const NODE_WRITE_ATTEMPTS: usize = 16;

/// Who this manager is and where it keeps its replica.
#[derive(Debug, Clone)]
pub struct ManagerConfig {
    /// Node ID (certificate CN).
    pub node_id: String,
    /// Cluster ID (certificate O).
    pub cluster_id: String,
    /// This replica's Raft member ID; never reused.
    pub raft_id: u64,
    /// `host:port` other managers reach our cluster port at.
    pub advertise_addr: String,
    /// Directory of the Raft log and snapshots.
    pub raft_dir: PathBuf,
    /// Raft timing and snapshot settings.
    pub raft_settings: RaftSettings,
    /// This manager's key for sealing its Raft log and snapshots on disk.
    pub data_key: store::crypto::DataKey,
}

/// How the replica comes up.
pub enum Start {
    /// `swarm init`: a new one-member group holding this cluster and node.
    Bootstrap {
        /// The new cluster object.
        cluster: Box<Cluster>,
        /// This node.
        node: Box<Node>,
        /// The managers' unlock key (`swarm init --autolock`).
        unlock_key: Option<store::crypto::UnlockKey>,
    },
    /// Join as manager (or after promotion): an empty replica that asks the leader, via any
    /// of `remotes`, to add it.
    Join {
        /// Managers' cluster addresses.
        remotes: Vec<String>,
    },
    /// Restart of an existing member.
    Resume,
    /// `swarm init --force-new-cluster`: a new one-member group seeded with the objects the
    /// old replica held (other managers are dropped from Raft; the data is kept).
    Restore {
        /// Every object to recreate, this node included.
        objects: Vec<Object>,
        /// The unlock key the old replica held (autolock stays as it was).
        unlock_key: Option<store::crypto::UnlockKey>,
    },
}

/// Shared state of a running manager; services and loops hold an `Arc` of it.
pub struct Inner {
    pub(crate) node_id: String,
    pub(crate) cluster_id: String,
    pub(crate) advertise_addr: String,
    pub(crate) consensus: Consensus,
    pub(crate) pool: Pool,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) rng: Mutex<StdRng>,
    pub(crate) liveness: Liveness,
    pub(crate) router: Arc<crate::assignments::Router>,
    pub(crate) logs: Arc<crate::logbroker::LogBroker>,
    pub(crate) statuses: Mutex<Option<crate::status_batcher::StatusBatcher>>,
    server: Mutex<Option<rpc::ServerHandle>>,
    pub(crate) shutdown: CancellationToken,
    /// How long a write waits for a leader (about two election timeouts).
    pub(crate) leader_wait: Duration,
    /// The longest election timeout: how long a silent Raft peer may still count as reachable.
    pub(crate) election_timeout: Duration,
    pub(crate) leader_contact: crate::read_index::LeaderContact,
}

/// A running manager.
#[derive(Clone)]
pub struct Manager {
    inner: Arc<Inner>,
}

impl Inner {
    /// A new random ID.
    pub(crate) fn new_id(&self) -> String {
        let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        types::id::new_id(&mut *rng)
    }

    /// The heartbeat period from the cluster spec.
    pub(crate) fn heartbeat_period(&self) -> Duration {
        let nanos = self
            .consensus
            .store()
            .view()
            .cluster()
            .map(|c| c.spec.dispatcher_heartbeat_period)
            .filter(|n| *n > 0)
            .unwrap_or(types::cluster::DEFAULT_HEARTBEAT_PERIOD_NANOS);
        Duration::from_nanos(nanos as u64)
    }

    /// Changes node `id` by applying `f` to its current value, committed only if nothing
    /// wrote the node in between (else read again and retry). The system's own node writes
    /// (session status, description, observed role) go through here so that they can never
    /// undo an operator's concurrent change, such as a drain.
    pub(crate) async fn update_node(&self, id: &str, f: impl Fn(&mut Node)) -> Result<()> {
        for _ in 0..NODE_WRITE_ATTEMPTS {
            let node = self
                .consensus
                .store()
                .view()
                .node(id)
                .cloned()
                .ok_or_else(|| Error::NotFound(format!("node {id} not found")))?;
            let mut next = (*node).clone();
            f(&mut next);
            if next == *node {
                return Ok(());
            }
            let op = Op::Update {
                object: Object::Node(next),
                expect_version: Some(node.meta.version),
            };
            match self.propose(vec![op]).await {
                Err(Error::OutOfSequence) => continue,
                other => return other.map(|_| ()),
            }
        }
        Err(Error::OutOfSequence)
    }

    /// Adds a manager to the Raft group (leader only; followers forward).
    pub(crate) async fn join_raft(&self, req: JoinRaftRequest) -> Result<Vec<(u64, Peer)>> {
        if !self.consensus.is_leader() {
            let (_, leader) = self
                .consensus
                .leader()
                .ok_or_else(|| Error::Unavailable(store::Error::NoLeader.to_string()))?;
            let reply = self
                .pool
                .control(&leader.addr)?
                .join_raft(encode(&req))
                .await
                .map_err(Error::from)?;
            let resp: JoinRaftResponse = decode(reply.get_ref()).map_err(Error::from)?;
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
        self.consensus.add_learner(req.raft_id, peer).await?;
        self.consensus.promote_voter(req.raft_id).await?;
        let status = ManagerStatus {
            raft_id: req.raft_id,
            addr: req.addr,
        };
        self.update_node(&node.id, |n| {
            n.manager_status = Some(status.clone());
            n.role = Role::Manager;
        })
        .await?;
        Ok(self.consensus.members().into_iter().collect())
    }
}

impl Manager {
    /// Opens the replica, serves the cluster port on `listener` and starts the loops.
    #[allow(clippy::too_many_arguments)]
    pub async fn start(
        cfg: ManagerConfig,
        start: Start,
        listener: TcpListener,
        server_tls: Arc<ArcSwap<ServerConfig>>,
        pool: Pool,
        clock: Arc<dyn Clock>,
        rng: StdRng,
    ) -> Result<Manager> {
        let network = RaftNetwork { pool: pool.clone() };
        let consensus = Consensus::open(
            &cfg.raft_dir,
            cfg.raft_id,
            &cfg.raft_settings,
            network,
            cfg.data_key.clone(),
        )
        .await?;
        let election_max = store::consensus::raft_config(&cfg.raft_settings)?.election_timeout_max;
        let inner = Arc::new(Inner {
            node_id: cfg.node_id.clone(),
            cluster_id: cfg.cluster_id.clone(),
            advertise_addr: cfg.advertise_addr.clone(),
            consensus,
            pool,
            clock,
            rng: Mutex::new(rng),
            liveness: Liveness::default(),
            router: Arc::default(),
            logs: Arc::default(),
            statuses: Mutex::new(None),
            server: Mutex::new(None),
            shutdown: CancellationToken::new(),
            leader_wait: Duration::from_millis(election_max * 2 + 500),
            election_timeout: Duration::from_millis(election_max),
            leader_contact: crate::read_index::LeaderContact::new(Instant::now()),
        });
        let manager = Manager { inner: inner.clone() };
        manager.serve(listener, server_tls);
        if let Err(e) = manager.come_up(&cfg, start).await {
            // Free the port and stop Raft, so the caller can retry or give up cleanly.
            manager.stop().await;
            return Err(e);
        }
        manager.run_loops();
        Ok(manager)
    }

    /// Brings the replica into its group as `start` says.
    async fn come_up(&self, cfg: &ManagerConfig, start: Start) -> Result<()> {
        match start {
            Start::Bootstrap {
                cluster,
                mut node,
                unlock_key,
            } => {
                let me = Peer {
                    addr: cfg.advertise_addr.clone(),
                    node_id: cfg.node_id.clone(),
                };
                self.inner.consensus.bootstrap(me).await?;
                self.inner
                    .consensus
                    .wait_for(|m| m.current_leader == Some(m.id))
                    .await?;
                node.manager_status = Some(ManagerStatus {
                    raft_id: cfg.raft_id,
                    addr: cfg.advertise_addr.clone(),
                });
                let mut ops = vec![
                    Op::Create(Object::Cluster(*cluster)),
                    Op::Create(Object::Node(*node)),
                ];
                if unlock_key.is_some() {
                    ops.push(Op::SetUnlockKey(unlock_key));
                }
                self.inner.propose(ops).await?;
            }
            Start::Join { remotes } => self.join(&remotes, cfg.raft_id).await?,
            Start::Restore {
                mut objects,
                unlock_key,
            } => {
                let me = Peer {
                    addr: cfg.advertise_addr.clone(),
                    node_id: cfg.node_id.clone(),
                };
                self.inner.consensus.bootstrap(me).await?;
                self.inner
                    .consensus
                    .wait_for(|m| m.current_leader == Some(m.id))
                    .await?;
                for object in &mut objects {
                    if let Object::Node(n) = object
                        && n.id == cfg.node_id
                    {
                        n.manager_status = Some(ManagerStatus {
                            raft_id: cfg.raft_id,
                            addr: cfg.advertise_addr.clone(),
                        });
                    }
                }
                // Clusters, nodes and services before the tasks that refer to them.
                objects.sort_by_key(|o| match o {
                    Object::Cluster(_) => 0,
                    Object::Node(_) => 1,
                    Object::Service(_) => 2,
                    Object::Task(_) => 3,
                });
                // The key goes with the first chunk, which holds the cluster object.
                let mut key = unlock_key.map(|k| Op::SetUnlockKey(Some(k)));
                for chunk in objects.chunks(5_000) {
                    let mut ops: Vec<Op> = chunk.iter().cloned().map(Op::Create).collect();
                    ops.extend(key.take());
                    self.inner.propose(ops).await?;
                }
            }
            Start::Resume => {}
        }
        Ok(())
    }

    async fn join(&self, remotes: &[String], raft_id: u64) -> Result<()> {
        let req = JoinRaftRequest {
            node_id: self.inner.node_id.clone(),
            raft_id,
            addr: self.inner.advertise_addr.clone(),
        };
        let mut last = Error::Unavailable("no manager to join through".into());
        for _attempt in 0..20 {
            for addr in remotes {
                let mut client = match self.inner.pool.control(addr) {
                    Ok(c) => c,
                    Err(e) => {
                        last = e.into();
                        continue;
                    }
                };
                match client.join_raft(encode(&req)).await {
                    Ok(_) => return Ok(()),
                    Err(status) => {
                        last = status.into();
                        if !matches!(last, Error::Unavailable(_)) {
                            return Err(last);
                        }
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        Err(last)
    }

    fn serve(&self, listener: TcpListener, tls: Arc<ArcSwap<ServerConfig>>) {
        use rpc::pb::{
            ca_server::CaServer, control_server::ControlServer, dispatcher_server::DispatcherServer,
            raft_server::RaftServer,
        };
        const MAX: usize = 64 << 20;
        let inner = self.inner.clone();
        let router = tonic::transport::Server::builder()
            .http2_keepalive_interval(Some(Duration::from_secs(2)))
            .http2_keepalive_timeout(Some(Duration::from_secs(4)))
            .add_service(
                RaftServer::new(RaftService::new(inner.clone()))
                    .max_decoding_message_size(MAX)
                    .max_encoding_message_size(MAX),
            )
            .add_service(CaServer::new(CaService(inner.clone())))
            .add_service(ControlServer::new(ControlService(inner.clone())).max_decoding_message_size(MAX))
            .add_service(DispatcherServer::new(DispatcherService(inner.clone())));
        let handle = rpc::serve(listener, tls, router, inner.shutdown.clone());
        *inner.server.lock().unwrap_or_else(|e| e.into_inner()) = Some(handle);
    }

    /// Starts the background loops: snapshots on every replica, the rest on the leader only.
    fn run_loops(&self) {
        tokio::spawn(self.inner.clone().watch_leader());
        let inner = self.inner.clone();
        tokio::spawn(async move {
            let mut leading: Option<CancellationToken> = None;
            let mut tick = tokio::time::interval(Duration::from_millis(200));
            loop {
                tokio::select! {
                    _ = inner.shutdown.cancelled() => break,
                    _ = tick.tick() => {}
                }
                let interval = inner
                    .consensus
                    .store()
                    .view()
                    .cluster()
                    .map(|c| c.spec.raft.snapshot_interval)
                    .unwrap_or(10_000);
                if let Err(e) = inner.consensus.snapshot_if_due(interval).await {
                    tracing::warn!("snapshot: {e}");
                }
                match (inner.consensus.is_leader(), &leading) {
                    (true, None) => {
                        tracing::info!(node = %inner.node_id, "became leader");
                        let token = inner.shutdown.child_token();
                        inner.liveness.reset(Instant::now());
                        tokio::spawn(crate::control_loop::run(inner.clone(), token.clone()));
                        tokio::spawn(
                            inner
                                .router
                                .clone()
                                .run(inner.consensus.store().clone(), token.clone()),
                        );
                        *inner.statuses.lock().unwrap_or_else(|e| e.into_inner()) = Some(
                            crate::status_batcher::StatusBatcher::start(inner.clone(), token.clone()),
                        );
                        leading = Some(token);
                    }
                    (false, Some(token)) => {
                        tracing::info!(node = %inner.node_id, "lost leadership");
                        token.cancel();
                        leading = None;
                    }
                    _ => {}
                }
            }
            if let Some(token) = leading {
                token.cancel();
            }
        });
    }

    /// The store this manager reads from.
    pub fn store(&self) -> &Store {
        self.inner.consensus.store()
    }

    /// The current state.
    pub fn view(&self) -> Arc<State> {
        self.store().view()
    }

    /// The Raft replica.
    pub fn consensus(&self) -> &Consensus {
        &self.inner.consensus
    }

    /// The current state, after catching up with the leader (see `Inner::sync_read`).
    pub async fn synced_view(&self) -> Arc<State> {
        self.inner.sync_read().await;
        self.view()
    }

    /// Commits `ops` (forwarding to the leader if needed).
    pub async fn propose(&self, ops: Vec<Op>) -> Result<u64> {
        self.inner.propose(ops).await
    }

    /// A new random ID from the manager's seeded source.
    pub fn new_id(&self) -> String {
        self.inner.new_id()
    }

    /// Random bytes from the manager's seeded source (tokens).
    pub fn with_rng<T>(&self, f: impl FnOnce(&mut dyn RngCore) -> T) -> T {
        let mut rng = self.inner.rng.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut *rng)
    }

    /// Node ID of the current leader, if one is known.
    pub fn leader_node_id(&self) -> Option<String> {
        self.inner.consensus.leader().map(|(_, p)| p.node_id)
    }

    /// True while this replica leads.
    pub fn is_leader(&self) -> bool {
        self.inner.consensus.is_leader()
    }

    /// Reachability of a manager node: reachable while its heartbeats keep it ready and,
    /// as far as this replica can tell, its Raft replica answers (see health.rs).
    pub fn reachability(&self, node: &Node) -> Reachability {
        let by_status = match node.status.state {
            types::NodeState::Ready => Reachability::Reachable,
            types::NodeState::Unknown => Reachability::Unknown,
            _ => Reachability::Unreachable,
        };
        let Some(raft_id) = node.manager_status.as_ref().map(|s| s.raft_id) else {
            return by_status;
        };
        if raft_id == self.inner.consensus.id() {
            // Ourselves: unreachable for Raft once our replica stopped.
            return match self.health() {
                crate::health::Health::Stopped(_) => Reachability::Unreachable,
                _ => by_status,
            };
        }
        let metrics = self.inner.consensus.metrics();
        let heartbeat = match metrics.heartbeat {
            // Leading: when each member last acknowledged our heartbeats.
            Some(acks) => {
                use openraft::Instant as _;
                Some(acks.get(&raft_id).cloned().flatten().map(|at| at.elapsed()))
            }
            // Following: how long the leader has not answered us; other members we cannot judge.
            None if metrics.current_leader == Some(raft_id) => Some(self.inner.leader_silence()),
            None => None,
        };
        crate::health::manager_reachability(by_status, heartbeat, self.inner.election_timeout)
    }

    /// Whether the local replica works (its Raft stops for good on a storage failure).
    pub fn health(&self) -> crate::health::Health {
        let running = self
            .inner
            .consensus
            .metrics()
            .running_state
            .map_err(|e| e.to_string());
        crate::health::Health::assess(
            running,
            self.inner.shutdown.is_cancelled(),
            self.inner.leader_silence(),
            self.inner.election_timeout,
        )
    }

    /// Raft voters by member ID.
    pub fn voters(&self) -> BTreeMap<u64, Peer> {
        self.inner.consensus.voters()
    }

    /// Log lines of `tasks_by_node` through the leader's broker (forwarded from a follower).
    /// The receiver ends when every node finished (or, following, when dropped).
    pub async fn logs(
        &self,
        tasks_by_node: Vec<(String, Vec<String>)>,
        options: rpc::messages::LogSelection,
    ) -> Result<tokio::sync::mpsc::Receiver<rpc::messages::LogBatch>> {
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        if self.inner.consensus.is_leader() {
            let view = self.view();
            let reachable = |n: &str| {
                view.node(n)
                    .is_some_and(|n| n.status.state == types::NodeState::Ready)
            };
            let mut sub = self.inner.logs.subscribe(tasks_by_node, options, reachable);
            tokio::spawn(async move {
                while let Some(batch) = sub.recv().await {
                    if tx.send(batch).await.is_err() {
                        return;
                    }
                }
            });
            return Ok(rx);
        }
        let (_, leader) = self
            .inner
            .consensus
            .leader()
            .ok_or_else(|| Error::Unavailable(store::Error::NoLeader.to_string()))?;
        let request = rpc::messages::LogRequest {
            tasks_by_node,
            options,
        };
        let mut stream = self
            .inner
            .pool
            .control(&leader.addr)?
            .subscribe_logs(encode(&request))
            .await
            .map_err(Error::from)?
            .into_inner();
        tokio::spawn(async move {
            while let Ok(Some(msg)) = stream.message().await {
                let Ok(batch) = decode::<rpc::messages::LogBatch>(&msg) else {
                    return;
                };
                if tx.send(batch).await.is_err() {
                    return;
                }
            }
        });
        Ok(rx)
    }

    /// A token cancelled when this manager stops (for loops that live beside it).
    pub fn stopping(&self) -> CancellationToken {
        self.inner.shutdown.child_token()
    }

    /// Stops serving and shuts the replica down.
    pub async fn stop(&self) {
        self.inner.shutdown.cancel();
        let server = self.inner.server.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(server) = server {
            server.stop().await;
        }
        self.inner.consensus.shutdown().await;
    }
}
