//! The manager runtime: one Raft replica, the cluster-port services, and the loops that run
//! only while this replica leads.
//!
//! ```text
//!            ┌──────────── cluster port (mTLS gRPC) ─────────────┐
//!            │ grpc/{raft,ca,control} · dispatcher/session       │
//!            └───────────────┬───────────────────────────────────┘
//!   API ── Proposer ──► Consensus ──► Store ──► watch ──► leader loops
//!                 │  (follower: forward to leader)       (leadership.rs starts them)
//! ```
//! This file only assembles: it opens the replica, hands each service and worker the
//! handles it needs, and exposes the manager to the daemon.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use rand::RngCore;
use rand::rngs::StdRng;
use rpc::Pool;
use rpc::messages::JoinRaftRequest;
use rustls::ServerConfig;
use store::consensus::{Consensus, Peer};
use store::{Op, State, Store, Txn};
use tokio::net::TcpListener;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use types::cluster::RaftSettings;
use types::{Clock, Cluster, ManagerStatus, Node, Object, Reachability};

use crate::Result;
use crate::control_loop::ControlLoop;
use crate::dispatcher::assignments::Router;
use crate::dispatcher::liveness::Liveness;
use crate::dispatcher::session::DispatcherService;
use crate::dispatcher::status_batcher::{CurrentBatcher, StatusBatcher};
use crate::error::from_store;
use crate::grpc::{Gate, ca::CaService, control::ControlService, raft::RaftService};
use crate::ids::Ids;
use crate::leadership::RaftLeadership;
use crate::log_route::LogRoute;
use crate::logbroker::LogBroker;
use crate::membership::Membership;
use crate::propose::Proposer;
use crate::raft_net::RaftNetwork;
use crate::read_index::Reads;
use crate::vouch::Vouches;
use crate::workers::{WorkerStatus, Workers};

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
    /// How often, while this manager leads, nodes renew their tunnel key pairs (encrypted
    /// overlays; zero: never).
    pub tunnel_key_rotation: Duration,
    /// The largest snapshot another manager may send this replica
    /// ([`crate::grpc::raft::DEFAULT_MAX_SNAPSHOT_BYTES`] unless a test wants less).
    pub max_snapshot_bytes: u64,
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
        /// The external CAs the old replica held (a root whose key is outside still signs).
        external_cas: Vec<types::ExternalCa>,
    },
}

/// The handles a running manager is made of. Each service and loop gets clones of only the
/// handles it needs (see `serve` and `run_workers`); this struct is the one place that holds
/// them all, for the public API below, and nothing else in the crate sees it.
struct Parts {
    node_id: String,
    advertise_addr: String,
    consensus: Consensus,
    pool: Pool,
    clock: Arc<dyn Clock>,
    ids: Arc<Ids>,
    proposer: Proposer,
    reads: Reads,
    membership: Membership,
    liveness: Arc<Liveness>,
    router: Arc<Router>,
    logs: Arc<LogBroker>,
    log_route: LogRoute,
    batcher: CurrentBatcher,
    workers: Workers,
    server: Mutex<Option<rpc::ServerHandle>>,
    shutdown: CancellationToken,
    /// The longest election timeout: how long a silent Raft peer may still count as reachable.
    election_timeout: Duration,
}

/// A running manager.
#[derive(Clone)]
pub struct Manager {
    parts: Arc<Parts>,
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
        .await
        .map_err(from_store)?;
        let election_max = store::consensus::raft_config(&cfg.raft_settings)
            .map_err(from_store)?
            .election_timeout_max;
        let election_timeout = Duration::from_millis(election_max);
        let shutdown = CancellationToken::new();
        let ids = Arc::new(Ids::new(rng));
        let proposer = Proposer::new(
            consensus.clone(),
            pool.clone(),
            clock.clone(),
            ids.clone(),
            // About two election timeouts: a write waits out one election.
            Duration::from_millis(election_max * 2 + 500),
            shutdown.clone(),
        );
        let logs = Arc::new(LogBroker::default());
        let parts = Arc::new(Parts {
            node_id: cfg.node_id.clone(),
            advertise_addr: cfg.advertise_addr.clone(),
            reads: Reads::new(consensus.clone(), pool.clone(), election_timeout),
            membership: Membership::new(consensus.clone(), pool.clone(), proposer.clone()),
            log_route: LogRoute::new(consensus.clone(), pool.clone(), logs.clone()),
            consensus,
            pool,
            clock,
            ids,
            proposer,
            liveness: Arc::default(),
            router: Arc::new(Router::with_key_rotation(cfg.tunnel_key_rotation)),
            logs,
            batcher: CurrentBatcher::default(),
            workers: Workers::default(),
            server: Mutex::new(None),
            shutdown,
            election_timeout,
        });
        let manager = Manager { parts };
        manager.serve(&cfg, listener, server_tls);
        if let Err(e) = manager.come_up(&cfg, start).await {
            // Free the port and stop Raft, so the caller can retry or give up cleanly.
            manager.stop().await;
            return Err(e);
        }
        manager.run_workers();
        Ok(manager)
    }

    /// Brings the replica into its group as `start` says.
    async fn come_up(&self, cfg: &ManagerConfig, start: Start) -> Result<()> {
        let p = &self.parts;
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
                p.consensus.bootstrap(me).await.map_err(from_store)?;
                p.consensus
                    .wait_for(|m| m.current_leader == Some(m.id))
                    .await
                    .map_err(from_store)?;
                node.manager_status = Some(ManagerStatus {
                    raft_id: cfg.raft_id,
                    addr: cfg.advertise_addr.clone(),
                });
                let mut ops = vec![
                    Op::Create(Object::Cluster((*cluster).clone())),
                    Op::Create(Object::Node(*node)),
                ];
                // Swarm's predefined `ingress` network, carved from the cluster's pools.
                let seed = Txn {
                    id: 0,
                    ops: vec![Op::Create(Object::Cluster(*cluster))],
                    now: Default::default(),
                };
                let seeded = State::default()
                    .apply(&seed, 1)
                    .map_err(|e| crate::Error::Internal(format!("seeding the ingress network: {e}")))?
                    .0;
                let (ingress, _) = rules::controlapi::network::ingress(&seeded, p.ids.new_id())?;
                ops.push(ingress);
                if unlock_key.is_some() {
                    ops.push(Op::SetUnlockKey(unlock_key));
                }
                p.proposer.propose(ops).await?;
            }
            Start::Join { remotes } => {
                let req = JoinRaftRequest {
                    node_id: p.node_id.clone(),
                    raft_id: cfg.raft_id,
                    addr: p.advertise_addr.clone(),
                };
                p.membership.join(&remotes, &req).await?;
            }
            Start::Restore {
                mut objects,
                unlock_key,
                external_cas,
            } => {
                let me = Peer {
                    addr: cfg.advertise_addr.clone(),
                    node_id: cfg.node_id.clone(),
                };
                p.consensus.bootstrap(me).await.map_err(from_store)?;
                p.consensus
                    .wait_for(|m| m.current_leader == Some(m.id))
                    .await
                    .map_err(from_store)?;
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
                // Clusters, nodes, networks and services before the tasks that refer to them.
                objects.sort_by_key(|o| match o {
                    Object::Cluster(_) => 0,
                    Object::Node(_) | Object::Network(_) => 1,
                    // Before the services that reference them.
                    Object::Secret(_) | Object::Config(_) => 1,
                    Object::Service(_) => 2,
                    Object::Task(_) => 3,
                });
                // The key goes with the first chunk, which holds the cluster object.
                let mut key = unlock_key.map(|k| Op::SetUnlockKey(Some(k)));
                let mut cas = (!external_cas.is_empty()).then_some(Op::SetExternalCas(external_cas));
                for chunk in objects.chunks(5_000) {
                    let mut ops: Vec<Op> = chunk.iter().cloned().map(Op::Create).collect();
                    ops.extend(key.take());
                    ops.extend(cas.take());
                    p.proposer.propose(ops).await?;
                }
            }
            Start::Resume => {}
        }
        Ok(())
    }

    /// Serves the cluster port: each service gets the handles it answers with.
    fn serve(&self, cfg: &ManagerConfig, listener: TcpListener, tls: Arc<ArcSwap<ServerConfig>>) {
        use rpc::pb::{
            ca_server::CaServer, control_server::ControlServer, dispatcher_server::DispatcherServer,
            raft_server::RaftServer,
        };
        // Raft and control messages carry log entries and whole objects (the callers' limit
        // too, `rpc::client`); snapshots come in 1 MiB chunks of a stream whose total
        // `RaftService` bounds.
        const MAX: usize = 64 << 20;
        // Workers' messages: a log batch is up to 256 lines of up to 16 KiB (over tonic's
        // default 4 MiB), a status batch a node's every task after a leader change.
        const DISPATCHER_MAX: usize = 16 << 20;
        // Certificate requests and renewals: a CSR and a token.
        const CA_MAX: usize = 1 << 20;
        let p = &self.parts;
        let gate = Gate::new(cfg.cluster_id.clone(), p.consensus.clone());
        let raft = RaftService::new(
            gate.clone(),
            p.consensus.clone(),
            Vouches::new(p.consensus.clone(), p.pool.clone(), p.node_id.clone()),
            cfg.max_snapshot_bytes,
        );
        let ca = CaService::new(
            gate.clone(),
            p.consensus.store().clone(),
            p.clock.clone(),
            p.ids.clone(),
            p.proposer.clone(),
            p.pool.clone(),
        );
        let control = ControlService::new(
            gate.clone(),
            p.consensus.clone(),
            p.logs.clone(),
            p.membership.clone(),
        );
        let dispatcher = DispatcherService::new(
            gate,
            p.consensus.clone(),
            p.proposer.clone(),
            p.liveness.clone(),
            p.router.clone(),
            p.logs.clone(),
            p.batcher.clone(),
        );
        let router = tonic::transport::Server::builder()
            .http2_keepalive_interval(Some(Duration::from_secs(2)))
            .http2_keepalive_timeout(Some(Duration::from_secs(4)))
            .add_service(
                RaftServer::new(raft)
                    .max_decoding_message_size(MAX)
                    .max_encoding_message_size(MAX),
            )
            .add_service(CaServer::new(ca).max_decoding_message_size(CA_MAX))
            .add_service(ControlServer::new(control).max_decoding_message_size(MAX))
            .add_service(DispatcherServer::new(dispatcher).max_decoding_message_size(DISPATCHER_MAX));
        let handle = rpc::serve(listener, tls, router, p.shutdown.clone());
        *p.server.lock().unwrap_or_else(|e| e.into_inner()) = Some(handle);
    }

    /// Starts the background workers: the leader probe and snapshots on every replica, and
    /// the leadership supervisor, which runs the leader's loops for each term.
    fn run_workers(&self) {
        let p = &self.parts;
        tokio::spawn(
            p.reads
                .clone()
                .probe_leader(p.workers.register("leader-probe"), p.shutdown.clone()),
        );
        tokio::spawn(crate::snapshots::run(
            p.consensus.clone(),
            p.workers.register("snapshots"),
            p.shutdown.clone(),
        ));
        let control = ControlLoop {
            node_id: p.node_id.clone(),
            consensus: p.consensus.clone(),
            proposer: p.proposer.clone(),
            membership: p.membership.clone(),
            liveness: p.liveness.clone(),
            logs: p.logs.clone(),
            ids: p.ids.clone(),
            clock: p.clock.clone(),
        };
        let node_id = p.node_id.clone();
        let store = p.consensus.store().clone();
        let router = p.router.clone();
        let proposer = p.proposer.clone();
        let liveness = p.liveness.clone();
        let batcher = p.batcher.clone();
        let workers = p.workers.clone();
        let start_term = move |token: CancellationToken| {
            tracing::info!(node = %node_id, "became leader");
            liveness.reset(Instant::now());
            tokio::spawn(crate::control_loop::run(
                control.clone(),
                workers.register("control-loop"),
                token.clone(),
            ));
            tokio::spawn(router.clone().run(
                store.clone(),
                workers.register("assignment-router"),
                token.clone(),
            ));
            let statuses = StatusBatcher::start(
                proposer.clone(),
                workers.register("status-batcher"),
                token.clone(),
            );
            batcher.set(statuses.clone());
            let (node_id, batcher) = (node_id.clone(), batcher.clone());
            tokio::spawn(async move {
                token.cancelled().await;
                // Only this term's batcher: a quick re-election may have installed the next.
                batcher.clear(&statuses);
                tracing::info!(node = %node_id, "lost leadership");
            });
        };
        tokio::spawn(crate::leadership::supervise(
            RaftLeadership::new(&p.consensus),
            p.shutdown.clone(),
            p.workers.register("leadership"),
            start_term,
        ));
    }

    /// The background workers and their state, by name.
    pub fn workers(&self) -> Vec<WorkerStatus> {
        self.parts.workers.list()
    }

    /// The store this manager reads from.
    pub fn store(&self) -> &Store {
        self.parts.consensus.store()
    }

    /// The current state.
    pub fn view(&self) -> Arc<State> {
        self.store().view()
    }

    /// The Raft replica.
    pub fn consensus(&self) -> &Consensus {
        &self.parts.consensus
    }

    /// The node certificate this manager presents on its connections (to external CAs too).
    pub fn client_certificate(&self) -> Arc<dyn rustls::client::ResolvesClientCert> {
        self.parts.pool.client_certificate()
    }

    /// The current state, after catching up with the leader (see `Reads::sync_read`). A
    /// replica whose Raft stopped cannot catch up: it reads the leader's state instead, and
    /// its own (frozen, possibly far behind) only when no leader answers.
    pub async fn synced_view(&self) -> Arc<State> {
        if matches!(self.health(), crate::health::Health::Stopped(_)) {
            let local = self.view();
            return match self.parts.reads.leader_state().await {
                Some(copy) if copy.index >= local.index => copy,
                _ => local,
            };
        }
        self.parts.reads.sync_read().await;
        self.view()
    }

    /// Commits `ops` (forwarding to the leader if needed).
    pub async fn propose(&self, ops: Vec<Op>) -> Result<u64> {
        self.parts.proposer.propose(ops).await
    }

    /// A new random ID from the manager's seeded source.
    pub fn new_id(&self) -> String {
        self.parts.ids.new_id()
    }

    /// Random bytes from the manager's seeded source (tokens).
    pub fn with_rng<T>(&self, f: impl FnOnce(&mut dyn RngCore) -> T) -> T {
        self.parts.ids.with_rng(f)
    }

    /// Node ID of the current leader, if one is known.
    pub fn leader_node_id(&self) -> Option<String> {
        self.parts.consensus.leader().map(|(_, p)| p.node_id)
    }

    /// True while this replica leads.
    pub fn is_leader(&self) -> bool {
        self.parts.consensus.is_leader()
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
        if raft_id == self.parts.consensus.id() {
            // Ourselves: unreachable for Raft once our replica stopped.
            return match self.health() {
                crate::health::Health::Stopped(_) => Reachability::Unreachable,
                _ => by_status,
            };
        }
        let metrics = self.parts.consensus.metrics();
        let heartbeat = match metrics.heartbeat {
            // Leading: when each member last acknowledged our heartbeats.
            Some(acks) => {
                use openraft::Instant as _;
                Some(acks.get(&raft_id).cloned().flatten().map(|at| at.elapsed()))
            }
            // Following: how long the leader has not answered us; other members we cannot judge.
            None if metrics.current_leader == Some(raft_id) => Some(self.parts.reads.leader_silence()),
            None => None,
        };
        crate::health::manager_reachability(by_status, heartbeat, self.parts.election_timeout)
    }

    /// Whether the local replica works (its Raft stops for good on a storage failure).
    pub fn health(&self) -> crate::health::Health {
        let running = self
            .parts
            .consensus
            .metrics()
            .running_state
            .map_err(|e| e.to_string());
        crate::health::Health::assess(
            running,
            self.parts.shutdown.is_cancelled(),
            self.parts.reads.leader_silence(),
            self.parts.election_timeout,
        )
    }

    /// Raft voters by member ID.
    pub fn voters(&self) -> BTreeMap<u64, Peer> {
        self.parts.consensus.voters()
    }

    /// Log lines of `tasks_by_node` through the leader's broker (forwarded from a follower).
    /// The receiver ends when every node finished (or, following, when dropped).
    pub async fn logs(
        &self,
        tasks_by_node: Vec<(String, Vec<String>)>,
        options: rpc::messages::LogSelection,
    ) -> Result<tokio::sync::mpsc::Receiver<rpc::messages::LogBatch>> {
        self.parts.log_route.subscribe(tasks_by_node, options).await
    }

    /// A token cancelled when this manager stops (for loops that live beside it).
    pub fn stopping(&self) -> CancellationToken {
        self.parts.shutdown.child_token()
    }

    /// Stops serving and shuts the replica down.
    pub async fn stop(&self) {
        self.parts.shutdown.cancel();
        let server = self.parts.server.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(server) = server {
            server.stop().await;
        }
        self.parts.consensus.shutdown().await;
    }
}
