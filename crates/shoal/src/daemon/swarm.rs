//! The node's relation to a swarm and the operations that change it: init, join, leave,
//! resume after a restart. Serialised by one control lock, as dockerd serialises them.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context;
use manager::{Error, Start};
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};
use types::{
    Clock, Cluster, ClusterSpec, JoinTokens, Meta, Node, NodeDescription, NodeSpec, NodeState, NodeStatus,
    Role, RootCa,
};

use super::addr;
use super::datadir::{Certs, DataDir, LockedCerts, Membership, SwarmState};
use super::node::{ManagerStart, RunningNode};

/// dockerd's messages for the states a call can find the node in, naming the commands without
/// a client's name (both the docker CLI and ours have them).
pub mod msg {
    /// Init or join while in a swarm.
    pub const SWARM_EXISTS: &str = "This node is already part of a swarm. Use the \"swarm leave\" command to leave this swarm and join another one.";
    /// Leave outside a swarm.
    pub const NO_SWARM: &str = "This node is not part of a swarm";
    /// Manager call outside a swarm.
    pub const NOT_IN_SWARM: &str = "This node is not a swarm manager. Use the \"swarm init\" or \"swarm join\" command to connect this node to swarm and try again.";
    /// Manager call on a worker.
    pub const NOT_MANAGER: &str = "This node is not a swarm manager. Worker nodes can't be used to view or modify cluster state. Please run this command on a manager node or promote the current node to a manager.";
    /// Any swarm call on a manager that restarted locked (autolock).
    pub const SWARM_LOCKED: &str = "Swarm is encrypted and needs to be unlocked before it can be used. Please use \"docker swarm unlock\" to unlock it.";
    /// Leave without --force while locked.
    pub const LEAVE_LOCKED: &str =
        "Swarm is encrypted and locked. Please unlock it first or use `--force` to ignore this message.";
    /// Unlock of a node that is not locked.
    pub const NOT_LOCKED: &str = "swarm is not locked";
    /// Unlock with a key that does not open the node's key file.
    pub const INVALID_UNLOCK_KEY: &str = "swarm could not be unlocked: invalid key provided";
    /// Unlock with something that is not an unlock key.
    pub const INVALID_KEY_STRING: &str = "invalid key string";
    /// Join that did not finish in time.
    pub const JOIN_TIMEOUT: &str = "Timeout was reached before node joined. The attempt to join the swarm will continue in the background. Use the \"info\" command to see the current swarm status of your node.";
}

/// How long `swarm join` waits before answering with dockerd's timeout message.
const JOIN_TIMEOUT: Duration = Duration::from_secs(20);

/// How long `swarm init` waits for the node's own session (it takes milliseconds; the limit
/// only bounds a broken start).
const REGISTER_WAIT: Duration = Duration::from_secs(15);

/// Where this node stands.
#[derive(Clone)]
pub enum Local {
    /// Not in a swarm.
    Inactive,
    /// A join is under way.
    Pending,
    /// In a swarm, but the key file is wrapped by the unlock key: nothing runs until
    /// `swarm unlock` gives it.
    Locked(Arc<LockedNode>),
    /// In a swarm.
    Active(Arc<RunningNode>),
}

/// A node that restarted locked: its membership and the wrapped key material.
pub struct LockedNode {
    /// The persisted membership.
    pub state: SwarmState,
    /// Certificates with the keys still wrapped.
    pub certs: LockedCerts,
}

/// The daemon's swarm side.
pub struct Swarm {
    pub(crate) dir: DataDir,
    pub(crate) hostname: Option<String>,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) executor: super::ExecutorChoice,
    control: tokio::sync::Mutex<()>,
    local: RwLock<Local>,
    /// The node's image store, opened when the agent starts (`images.rs`).
    pub(crate) images: std::sync::OnceLock<image::ImageStore>,
    /// Container and image events for `GET /events` (`events.rs`).
    pub(crate) events: Arc<super::events::EventBus>,
    /// `docker exec` instances (`exec.rs`).
    pub(crate) execs: super::exec::Execs,
    /// Standalone containers (`docker run`; `standalone/`), on an `oci` node.
    pub(crate) standalone: std::sync::OnceLock<Arc<super::standalone::Standalone>>,
}

fn internal(e: anyhow::Error) -> Error {
    Error::Internal(format!("{e:#}"))
}

impl Swarm {
    /// A daemon over `dir`, not yet in a swarm.
    pub fn new(
        dir: DataDir,
        hostname: Option<String>,
        labels: BTreeMap<String, String>,
        clock: Arc<dyn Clock>,
        executor: super::ExecutorChoice,
    ) -> Swarm {
        Swarm {
            events: super::events::EventBus::new(clock.clone()),
            dir,
            hostname,
            labels,
            clock,
            executor,
            control: tokio::sync::Mutex::new(()),
            local: RwLock::new(Local::Inactive),
            images: std::sync::OnceLock::new(),
            execs: Default::default(),
            standalone: std::sync::OnceLock::new(),
        }
    }

    /// The current local state.
    pub fn local(&self) -> Local {
        self.local.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn set_local(&self, local: Local) {
        *self.local.write().unwrap_or_else(|e| e.into_inner()) = local;
    }

    pub(crate) fn description(&self) -> NodeDescription {
        agent::describe_host(self.hostname.as_deref(), self.labels.clone())
    }

    /// Rejoins the swarm recorded in the data dir, if any (daemon start).
    pub async fn resume(&self) -> anyhow::Result<()> {
        let _guard = self.control.lock().await;
        let (state, certs) = match self.dir.load()? {
            None => return Ok(()),
            Some(Membership::Ready(state, certs)) => (state, certs),
            Some(Membership::Locked(state, certs)) => {
                // dockerd's behaviour: the API serves, the swarm waits for `swarm unlock`.
                tracing::warn!("this manager is locked (autolock): unlock it with `docker swarm unlock`");
                self.set_local(Local::Locked(Arc::new(LockedNode { state, certs })));
                return Ok(());
            }
        };
        let node = RunningNode::start(
            self.dir.clone(),
            state,
            certs,
            Some(Start::Resume.into()),
            self.description(),
            self.clock.clone(),
            &self.executor,
            &self.events,
        )
        .await
        .context("resuming swarm membership")?;
        self.set_local(Local::Active(node));
        Ok(())
    }

    /// `swarm init`.
    pub async fn init(&self, req: api::InitRequest) -> Result<String, Error> {
        let _guard = self.control.lock().await;
        match (self.local(), req.force_new_cluster) {
            (Local::Active(node), true) => return self.force_new_cluster(node).await,
            (Local::Locked(_), true) => return Err(Error::Unavailable(msg::SWARM_LOCKED.into())),
            (Local::Active(_) | Local::Pending | Local::Locked(_), false) => {
                return Err(Error::Unavailable(msg::SWARM_EXISTS.into()));
            }
            (Local::Pending, true) => return Err(Error::Unavailable("a join is in progress".into())),
            // Without a swarm to recover, --force-new-cluster is a plain init (as dockerd).
            (Local::Inactive, _) => {}
        }
        let mut spec = req.spec.clone();
        if spec.name.is_empty() {
            spec.name = "default".into();
        }
        if spec.max_tasks == 0 {
            let memory = api::host::HostFacts::read().mem_total.max(0) as u64;
            spec.max_tasks = types::cluster::max_tasks_for_memory(memory);
        }
        rules::controlapi::cluster::validate(&spec)?;
        let listen = addr::parse_listen(if req.listen_addr.is_empty() {
            "0.0.0.0:2377"
        } else {
            &req.listen_addr
        })?;
        let advertise = addr::advertise(&req.advertise_addr, listen)?;
        let result = self.init_inner(req, spec, listen.to_string(), advertise).await;
        if result.is_err() {
            // A failed first start keeps no state, as dockerd.
            let _ = self.dir.clear_swarm();
        }
        result
    }

    async fn init_inner(
        &self,
        mut req: api::InitRequest,
        spec: ClusterSpec,
        listen: String,
        advertise: String,
    ) -> Result<String, Error> {
        let external_cas = std::mem::take(&mut req.external_cas);
        let mut rng = StdRng::from_os_rng();
        let now = self.clock.now();
        let now_secs = now.0 / 1_000_000_000;
        let cluster_id = types::id::new_id(&mut rng);
        let node_id = types::id::new_id(&mut rng);
        let root = ca::RootCa::generate(now_secs).map_err(|e| Error::Internal(e.to_string()))?;
        let key = ca::NodeKey::generate().map_err(|e| Error::Internal(e.to_string()))?;
        let cert_pem = root
            .issue(
                &key.csr_pem,
                &node_id,
                Role::Manager,
                &cluster_id,
                now_secs,
                spec.node_cert_expiry / 1_000_000_000,
            )
            .map_err(|e| Error::Internal(e.to_string()))?;
        let digest = ca::ca_digest(root.cert_pem());
        let tokens = JoinTokens {
            worker: ca::JoinToken::generate(digest, &mut rng).to_string(),
            manager: ca::JoinToken::generate(digest, &mut rng).to_string(),
        };
        // `--default-addr-pool` and `--default-addr-pool-mask-length` are checked before
        // anything is created: the ingress network and every later one are carved from them.
        rules::allocator::ipam::AddressPools::parse(&req.default_addr_pool, req.subnet_size)?;
        let cluster = Cluster {
            id: cluster_id.clone(),
            meta: Meta::default(),
            spec: spec.clone(),
            root_ca: RootCa {
                ca_cert_pem: root.cert_pem().into(),
                ca_key_pem: root.key_pem().into(),
                join_tokens: tokens,
            },
            default_addr_pool: if req.default_addr_pool.is_empty() {
                vec!["10.0.0.0/8".into()]
            } else {
                req.default_addr_pool
            },
            subnet_size: if req.subnet_size == 0 { 24 } else { req.subnet_size },
            data_path_port: if req.data_path_port == 0 {
                4789
            } else {
                req.data_path_port
            },
        };
        let ip = advertise
            .rsplit_once(':')
            .map(|(h, _)| h.trim_matches(['[', ']']).to_string())
            .unwrap_or_default();
        let node = Node {
            id: node_id.clone(),
            meta: Meta::default(),
            spec: NodeSpec {
                role: Role::Manager,
                availability: req.availability.unwrap_or_default(),
                ..Default::default()
            },
            description: self.description(),
            status: NodeStatus {
                state: NodeState::Ready,
                message: String::new(),
                addr: ip,
            },
            manager_status: None,
            role: Role::Manager,
        };
        // With autolock the key file is wrapped from its first write.
        let unlock_key = if spec.auto_lock_managers {
            Some(rules::controlapi::cluster::new_unlock_key(&mut rng))
        } else {
            None
        };
        let certs = Certs {
            ca_pem: root.cert_pem().into(),
            cert_pem,
            key_pem: key.key_pem,
            data_key: store::crypto::DataKey::generate().map_err(|e| Error::Internal(e.to_string()))?,
            unlock_key: unlock_key.clone(),
        };
        let state = SwarmState {
            node_id: node_id.clone(),
            cluster_id,
            role: Role::Manager,
            raft_id: Some(rng.next_u64().max(1)),
            listen_addr: listen,
            advertise_addr: advertise.clone(),
            remote_managers: vec![advertise],
        };
        self.dir.save_certs(&certs).map_err(internal)?;
        self.dir.save_state(&state).map_err(internal)?;
        let start = Start::Bootstrap {
            cluster: Box::new(cluster),
            node: Box::new(node),
            unlock_key,
        };
        let node = RunningNode::start(
            self.dir.clone(),
            state,
            certs,
            Some(start.into()),
            self.description(),
            self.clock.clone(),
            &self.executor,
            &self.events,
        )
        .await
        .map_err(|e| match e.downcast::<Error>() {
            Ok(e) => e,
            Err(e) => Error::InvalidArgument(format!("{e:#}")),
        })?;
        if !external_cas.is_empty() {
            // `--external-ca`: kept beside the spec, as a later update keeps them. The root
            // generated here has its key, so nodes are still signed locally.
            let m = node
                .manager()
                .await
                .ok_or_else(|| Error::Unavailable(msg::NOT_MANAGER.into()))?;
            m.propose(vec![store::Op::SetExternalCas(external_cas)]).await?;
        }
        // dockerd answers init once the node is registered: an immediate `node update
        // --version` must see the version that stays.
        if !node.wait_registered(REGISTER_WAIT).await {
            tracing::warn!("the node's session did not come up within {REGISTER_WAIT:?} of init");
        }
        self.set_local(Local::Active(node));
        Ok(node_id)
    }

    /// `swarm init --force-new-cluster` on a manager: keep the data, drop every other manager
    /// from Raft, and carry on as a one-manager cluster (Swarm's disaster recovery).
    async fn force_new_cluster(&self, node: Arc<RunningNode>) -> Result<String, Error> {
        let mut state = node.state();
        if state.role != Role::Manager {
            return Err(Error::Unavailable(msg::NOT_MANAGER.into()));
        }
        let m = node
            .manager()
            .await
            .ok_or_else(|| Error::Unavailable(msg::NOT_MANAGER.into()))?;
        let objects: Vec<types::Object> = m
            .view()
            .objects()
            .into_iter()
            .map(|o| match o {
                // The other managers are no longer members; they rejoin only if demoted,
                // removed and joined again, as in Swarm.
                types::Object::Node(mut n) if n.id != state.node_id && n.manager_status.is_some() => {
                    n.manager_status = None;
                    n.spec.role = Role::Worker;
                    n.status.state = NodeState::Down;
                    types::Object::Node(n)
                }
                other => other,
            })
            .collect();
        // The running node's material (its key file may be wrapped) and the unlock key, so
        // that autolock stays as it was.
        let certs = node.certs().get();
        let unlock_key = m.view().unlock_key().cloned();
        let external_cas = m.view().external_cas().to_vec();
        node.stop(false).await;
        self.set_local(Local::Inactive);
        self.dir.clear_raft().map_err(internal)?;
        state.raft_id = Some(rand::random::<u64>().max(1));
        state.remote_managers = vec![state.advertise_addr.clone()];
        self.dir.save_state(&state).map_err(internal)?;
        let node_id = state.node_id.clone();
        let node = RunningNode::start(
            self.dir.clone(),
            state,
            certs,
            Some(
                Start::Restore {
                    objects,
                    unlock_key,
                    external_cas,
                }
                .into(),
            ),
            self.description(),
            self.clock.clone(),
            &self.executor,
            &self.events,
        )
        .await
        .map_err(|e| Error::Internal(format!("{e:#}")))?;
        self.set_local(Local::Active(node));
        Ok(node_id)
    }

    /// `swarm join`.
    pub async fn join(&self, req: api::JoinRequest) -> Result<(), Error> {
        let _guard = self.control.lock().await;
        if let Local::Active(_) | Local::Pending | Local::Locked(_) = self.local() {
            return Err(Error::Unavailable(msg::SWARM_EXISTS.into()));
        }
        if req.remote_addrs.is_empty() {
            return Err(Error::InvalidArgument(
                "at least 1 RemoteAddr is required to join".into(),
            ));
        }
        let token =
            ca::JoinToken::parse(req.join_token.trim()).map_err(|e| Error::InvalidArgument(e.to_string()))?;
        let listen = addr::parse_listen(if req.listen_addr.is_empty() {
            "0.0.0.0:2377"
        } else {
            &req.listen_addr
        })?;
        let advertise = addr::advertise(&req.advertise_addr, listen)?;
        for remote in &req.remote_addrs {
            addr::parse_listen(remote)
                .map_err(|_| Error::InvalidArgument(format!("invalid remote address {remote:?}")))?;
        }
        self.set_local(Local::Pending);
        let result = match tokio::time::timeout(
            JOIN_TIMEOUT,
            self.join_inner(&req, &token, listen.to_string(), advertise),
        )
        .await
        {
            Ok(r) => r,
            Err(_) => Err(Error::Unavailable(msg::JOIN_TIMEOUT.into())),
        };
        match result {
            Ok(node) => {
                self.set_local(Local::Active(node));
                Ok(())
            }
            Err(e) => {
                self.set_local(Local::Inactive);
                let _ = self.dir.clear_swarm();
                Err(e)
            }
        }
    }

    async fn join_inner(
        &self,
        req: &api::JoinRequest,
        token: &ca::JoinToken,
        listen: String,
        advertise: String,
    ) -> Result<Arc<RunningNode>, Error> {
        // The port first: once the cluster issued a certificate the node exists there, and a
        // join that then failed to bind would leave it behind as a down node.
        let listener = super::node::bind_cluster_port(&listen)
            .await
            .map_err(|e| Error::Unavailable(format!("{e:#}")))?;
        let (issued, key_pem) = super::join::request_certificate(
            &req.remote_addrs[0],
            token,
            req.join_token.trim(),
            self.description(),
            &advertise,
            req.availability,
        )
        .await?;
        let certs = Certs {
            ca_pem: issued.ca_cert_pem,
            cert_pem: issued.cert_pem,
            key_pem,
            data_key: store::crypto::DataKey::generate().map_err(|e| Error::Internal(e.to_string()))?,
            unlock_key: None,
        };
        let state = SwarmState {
            node_id: issued.node_id,
            cluster_id: issued.cluster_id,
            role: issued.role,
            raft_id: (issued.role == Role::Manager).then(|| rand::random::<u64>().max(1)),
            listen_addr: listen,
            advertise_addr: advertise,
            remote_managers: req.remote_addrs.clone(),
        };
        self.dir.save_certs(&certs).map_err(internal)?;
        self.dir.save_state(&state).map_err(internal)?;
        let start = ManagerStart {
            start: Start::Join {
                remotes: req.remote_addrs.clone(),
            },
            // A worker has no cluster port; dropping the listener frees it.
            listener: (issued.role == Role::Manager).then_some(listener),
        };
        RunningNode::start(
            self.dir.clone(),
            state,
            certs,
            Some(start),
            self.description(),
            self.clock.clone(),
            &self.executor,
            &self.events,
        )
        .await
        .map_err(|e| match e.downcast::<Error>() {
            Ok(e) => e,
            Err(e) => Error::Unavailable(format!("{e:#}")),
        })
    }

    /// `swarm unlock`: opens the key file with `text` and starts the node in this process,
    /// as after an unlocked restart. dockerd's answers: 409 when not locked, 400 for what is
    /// not an unlock key, 401 for a key that does not open the file.
    pub async fn unlock(&self, text: &str) -> Result<(), Error> {
        let _guard = self.control.lock().await;
        let locked = match self.local() {
            Local::Locked(locked) => locked,
            Local::Active(node) if node.state().role == Role::Manager => {
                return Err(Error::Conflict(msg::NOT_LOCKED.into()));
            }
            Local::Active(_) => return Err(Error::Unavailable(msg::NOT_MANAGER.into())),
            Local::Inactive | Local::Pending => return Err(Error::Unavailable(msg::NOT_IN_SWARM.into())),
        };
        let key = store::crypto::UnlockKey::parse(text)
            .map_err(|_| Error::InvalidArgument(msg::INVALID_KEY_STRING.into()))?;
        let certs = locked.certs.unlock(&key).map_err(|e| match e {
            super::keys::KeyFileError::WrongKey => Error::Unauthorized(msg::INVALID_UNLOCK_KEY.into()),
            other => Error::Internal(format!("the key file {other}")),
        })?;
        let node = RunningNode::start(
            self.dir.clone(),
            locked.state.clone(),
            certs,
            Some(Start::Resume.into()),
            self.description(),
            self.clock.clone(),
            &self.executor,
            &self.events,
        )
        .await
        .map_err(|e| Error::Internal(format!("swarm component could not be started: {e:#}")))?;
        tracing::info!("unlocked: the swarm runs");
        self.set_local(Local::Active(node));
        Ok(())
    }

    /// `swarm leave`.
    pub async fn leave(&self, force: bool) -> Result<(), Error> {
        let _guard = self.control.lock().await;
        let node = match self.local() {
            Local::Inactive => return Err(Error::Unavailable(msg::NO_SWARM.into())),
            Local::Pending => return Err(Error::Unavailable("a join is in progress".into())),
            Local::Locked(_) if !force => return Err(Error::Unavailable(msg::LEAVE_LOCKED.into())),
            Local::Locked(locked) => {
                // Nothing of the swarm runs while locked, but the data plane the node's last
                // run made (overlays, ingress sandbox, mesh tables) is still on the host: it
                // goes as an unlocked node's does.
                if !matches!(self.executor, super::ExecutorChoice::Sim) {
                    let state = &locked.state;
                    super::network_layer::kernel(&self.dir, &state.node_id, &state.advertise_addr)
                        .leave()
                        .await;
                }
                self.dir.clear_swarm().map_err(internal)?;
                self.set_local(Local::Inactive);
                return Ok(());
            }
            Local::Active(node) => node,
        };
        if node.state().role == Role::Manager && !force {
            return Err(Error::Unavailable(leave_refusal(&node).await));
        }
        node.stop(true).await;
        self.dir.clear_swarm().map_err(internal)?;
        self.set_local(Local::Inactive);
        Ok(())
    }

    /// Ends a node whose data dir goes with the process (`agent --dev` without `--data-dir`):
    /// its standalone containers are removed, and it leaves the swarm, which removes its tasks
    /// and takes its data plane down. A plain shutdown leaves both for the next start to
    /// adopt; here nothing could, and the host would keep running containers whose files are
    /// gone, the namespaces, and the mesh's rules for its published ports.
    pub async fn discard(&self) {
        if let Ok(standalone) = self.standalone() {
            for task in standalone.held() {
                if let Err(error) = standalone.remove(&task.id, true, true).await {
                    tracing::warn!(container = %task.id, %error, "removing a container of the dev cluster failed");
                }
            }
        }
        if !matches!(self.local(), Local::Inactive)
            && let Err(error) = self.leave(true).await
        {
            tracing::warn!(%error, "leaving the dev cluster failed");
        }
    }

    /// Stops the node (daemon shutdown) without leaving.
    pub async fn shutdown(&self) {
        if let Local::Active(node) = self.local() {
            node.stop(false).await;
        }
    }
}

/// dockerd's explanation of why a manager may not simply leave.
async fn leave_refusal(node: &RunningNode) -> String {
    let mut text =
        String::from("You are attempting to leave the swarm on a node that is participating as a manager. ");
    if let Some(m) = node.manager().await {
        let view = m.view();
        let members: Vec<_> = view.nodes().filter(|n| n.manager_status.is_some()).collect();
        let reachable = members
            .iter()
            .filter(|n| n.status.state == NodeState::Ready)
            .count();
        let total = members.len();
        let quorum_lost = reachable.saturating_sub(1) <= total / 2;
        if quorum_lost {
            if total <= 1 {
                text.push_str("Removing the last manager erases all current state of the swarm. Use `--force` to ignore this message. ");
                return text;
            }
            text.push_str(&format!(
                "Removing this node leaves {} managers out of {}. Without a Raft quorum your swarm will be inaccessible. ",
                reachable.saturating_sub(1),
                total
            ));
        }
    }
    text.push_str("The only way to restore a swarm that has lost consensus is to reinitialize it with `--force-new-cluster`. Use `--force` to suppress this message.");
    text
}
