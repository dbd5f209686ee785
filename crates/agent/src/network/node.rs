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
//! ```
//!
//! One async lock serialises every change, so the plane sees one writer and a sandbox made
//! while views change always ends with the newest VIP table.

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use netplane::dns::{DnsRecords, HostResolvConf, Resolver, ResolverConfig, Upstreams};
use netplane::{DataPlane, EndpointSpec, MeshPort, NetworkSpec, RemoteEndpoint, VipService, names};
use tokio::sync::{Mutex, watch};
use types::{NetworkDelta, NetworkView, Task};

use super::error::{Error, Result};
use super::namespaces::TaskNamespaces;
use super::tunnels::TunnelState;
use super::views::Views;
use super::{files, mesh, peers, records, spec, vips};
use crate::executor::Sandbox;

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
enum Mode {
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
struct Local {
    spec: NetworkSpec,
    peers: HashSet<RemoteEndpoint>,
    resolver: Option<Resolver>,
    overlay_netns: PathBuf,
    /// Made as an encrypted overlay (its VXLAN through the tunnels).
    encrypted: bool,
}

/// One task's attachment.
#[derive(Clone, Debug)]
struct Attachment {
    network_id: String,
    vni: u32,
    address: Ipv4Addr,
}

/// What a task's sandbox holds.
struct TaskSandbox {
    /// Its namespace once attached (a named one, or `/proc/<pid>/ns/net`).
    netns: Option<PathBuf>,
    attachments: Vec<Attachment>,
    vips: Vec<VipService>,
}

#[derive(Default)]
struct State {
    views: Views,
    networks: HashMap<String, Local>,
    sandboxes: HashMap<String, TaskSandbox>,
    recovered: bool,
    /// The ingress sandbox as made: (ingress VNI, the node's ingress address).
    ingress: Option<(u32, Ipv4Addr)>,
    /// The routing mesh's ports as last set.
    mesh: Option<Vec<MeshPort>>,
    /// Encrypted overlays: the node's key pair, its peers' keys, the tunnels as set.
    tunnels: TunnelState,
}

/// The node's network layer; shared by the session (views in) and the runners (sandboxes).
pub struct NodeNetwork {
    config: NetworkConfig,
    mode: Mode,
    records: DnsRecords,
    state: Mutex<State>,
    /// Bumped after every apply: a sandbox waiting for its addresses looks again.
    applied: watch::Sender<u64>,
    /// Set when the last convergence left something undone (an overlay, a resolver, peers or
    /// a VIP table): the retry worker converges again within [`RETRY_EVERY`] instead of
    /// waiting for the next assignment message, which may be minutes away.
    retry: std::sync::atomic::AtomicBool,
}

/// How often a convergence that left something undone is tried again.
const RETRY_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

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
            loop {
                tick.tick().await;
                let Some(this) = weak.upgrade() else { return };
                if this.retry.swap(false, std::sync::atomic::Ordering::AcqRel)
                    && let Mode::Plane { plane, upstreams, .. } = &this.mode
                {
                    let mut state = this.state.lock().await;
                    tracing::debug!("converging the data plane again after a failure");
                    let ok = this.converge(&mut state, plane.as_ref(), upstreams).await;
                    this.retry.fetch_or(!ok, std::sync::atomic::Ordering::AcqRel);
                }
            }
        });
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
        state.views.apply(full, networks, removed, deltas);
        let all: Vec<_> = state.views.iter().map(records::network_records).collect();
        self.records.replace(&all);
        if let Mode::Plane { plane, upstreams, .. } = &self.mode {
            let ok = self.converge(&mut state, plane.as_ref(), upstreams).await;
            self.retry.store(!ok, std::sync::atomic::Ordering::Release);
        }
        drop(state);
        self.applied.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Makes overlays, resolvers, peers and VIP tables match the views; false when something
    /// failed (logged) and is left for a retry.
    async fn converge(&self, state: &mut State, plane: &dyn DataPlane, upstreams: &Upstreams) -> bool {
        let mut all_ok = true;
        let State {
            views,
            networks,
            sandboxes,
            ingress,
            mesh,
            tunnels,
            ..
        } = state;
        let gone: Vec<String> = networks
            .keys()
            .filter(|id| views.get(id).is_none())
            .cloned()
            .collect();
        for id in gone {
            if let Some(local) = networks.remove(&id) {
                // The resolver's sockets live in the overlay namespace: closed before it goes.
                if let Some(resolver) = local.resolver {
                    resolver.stop().await;
                }
                if let Err(error) = plane.remove_network(local.spec.vni).await {
                    tracing::warn!(network = %id, %error, "removing an overlay failed");
                }
            }
        }
        // Before any encrypted overlay exists, so its VXLAN never leaves without a tunnel.
        let tunnels_ok = tunnels.converge(views, &self.config.node_id, plane).await;
        all_ok &= tunnels_ok;
        for view in views.iter() {
            let id = &view.network_id;
            if view.encrypted && !tunnels_ok {
                tracing::warn!(network = %id, "encrypted network not set up: the node's tunnels are not running");
                continue;
            }
            let wanted = match spec::network_spec(view) {
                Ok(wanted) => wanted,
                Err(why) => {
                    // Not retried: the view itself is what this node cannot set up.
                    tracing::warn!(network = %id, %why, "network not set up on this node");
                    continue;
                }
            };
            if networks
                .get(id)
                .is_none_or(|local| local.spec != wanted || local.encrypted != view.encrypted)
            {
                if let Some(old) = networks.remove(id) {
                    if let Some(resolver) = old.resolver {
                        resolver.stop().await;
                    }
                    if old.spec.vni != wanted.vni {
                        let _ = plane.remove_network(old.spec.vni).await;
                    }
                }
                let made = if view.encrypted {
                    plane.ensure_encrypted_network(&wanted).await
                } else {
                    plane.ensure_network(&wanted).await
                };
                match made {
                    Ok(overlay) => {
                        networks.insert(
                            id.clone(),
                            Local {
                                spec: wanted.clone(),
                                peers: HashSet::new(),
                                resolver: None,
                                overlay_netns: overlay.netns,
                                encrypted: view.encrypted,
                            },
                        );
                    }
                    Err(error) => {
                        tracing::warn!(network = %id, %error, "making the overlay failed; retried");
                        all_ok = false;
                        continue;
                    }
                }
            }
            let Some(local) = networks.get_mut(id) else {
                continue;
            };
            if local.resolver.is_none() {
                let config = ResolverConfig {
                    network: id.clone(),
                    netns: local.overlay_netns.clone(),
                    address: local.spec.gateway,
                    port: self.config.dns_port,
                    internal: local.spec.internal,
                };
                match Resolver::start(config, self.records.clone(), upstreams.clone()).await {
                    Ok(resolver) => local.resolver = Some(resolver),
                    Err(error) => {
                        tracing::warn!(network = %id, %error, "starting the network's resolver failed; retried");
                        all_ok = false;
                    }
                }
            }
            let wanted_peers = peers::remote_endpoints(view, &self.config.node_id);
            let (remove, add) = peers::diff(&local.peers, &wanted_peers);
            let mut ok = true;
            if !remove.is_empty()
                && let Err(error) = plane.remove_peers(local.spec.vni, &remove).await
            {
                tracing::warn!(network = %id, %error, "removing peers failed");
                ok = false;
            }
            if !add.is_empty()
                && let Err(error) = plane.add_peers(local.spec.vni, &add).await
            {
                tracing::warn!(network = %id, %error, "adding peers failed");
                ok = false;
            }
            // On failure, forget what is installed so the next apply sends the whole set again.
            local.peers = if ok { wanted_peers } else { HashSet::new() };
            all_ok &= ok;
        }
        all_ok &= self.converge_mesh(views, networks, ingress, mesh, plane).await;
        for (task, sandbox) in sandboxes.iter_mut() {
            let Some(netns) = &sandbox.netns else { continue };
            let ids: Vec<String> = sandbox.attachments.iter().map(|a| a.network_id.clone()).collect();
            let wanted = vips::task_vips(views, &ids);
            if wanted != sandbox.vips {
                match plane.set_vips(netns, &wanted).await {
                    Ok(()) => sandbox.vips = wanted,
                    Err(error) => {
                        tracing::warn!(%task, %error, "updating the task's VIP table failed; retried");
                        all_ok = false;
                    }
                }
            }
        }
        all_ok
    }

    /// Makes the ingress sandbox once the ingress overlay is up and the view gives this node
    /// its ingress address, then the mesh's tables from the published ports; false when
    /// something failed (logged, retried).
    async fn converge_mesh(
        &self,
        views: &Views,
        networks: &HashMap<String, Local>,
        ingress: &mut Option<(u32, Ipv4Addr)>,
        applied: &mut Option<Vec<MeshPort>>,
        plane: &dyn DataPlane,
    ) -> bool {
        let Some(view) = views.ingress() else {
            return true;
        };
        let Some(address) = view.node_sandbox(&self.config.node_id).map(|e| e.addr) else {
            // The leader gives every node its address; until then there is nothing to make.
            return true;
        };
        let Some(local) = networks.get(&view.network_id) else {
            return false;
        };
        if *ingress != Some((local.spec.vni, address)) {
            if let Err(error) = plane.ensure_ingress(&local.spec, address).await {
                tracing::warn!(%error, "making the ingress sandbox failed; retried");
                return false;
            }
            *ingress = Some((local.spec.vni, address));
            *applied = None;
        }
        let ports = mesh::mesh_ports(view, &self.config.node_id);
        if applied.as_ref() != Some(&ports) {
            if let Err(error) = plane.set_mesh(address, &ports).await {
                tracing::warn!(%error, "setting the routing mesh's tables failed; retried");
                return false;
            }
            *applied = Some(ports);
        }
        true
    }

    /// Makes `task`'s sandbox: waits for its addresses, then (unless the executor makes its
    /// own namespace, `own_netns`) a named namespace with one endpoint per network and its VIP
    /// table; then its `resolv.conf` and `hosts`. A task on no network gets an empty sandbox.
    pub async fn sandbox(&self, task: &Task, own_netns: bool) -> Result<Sandbox> {
        // A task of a service publishing ports holds an ingress address even with no network
        // in its spec (the view came with the task).
        if task.spec.networks.is_empty() && self.state.lock().await.views.ingress_address(task).is_none() {
            return Ok(Sandbox::default());
        }
        let (plane, namespaces) = match &self.mode {
            Mode::Refusing(why) => {
                return Err(Error::Refused {
                    task: task.id.clone(),
                    why: why.clone(),
                });
            }
            Mode::ViewsOnly => return Ok(Sandbox::default()),
            Mode::Plane {
                plane, namespaces, ..
            } => (plane, namespaces),
        };
        let (mut state, attachments) = self.wait_for_addresses(task).await?;
        let mut made = Vec::new();
        for (network_id, address) in &attachments {
            let Some(local) = state.networks.get(network_id) else {
                return Err(Error::NotReady {
                    task: task.id.clone(),
                    network: network_id.clone(),
                    seconds: self.config.attach_deadline.as_secs(),
                });
            };
            made.push((
                local.spec.clone(),
                Attachment {
                    network_id: network_id.clone(),
                    vni: local.spec.vni,
                    address: *address,
                },
            ));
        }
        let plane_error = |what, source| Error::Plane {
            task: task.id.clone(),
            what,
            source,
        };
        let name = names::task_netns(&self.config.tag, &task.id);
        let netns = if own_netns {
            None
        } else {
            let path = namespaces
                .create(&name)
                .await
                .map_err(|e| plane_error("make the task's network namespace", e))?;
            let attached = attach_all(plane.as_ref(), &path, &made).await;
            if let Err(error) = attached {
                // Nothing half-made stays: the namespace takes its interfaces with it.
                let _ = namespaces.delete(&name);
                return Err(plane_error("attach the task to its networks", error));
            }
            Some(path)
        };
        let ids: Vec<String> = made.iter().map(|(_, a)| a.network_id.clone()).collect();
        let task_vips = vips::task_vips(&state.views, &ids);
        if let Some(path) = &netns
            && let Err(error) = plane.set_vips(path, &task_vips).await
        {
            let _ = namespaces.delete(&name);
            return Err(plane_error("set the task's VIP table", error));
        }
        let (first_spec, first) = &made[0];
        let hostname = if task.spec.container.hostname.is_empty() {
            task.id.chars().take(12).collect()
        } else {
            task.spec.container.hostname.clone()
        };
        let written = files::write(
            &self.config.sandboxes,
            &task.id,
            first_spec.gateway,
            &self.config.host_resolv,
            first.address,
            &hostname,
        )
        .map_err(|source| Error::Files {
            task: task.id.clone(),
            what: "write the task's resolv.conf and hosts",
            source,
        })?;
        state.sandboxes.insert(
            task.id.clone(),
            TaskSandbox {
                netns: netns.clone(),
                attachments: made.into_iter().map(|(_, a)| a).collect(),
                vips: if own_netns { Vec::new() } else { task_vips },
            },
        );
        Ok(Sandbox {
            netns,
            resolv_conf: Some(written.resolv_conf),
            hosts: Some(written.hosts),
            ..Sandbox::default()
        })
    }

    /// Waits until the views give `task` an address on each of its networks and this node has
    /// their overlays; returns with the state locked.
    async fn wait_for_addresses(
        &self,
        task: &Task,
    ) -> Result<(tokio::sync::MutexGuard<'_, State>, Vec<(String, Ipv4Addr)>)> {
        let deadline = tokio::time::Instant::now() + self.config.attach_deadline;
        let mut applied = self.applied.subscribe();
        loop {
            applied.borrow_and_update();
            let state = self.state.lock().await;
            let missing = match state.views.attachments(task) {
                Ok(found) => match found.iter().find(|(id, _)| !state.networks.contains_key(id)) {
                    None => return Ok((state, found)),
                    Some((id, _)) => id.clone(),
                },
                Err(target) => target,
            };
            drop(state);
            let not_ready = || Error::NotReady {
                task: task.id.clone(),
                network: missing.clone(),
                seconds: self.config.attach_deadline.as_secs(),
            };
            match tokio::time::timeout_at(deadline, applied.changed()).await {
                Ok(Ok(())) => {}
                _ => return Err(not_ready()),
            }
        }
    }

    /// For executors that make their own namespace: attaches the started task's process
    /// namespace to its networks and sets its VIP table.
    pub async fn started(&self, task_id: &str, pid: i64) -> Result<()> {
        let Mode::Plane { plane, .. } = &self.mode else {
            return Ok(());
        };
        let mut state = self.state.lock().await;
        let State {
            networks,
            sandboxes,
            views,
            ..
        } = &mut *state;
        let Some(sandbox) = sandboxes.get_mut(task_id) else {
            return Ok(());
        };
        if sandbox.netns.is_some() {
            return Ok(());
        }
        let path = PathBuf::from(format!("/proc/{pid}/ns/net"));
        let made: Vec<(NetworkSpec, Attachment)> = sandbox
            .attachments
            .iter()
            .filter_map(|a| networks.get(&a.network_id).map(|l| (l.spec.clone(), a.clone())))
            .collect();
        let plane_error = |what, source| Error::Plane {
            task: task_id.to_owned(),
            what,
            source,
        };
        attach_all(plane.as_ref(), &path, &made)
            .await
            .map_err(|e| plane_error("attach the started task to its networks", e))?;
        let ids: Vec<String> = sandbox.attachments.iter().map(|a| a.network_id.clone()).collect();
        let wanted = vips::task_vips(views, &ids);
        plane
            .set_vips(&path, &wanted)
            .await
            .map_err(|e| plane_error("set the task's VIP table", e))?;
        sandbox.vips = wanted;
        sandbox.netns = Some(path);
        Ok(())
    }

    /// Takes task `task_id`'s sandbox down: its endpoints, namespace and files. Releasing a
    /// task without a sandbox still removes leftovers of its name.
    pub async fn release(&self, task_id: &str) {
        let Mode::Plane {
            plane, namespaces, ..
        } = &self.mode
        else {
            return;
        };
        let mut state = self.state.lock().await;
        if let Some(sandbox) = state.sandboxes.remove(task_id) {
            for a in &sandbox.attachments {
                if let Err(error) = plane.detach(a.vni, a.address, sandbox.netns.as_deref()).await {
                    tracing::warn!(task = %task_id, network = %a.network_id, %error, "detaching failed");
                }
            }
        }
        if let Err(error) = namespaces.delete(&names::task_netns(&self.config.tag, task_id)) {
            tracing::warn!(task = %task_id, %error, "removing the task's namespace failed");
        }
        if let Err(error) = files::remove(&self.config.sandboxes, task_id) {
            tracing::warn!(task = %task_id, %error, "removing the task's sandbox files failed");
        }
    }

    /// After an agent restart, with the first full assignment (`held`): re-adopts the named
    /// namespaces of held tasks (their endpoints survived), then removes every other task
    /// namespace, sandbox directory and overlay of this plane's tag. Runs once.
    pub async fn recover(&self, held: &[std::sync::Arc<Task>]) {
        let Mode::Plane {
            plane, namespaces, ..
        } = &self.mode
        else {
            return;
        };
        let mut state = self.state.lock().await;
        if state.recovered {
            return;
        }
        state.recovered = true;
        let prefix = names::task_prefix(&self.config.tag);
        let present = namespaces.list(&prefix).unwrap_or_else(|error| {
            tracing::warn!(%error, "listing task namespaces failed");
            Vec::new()
        });
        let held_ids: HashSet<&str> = held.iter().map(|t| t.id.as_str()).collect();
        for task in held {
            let name = names::task_netns(&self.config.tag, &task.id);
            if state.sandboxes.contains_key(&task.id) || !present.contains(&name) {
                continue;
            }
            let Ok(found) = state.views.attachments(task) else {
                continue;
            };
            let attachments: Vec<Attachment> = found
                .into_iter()
                .filter_map(|(network_id, address)| {
                    let vni = state.networks.get(&network_id)?.spec.vni;
                    Some(Attachment {
                        network_id,
                        vni,
                        address,
                    })
                })
                .collect();
            let path = namespaces.path(&name);
            let ids: Vec<String> = attachments.iter().map(|a| a.network_id.clone()).collect();
            let wanted = vips::task_vips(&state.views, &ids);
            if let Err(error) = plane.set_vips(&path, &wanted).await {
                tracing::warn!(task = %task.id, %error, "re-setting a re-adopted task's VIP table failed");
            }
            state.sandboxes.insert(
                task.id.clone(),
                TaskSandbox {
                    netns: Some(path),
                    attachments,
                    vips: wanted,
                },
            );
        }
        for name in present {
            let id = &name[prefix.len()..];
            if !state.sandboxes.contains_key(id)
                && !held_ids.contains(id)
                && let Err(error) = namespaces.delete(&name)
            {
                tracing::warn!(namespace = %name, %error, "removing a stale task namespace failed");
            }
        }
        for id in files::listed(&self.config.sandboxes).unwrap_or_default() {
            if !held_ids.contains(id.as_str()) {
                let _ = files::remove(&self.config.sandboxes, &id);
            }
        }
        let keep: Vec<u32> = state.networks.values().map(|l| l.spec.vni).collect();
        match plane.sweep(&keep).await {
            Ok(report) => tracing::info!(?report, "swept the data plane after start"),
            Err(error) => tracing::warn!(%error, "sweeping the data plane failed"),
        }
    }
}

/// Attaches the namespace at `netns` to each network, as `eth0`, `eth1`, … in order.
async fn attach_all(
    plane: &dyn DataPlane,
    netns: &std::path::Path,
    made: &[(NetworkSpec, Attachment)],
) -> netplane::Result<()> {
    for (i, (spec, attachment)) in made.iter().enumerate() {
        let endpoint = EndpointSpec {
            netns: netns.to_owned(),
            ifname: format!("eth{i}"),
            address: attachment.address,
        };
        plane.attach(spec, &endpoint).await?;
    }
    Ok(())
}
