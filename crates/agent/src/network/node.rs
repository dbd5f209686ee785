//! The node's network layer: the views it holds made real in the data plane, and each task's
//! sandbox made before the executor prepares it.
//!
//! ```text
//!  assignments ─► apply(views) ─► per network: ensure_network, resolver, peers diff
//!                              └► DNS records swapped; every sandbox's VIP table re-set if changed
//!  runner ─► sandbox(task) ─► wait for its addresses ─► netns ─► attach eth0.. ─► set_vips ─► files
//!        └► started(task, pid) (executors making their own netns) ─► attach into /proc/<pid>/ns/net
//!        └► release(task) ─► detach ─► netns and files removed
//!  first full assignment ─► recover: re-adopt held tasks' namespaces, sweep everything else
//!  swarm leave ─► leave: resolvers stopped, sandboxes, ingress, mesh, overlays and the rest of
//!                 the tag removed; the layer makes nothing more
//! ```
//!
//! `converge.rs` (views → plane), `sandbox.rs` (a task's sandbox) and `teardown.rs` (recover,
//! leave) hold the rest of [`NodeNetwork`]'s methods.
//!
//! One async lock serialises every change, so the plane sees one writer and a sandbox made
//! while views change always ends with the newest VIP table.

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use netplane::dns::{DnsRecords, HostResolvConf, Resolver, Upstreams};
use netplane::{DataPlane, MeshPort, MeshReturn, NetworkSpec, RemoteEndpoint, VipService};
use tokio::sync::{Mutex, watch};
use types::{NetworkDelta, NetworkView};

use super::namespaces::TaskNamespaces;
use super::tunnels::TunnelState;
use super::views::Views;

/// How long a task waits for the views to give it its addresses before it fails.
pub const ATTACH_DEADLINE: Duration = Duration::from_secs(10);

/// What the layer needs to know of its node.
#[derive(Clone, Debug)]
pub struct NetworkConfig {
    /// This node's ID: endpoints of other nodes are its peers.
    pub node_id: String,
    /// The data plane's owner tag (names of task namespaces carry it too).
    pub tag: String,
    /// `<data-dir>/sandboxes`: the tasks' `resolv.conf` and `hosts`.
    pub sandboxes: PathBuf,
    /// The host's `resolv.conf`: search domains and options for the tasks, upstreams for DNS.
    pub host_resolv: HostResolvConf,
    /// The resolvers' port (53; tests may pick another).
    pub dns_port: u16,
    /// How long a task waits for its addresses.
    pub attach_deadline: Duration,
}

/// How this node takes part.
pub(super) enum Mode {
    /// A data plane and task namespaces: the real thing (or a fake of both in tests).
    Plane {
        plane: Arc<dyn DataPlane>,
        namespaces: Arc<dyn TaskNamespaces>,
        upstreams: Upstreams,
    },
    /// Views kept, nothing made, tasks given no sandbox: hollow nodes' simulated tasks.
    ViewsOnly,
    /// Views kept; a task with networks is refused with this reason (e.g. not root).
    Refusing(String),
}

/// A network this node has an overlay for.
pub(super) struct Local {
    pub(super) spec: NetworkSpec,
    pub(super) peers: HashSet<RemoteEndpoint>,
    pub(super) resolver: Option<Resolver>,
    pub(super) overlay_netns: PathBuf,
    /// Made as an encrypted overlay (its VXLAN through the tunnels).
    pub(super) encrypted: bool,
}

/// One task's attachment.
#[derive(Clone, Debug)]
pub(super) struct Attachment {
    pub(super) network_id: String,
    pub(super) vni: u32,
    pub(super) address: Ipv4Addr,
}

/// What a task's sandbox holds.
pub(super) struct TaskSandbox {
    /// Its namespace once attached (a named one, or `/proc/<pid>/ns/net`).
    pub(super) netns: Option<PathBuf>,
    pub(super) attachments: Vec<Attachment>,
    pub(super) vips: Vec<VipService>,
    /// Its route-return routing as last set (`mesh::task_return`).
    pub(super) returns: Option<MeshReturn>,
    /// The other sandboxes joined into the same namespace (a container connected to several
    /// networks, one attachment task each): the namespace's one VIP table serves all of them.
    pub(super) shares_with: Vec<String>,
}

#[derive(Default)]
pub(super) struct State {
    pub(super) views: Views,
    pub(super) networks: HashMap<String, Local>,
    pub(super) sandboxes: HashMap<String, TaskSandbox>,
    pub(super) recovered: bool,
    /// Set when the node left the swarm: its data plane is gone and nothing is made again.
    pub(super) left: bool,
    /// The ingress sandbox as made: (ingress VNI, the node's ingress address).
    pub(super) ingress: Option<(u32, Ipv4Addr)>,
    /// The routing mesh's ports as last set.
    pub(super) mesh: Option<Vec<MeshPort>>,
    /// Encrypted overlays: the node's key pair, its peers' keys, the tunnels as set.
    pub(super) tunnels: TunnelState,
    /// Peers' VTEPs the prober judges unreachable (`liveness.rs`).
    pub(super) unreachable: std::collections::BTreeSet<Ipv4Addr>,
}

/// The node's network layer; shared by the session (views in) and the runners (sandboxes).
pub struct NodeNetwork {
    pub(super) config: NetworkConfig,
    pub(super) mode: Mode,
    pub(super) records: DnsRecords,
    pub(super) state: Mutex<State>,
    /// Bumped after every apply: a sandbox waiting for its addresses looks again.
    pub(super) applied: watch::Sender<u64>,
    /// Set when the last convergence left something undone (an overlay, a resolver, peers or
    /// a VIP table): the retry worker converges again within [`RETRY_EVERY`] instead of
    /// waiting for the next assignment message, which may be minutes away.
    pub(super) retry: std::sync::atomic::AtomicBool,
    /// The peers' VTEPs in the views, for the prober (`liveness.rs`).
    pub(super) probe_peers: watch::Sender<std::collections::BTreeSet<Ipv4Addr>>,
    /// What the last look at the host namespace found and the plane cannot put right (a
    /// firewall dropping the mesh's connections), for `docker info`.
    pub(super) host_warnings: std::sync::Mutex<Vec<String>>,
}

/// How often a convergence that left something undone is tried again.
const RETRY_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

/// Every how many retry ticks the host namespace is checked for rules another program removed
/// (`netplane::guard`): 5 s, a few `nft`/`iptables` listings a minute.
const CHECK_HOST_TICKS: u32 = 10;

impl NodeNetwork {
    /// A layer driving `plane` and `namespaces`; unknown names are forwarded to `upstreams`.
    pub fn new(
        config: NetworkConfig,
        plane: Arc<dyn DataPlane>,
        namespaces: Arc<dyn TaskNamespaces>,
        upstreams: Upstreams,
    ) -> Arc<Self> {
        Self::with_mode(
            config,
            Mode::Plane {
                plane,
                namespaces,
                upstreams,
            },
        )
    }

    /// A layer that keeps views only and gives tasks no sandbox (hollow nodes).
    pub fn views_only(config: NetworkConfig) -> Arc<Self> {
        Self::with_mode(config, Mode::ViewsOnly)
    }

    /// A layer that keeps views and refuses tasks with networks, saying `why`.
    pub fn refusing(config: NetworkConfig, why: impl Into<String>) -> Arc<Self> {
        Self::with_mode(config, Mode::Refusing(why.into()))
    }

    fn with_mode(config: NetworkConfig, mode: Mode) -> Arc<Self> {
        Arc::new(NodeNetwork {
            config,
            mode,
            records: DnsRecords::new(),
            state: Mutex::new(State::default()),
            applied: watch::Sender::new(0),
            retry: std::sync::atomic::AtomicBool::new(false),
            probe_peers: watch::Sender::new(Default::default()),
            host_warnings: std::sync::Mutex::default(),
        })
    }

    /// Starts the worker that converges again while the last convergence left something
    /// undone; it ends when the layer is dropped. Outside a tokio runtime there is none, and
    /// failures wait for the next message.
    pub fn start_retries(self: &Arc<Self>) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!("no runtime: data-plane failures are retried on the next message only");
            return;
        };
        let weak = Arc::downgrade(self);
        runtime.spawn(async move {
            let mut tick = tokio::time::interval(RETRY_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut ticks: u32 = 0;
            loop {
                tick.tick().await;
                let Some(this) = weak.upgrade() else { return };
                ticks = ticks.wrapping_add(1);
                if ticks.is_multiple_of(CHECK_HOST_TICKS) && !this.check_host().await {
                    return;
                }
                if this.retry.swap(false, std::sync::atomic::Ordering::AcqRel)
                    && let Mode::Plane { plane, upstreams, .. } = &this.mode
                {
                    let mut state = this.state.lock().await;
                    if state.left {
                        return;
                    }
                    tracing::debug!("converging the data plane again after a failure");
                    let ok = this.converge(&mut state, plane.as_ref(), upstreams).await;
                    this.retry.fetch_or(!ok, std::sync::atomic::Ordering::AcqRel);
                }
            }
        });
    }

    /// Puts back what another program (a firewall reload) took from the host namespace; a
    /// lost mesh table is set again by the next convergence. False once the node left.
    async fn check_host(&self) -> bool {
        let Mode::Plane { plane, .. } = &self.mode else {
            return true;
        };
        let mut state = self.state.lock().await;
        if state.left {
            return false;
        }
        match plane.check_host(state.mesh.as_deref()).await {
            Ok(check) => {
                for what in check.restored {
                    tracing::warn!(
                        "{what} was removed from the host namespace (a firewall reload?); put back"
                    );
                }
                let mut warnings = self
                    .host_warnings
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                // Logged when first found, not every look.
                for warning in check.warnings.iter().filter(|w| !warnings.contains(w)) {
                    tracing::warn!("{warning}");
                }
                *warnings = check.warnings;
                drop(warnings);
                if check.mesh_table_lost {
                    tracing::warn!(
                        "the routing mesh's table was removed from the host namespace (a firewall \
                         reload?); setting it again"
                    );
                    state.mesh = None;
                    self.retry.store(true, std::sync::atomic::Ordering::Release);
                }
            }
            Err(error) => {
                tracing::warn!(%error, "looking for the data plane's rules in the host namespace failed")
            }
        }
        true
    }

    /// What the data plane found wrong on the host and cannot put right itself (a firewall
    /// that drops the routing mesh's connections), as `docker info` warns.
    pub fn host_warnings(&self) -> Vec<String> {
        self.host_warnings
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// This node's tunnel public key (encrypted overlays), if it runs a data plane.
    pub async fn tunnel_key(&self) -> Option<[u8; 32]> {
        match self.mode {
            Mode::Plane { .. } => self.state.lock().await.tunnels.public_key(),
            _ => None,
        }
    }

    /// When the node's tunnel key pair was made (the session renews it a period later).
    pub async fn tunnel_key_made_at(&self) -> tokio::time::Instant {
        self.state.lock().await.tunnels.made_at()
    }

    /// Renews the node's tunnel key pair and moves running tunnels onto it; returns the new
    /// public key for the session to announce.
    pub async fn renew_tunnel_key(&self) -> Option<[u8; 32]> {
        let Mode::Plane { plane, .. } = &self.mode else {
            return None;
        };
        let mut state = self.state.lock().await;
        let State { views, tunnels, .. } = &mut *state;
        let public = tunnels.renew();
        if !tunnels
            .converge(views, &self.config.node_id, plane.as_ref())
            .await
        {
            self.retry.store(true, std::sync::atomic::Ordering::Release);
        }
        tracing::info!(key = ?public.map(netplane::crypt::PublicKey), "tunnel key renewed");
        public
    }

    /// Takes the peers' tunnel keys of an assignment message (applied with its networks).
    pub async fn take_peer_keys(&self, keys: Vec<types::PeerKey>) {
        if !keys.is_empty() {
            self.state.lock().await.tunnels.take_keys(keys);
        }
    }

    /// The records the node's resolvers answer from.
    pub fn records(&self) -> &DnsRecords {
        &self.records
    }

    /// A copy of the views held.
    pub async fn views(&self) -> Views {
        self.state.lock().await.views.clone()
    }

    /// Applies an assignment message's networks and brings the data plane in line.
    pub async fn apply(
        &self,
        full: bool,
        networks: Vec<NetworkView>,
        removed: &[String],
        deltas: &[NetworkDelta],
    ) {
        let mut state = self.state.lock().await;
        if state.left {
            return;
        }
        state.views.apply(full, networks, removed, deltas);
        self.publish_records(&state);
        if let Mode::Plane { plane, upstreams, .. } = &self.mode {
            let ok = self.converge(&mut state, plane.as_ref(), upstreams).await;
            self.retry.store(!ok, std::sync::atomic::Ordering::Release);
        }
        drop(state);
        self.applied.send_modify(|n| *n = n.wrapping_add(1));
    }
}
