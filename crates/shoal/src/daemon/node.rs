//! A node that is in a swarm: its certificates, RPC pool, agent session and (on managers)
//! the manager runtime; and the role changes the cluster asks of it.
//!
//! ```text
//! agent event: desired role ≠ certificate role
//!   └► renew certificate ─► swap TLS ─► manager: bind port, start replica, JoinRaft
//!                                       worker:  stop replica, delete Raft data
//! ```

use std::sync::{Arc, Mutex};

use agent::{Agent, AgentEvent, TaskLink, Tasks};
use anyhow::Context;
use arc_swap::ArcSwap;
use manager::{Manager, ManagerConfig, Start};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rpc::Pool;
use rpc::calls::RenewNodeCertificate;
use rpc::messages::RenewRequest;
use rustls::ServerConfig;
use tokio::sync::{RwLock, mpsc};
use tokio_util::sync::CancellationToken;
use types::cluster::RaftSettings;
use types::{Clock, NodeDescription, Role};

use super::datadir::{Certs, DataDir, SwarmState};
use super::node_certs::NodeCerts;

/// A node in a swarm.
pub struct RunningNode {
    dir: DataDir,
    state: Mutex<SwarmState>,
    certs: Arc<NodeCerts>,
    pool: Pool,
    server_tls: Arc<ArcSwap<ServerConfig>>,
    manager: RwLock<Option<Manager>>,
    agent: Mutex<Option<Agent>>,
    tasks: Arc<dyn Tasks>,
    statuses: Mutex<Option<mpsc::UnboundedReceiver<agent::runner::StatusUpdate>>>,
    description: NodeDescription,
    clock: Arc<dyn Clock>,
    shutdown: CancellationToken,
    removed: Mutex<Option<String>>,
    /// Set once the agent's session is up: the leader has written this node's description and
    /// status by then, so the node object no longer changes on its own.
    registered: tokio::sync::watch::Sender<bool>,
    /// The daemon's event bus (swarm events while this node is a manager).
    events: Arc<super::events::EventBus>,
}

/// How a manager's replica comes up, and its cluster port when the caller bound it already
/// (a join binds before it registers with the cluster, so a port in use leaves no node behind).
pub struct ManagerStart {
    pub start: Start,
    pub listener: Option<tokio::net::TcpListener>,
}

impl From<Start> for ManagerStart {
    fn from(start: Start) -> Self {
        ManagerStart {
            start,
            listener: None,
        }
    }
}

fn tls_configs(certs: &Certs) -> anyhow::Result<(Arc<rustls::ClientConfig>, Arc<ServerConfig>)> {
    Ok((
        ca::tls::client_config(&certs.cert_pem, &certs.key_pem, &certs.ca_pem)?,
        ca::tls::server_config(&certs.cert_pem, &certs.key_pem, &certs.ca_pem)?,
    ))
}

impl RunningNode {
    /// Brings a node up: TLS from `certs`, the manager when the certificate says manager
    /// (`start` tells how its replica comes up), the executor's worker (re-attaching to tasks
    /// a previous agent left running), then the agent session.
    // Each is a separate input of a node's start (the event bus is the daemon's, shared by
    // every node it runs in turn); a struct around them would only rename the list.
    #[allow(clippy::too_many_arguments)]
    pub async fn start(
        dir: DataDir,
        state: SwarmState,
        certs: Certs,
        start: Option<ManagerStart>,
        description: NodeDescription,
        clock: Arc<dyn Clock>,
        executor: &super::ExecutorChoice,
        events: &Arc<super::events::EventBus>,
    ) -> anyhow::Result<Arc<RunningNode>> {
        let (client_tls, server_tls) = tls_configs(&certs)?;
        let (tasks, statuses, description) = executor
            .worker(
                &dir,
                &state.node_id,
                &state.advertise_addr,
                clock.clone(),
                description,
                events,
            )
            .await?;
        let node = Arc::new(RunningNode {
            certs: NodeCerts::new(dir.clone(), certs),
            dir,
            pool: Pool::new(client_tls),
            server_tls: Arc::new(ArcSwap::new(server_tls)),
            state: Mutex::new(state.clone()),
            manager: RwLock::new(None),
            agent: Mutex::new(None),
            tasks,
            statuses: Mutex::new(Some(statuses)),
            description,
            clock,
            shutdown: CancellationToken::new(),
            removed: Mutex::new(None),
            registered: tokio::sync::watch::Sender::new(false),
            events: events.clone(),
        });
        if state.role == Role::Manager {
            let ManagerStart { mut start, listener } = start.unwrap_or(Start::Resume.into());
            // The first node object carries the executor's engine facts, so the agent's
            // session finds nothing to rewrite (init answers with the node's final version).
            if let Start::Bootstrap { node: first, .. } = &mut start {
                first.description = node.description.clone();
            }
            node.start_manager(start, RaftSettings::default(), listener)
                .await?;
        }
        node.start_agent();
        tokio::spawn(super::storage_watch::run(node.clone()));
        Ok(node)
    }

    /// The node's task side (the worker over its executor).
    pub fn tasks(&self) -> &Arc<dyn Tasks> {
        &self.tasks
    }

    /// Cancelled when the node stops.
    pub fn shutdown_token(&self) -> &CancellationToken {
        &self.shutdown
    }

    /// Directory of the manager's Raft replica.
    pub fn raft_dir(&self) -> std::path::PathBuf {
        self.dir.raft_dir()
    }

    /// Stops the manager runtime and starts it again over the same replica (after its
    /// storage recovered). The port and the replica's files are released before re-opening.
    pub async fn restart_manager(&self) -> anyhow::Result<()> {
        let mut slot = self.manager.write().await;
        // Stopping, or demoted meanwhile: nothing to re-open.
        if self.shutdown.is_cancelled() || self.state().role != Role::Manager {
            return Ok(());
        }
        if let Some(m) = slot.take() {
            m.stop().await;
        }
        drop(slot);
        self.start_manager(Start::Resume, RaftSettings::default(), None)
            .await
    }

    /// The persisted membership as it is now.
    pub fn state(&self) -> SwarmState {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The node's certificate material and key file.
    pub fn certs(&self) -> &Arc<NodeCerts> {
        &self.certs
    }

    /// The manager runtime, while this node is one.
    pub async fn manager(&self) -> Option<Manager> {
        self.manager.read().await.clone()
    }

    /// Calls to the leader beside the agent's session, while the agent runs.
    pub fn leader_link(&self) -> Option<agent::LeaderLink> {
        self.agent
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(agent::Agent::leader_link)
    }

    /// The manager runtime without waiting (status reads); `None` while it is being swapped.
    pub fn try_manager(&self) -> Option<Manager> {
        self.manager.try_read().ok().and_then(|m| m.clone())
    }

    /// Waits until the agent's first session is up (the node object is final), at most
    /// `limit`; false when it did not come up in time.
    pub async fn wait_registered(&self, limit: std::time::Duration) -> bool {
        let mut rx = self.registered.subscribe();
        tokio::time::timeout(limit, rx.wait_for(|up| *up))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Set when the cluster removed this node.
    pub fn removed(&self) -> Option<String> {
        self.removed.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    async fn start_manager(
        &self,
        start: Start,
        settings: RaftSettings,
        listener: Option<tokio::net::TcpListener>,
    ) -> anyhow::Result<()> {
        let state = self.state();
        let raft_id = state.raft_id.context("manager state without a raft ID")?;
        let listener = match listener {
            Some(l) => l,
            None => bind_cluster_port(&state.listen_addr).await?,
        };
        let cfg = ManagerConfig {
            node_id: state.node_id.clone(),
            cluster_id: state.cluster_id.clone(),
            raft_id,
            advertise_addr: state.advertise_addr.clone(),
            raft_dir: self.dir.raft_dir(),
            raft_settings: settings,
            data_key: self.certs.get().data_key,
            tunnel_key_rotation: tunnel_key_rotation(),
            max_snapshot_bytes: manager::grpc::raft::DEFAULT_MAX_SNAPSHOT_BYTES,
        };
        let m = Manager::start(
            cfg,
            start,
            listener,
            self.server_tls.clone(),
            self.pool.clone(),
            self.clock.clone(),
            StdRng::from_os_rng(),
        )
        .await?;
        tokio::spawn(super::autolock::follow(m.clone(), self.certs.clone()));
        tokio::spawn(super::swarm_events::follow(m.clone(), self.events.clone()));
        *self.manager.write().await = Some(m);
        Ok(())
    }

    fn start_agent(self: &Arc<Self>) {
        let (tx, mut rx) = mpsc::channel(16);
        let mut managers = self.state().remote_managers;
        let advertise = self.state().advertise_addr;
        if self.state().role == Role::Manager && !managers.contains(&advertise) {
            managers.insert(0, advertise);
        }
        let worker = self
            .statuses
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .map(|statuses| TaskLink {
                tasks: self.tasks.clone(),
                statuses,
            });
        let agent = Agent::start(self.pool.clone(), managers, self.description.clone(), tx, worker);
        *self.agent.lock().unwrap_or_else(|e| e.into_inner()) = Some(agent);
        let node = self.clone();
        tokio::spawn(async move {
            loop {
                let event = tokio::select! {
                    _ = node.shutdown.cancelled() => return,
                    e = rx.recv() => match e { Some(e) => e, None => return },
                };
                node.on_event(event).await;
            }
        });
    }

    async fn on_event(&self, event: AgentEvent) {
        match event {
            AgentEvent::Session(msg) => {
                let changed = {
                    let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
                    let changed = state.remote_managers != msg.managers && !msg.managers.is_empty();
                    if changed {
                        state.remote_managers = msg.managers.clone();
                    }
                    changed.then(|| state.clone())
                };
                if let Some(state) = changed
                    && let Err(e) = self.dir.save_state(&state)
                {
                    tracing::warn!("saving state: {e:#}");
                }
                let held = ca::PeerIdentity::from_pem(&self.certs.get().cert_pem)
                    .ok()
                    .map(|identity| identity.role);
                if needs_role_change(msg.desired_role, self.state().role, held) {
                    if let Err(e) = self.change_role(msg.desired_role, &msg.managers).await {
                        tracing::warn!("changing role to {}: {e:#}", msg.desired_role.as_str());
                    }
                } else if let Err(e) = self.follow_root_ca(&msg).await {
                    // The next session message asks again.
                    tracing::warn!("root CA rotation: {e:#}");
                }
            }
            AgentEvent::Removed(reason) => {
                tracing::warn!("{reason}");
                *self.removed.lock().unwrap_or_else(|e| e.into_inner()) = Some(reason);
            }
            AgentEvent::Connected => {
                tracing::debug!("session up");
                self.registered.send_replace(true);
            }
            AgentEvent::Disconnected(why) => tracing::debug!("session down: {why}"),
        }
    }

    /// A certificate for this node's key from the first of `managers` that answers.
    async fn renew(&self, managers: &[String]) -> anyhow::Result<rpc::messages::IssueResponse> {
        let csr = ca::NodeKey::csr_for(&self.certs.get().key_pem)?;
        for addr in managers {
            let renew = RenewRequest { csr_pem: csr.clone() };
            match self.pool.call::<RenewNodeCertificate>(addr, &renew).await {
                Ok(reply) => return Ok(reply),
                Err(status) => tracing::debug!(%addr, "renewal: {}", status.message()),
            }
        }
        anyhow::bail!("no manager renewed the certificate")
    }

    /// Saves new certificate material and makes every new connection use it.
    fn install(&self, change: impl FnOnce(&mut Certs)) -> anyhow::Result<()> {
        let certs = self.certs.update(change)?;
        let (client_tls, server_tls) = tls_configs(&certs)?;
        self.server_tls.store(server_tls);
        self.pool.set_config(client_tls);
        Ok(())
    }

    /// Follows a root CA rotation (`root_ca.rs`): a certificate from the new root, then the
    /// roots to trust once the rotation ends.
    async fn follow_root_ca(&self, msg: &rpc::messages::SessionMessage) -> anyhow::Result<()> {
        match super::root_ca::step(&self.certs.get(), msg) {
            super::root_ca::CaStep::Keep => Ok(()),
            super::root_ca::CaStep::Renew => {
                let issued = self.renew(&msg.managers).await?;
                if issued.role != self.state().role {
                    // A role change is under way; its own renewal follows.
                    anyhow::bail!("manager issued a {} certificate", issued.role.as_str());
                }
                self.install(|certs| {
                    certs.cert_pem = issued.cert_pem;
                    certs.ca_pem = issued.ca_cert_pem;
                })?;
                tracing::info!("renewed the node certificate under the new root CA");
                Ok(())
            }
            super::root_ca::CaStep::Trust(roots) => {
                self.install(|certs| certs.ca_pem = roots)?;
                tracing::info!("trusting the cluster's new root CA");
                Ok(())
            }
        }
    }

    /// Renews the certificate for `role` and starts or stops the manager accordingly.
    async fn change_role(&self, role: Role, managers: &[String]) -> anyhow::Result<()> {
        tracing::info!("cluster asks this node to be a {}", role.as_str());
        let issued = self.renew(managers).await?;
        if issued.role != role {
            anyhow::bail!(
                "manager issued a {} certificate; will retry",
                issued.role.as_str()
            );
        }
        self.install(|certs| {
            certs.cert_pem = issued.cert_pem;
            certs.ca_pem = issued.ca_cert_pem;
        })?;
        match role {
            Role::Manager => {
                let raft_id = rand::random::<u64>().max(1);
                self.update_state(|s| {
                    s.role = Role::Manager;
                    s.raft_id = Some(raft_id);
                })?;
                self.dir.clear_raft()?;
                if let Err(e) = self
                    .start_manager(
                        Start::Join {
                            remotes: managers.to_vec(),
                        },
                        RaftSettings::default(),
                        None,
                    )
                    .await
                {
                    // Back to worker: keep running tasks rather than a half-started manager.
                    self.update_state(|s| {
                        s.role = Role::Worker;
                        s.raft_id = None;
                    })?;
                    return Err(e);
                }
            }
            Role::Worker => {
                if let Some(m) = self.manager.write().await.take() {
                    m.stop().await;
                }
                // Workers have no lock (autolock protects a manager's Raft data); a manager
                // wraps its file again once its replica has the cluster's key (`autolock.rs`).
                // After the stop, so the manager's autolock loop cannot wrap it again.
                self.certs.update(|c| c.unlock_key = None)?;
                self.dir.clear_raft()?;
                self.update_state(|s| {
                    s.role = Role::Worker;
                    s.raft_id = None;
                })?;
            }
        }
        tracing::info!("this node is now a {}", role.as_str());
        Ok(())
    }

    fn update_state(&self, f: impl FnOnce(&mut SwarmState)) -> anyhow::Result<()> {
        let state = {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            f(&mut state);
            state.clone()
        };
        self.dir.save_state(&state)
    }

    /// Stops the agent and the manager. With `remove_tasks` (leaving the swarm) the node's
    /// tasks are stopped and removed; otherwise they keep running for the next start.
    pub async fn stop(&self, remove_tasks: bool) {
        self.shutdown.cancel();
        let agent = self.agent.lock().unwrap_or_else(|e| e.into_inner()).take();
        match agent {
            // Leaving: the leader marks this node down now (its manager, if any, still runs).
            Some(agent) if remove_tasks => agent.leave().await,
            Some(agent) => agent.stop(),
            None => {}
        }
        self.tasks.stop(remove_tasks).await;
        if let Some(m) = self.manager.write().await.take() {
            m.stop().await;
        }
    }
}

/// Binds the cluster port (`--listen-addr`).
pub async fn bind_cluster_port(listen_addr: &str) -> anyhow::Result<tokio::net::TcpListener> {
    let listen = super::addr::parse_listen(listen_addr)?;
    tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("failed to listen on {listen} for cluster traffic"))
}

/// The environment variable overriding how often nodes renew their tunnel key pairs, in
/// seconds (`0`: never), while this manager leads; tests shorten it to watch a rotation.
pub const TUNNEL_KEY_ROTATION_ENV: &str = "SHOAL_TUNNEL_KEY_ROTATION";

/// The tunnel key rotation period: the environment's, or SwarmKit's 12 hours.
fn tunnel_key_rotation() -> std::time::Duration {
    let default = manager::dispatcher::tunnel_keys::DEFAULT_ROTATION;
    match std::env::var(TUNNEL_KEY_ROTATION_ENV) {
        Err(_) => default,
        Ok(value) => match value.trim().parse::<u64>() {
            Ok(seconds) => std::time::Duration::from_secs(seconds),
            Err(_) => {
                tracing::warn!(%value, "{TUNNEL_KEY_ROTATION_ENV} is not a number of seconds; keys rotate every 12 h");
                default
            }
        },
    }
}

/// Whether this node must change role: the cluster asks for another role than it runs, or it
/// runs the asked role under a certificate of the other (a promotion whose Raft join failed
/// because a demotion overtook it leaves a worker holding a manager certificate; the session
/// then asks for the worker it already is, and only a renewal puts things right).
fn needs_role_change(desired: Role, running: Role, certificate: Option<Role>) -> bool {
    desired != running || certificate.is_some_and(|held| held != desired)
}

#[cfg(test)]
mod role_tests {
    use super::*;

    #[test]
    fn a_worker_left_with_a_manager_certificate_renews() {
        assert!(!needs_role_change(Role::Worker, Role::Worker, Some(Role::Worker)));
        assert!(!needs_role_change(
            Role::Manager,
            Role::Manager,
            Some(Role::Manager)
        ));
        assert!(
            needs_role_change(Role::Manager, Role::Worker, Some(Role::Worker)),
            "promoted"
        );
        assert!(
            needs_role_change(Role::Worker, Role::Manager, Some(Role::Manager)),
            "demoted"
        );
        assert!(
            needs_role_change(Role::Worker, Role::Worker, Some(Role::Manager)),
            "a promotion overtaken by a demotion"
        );
        assert!(
            !needs_role_change(Role::Worker, Role::Worker, None),
            "an unreadable certificate alone changes nothing"
        );
    }
}
