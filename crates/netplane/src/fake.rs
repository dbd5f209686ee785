//! A data plane that only records: the state a test asserts on, with the real plane's checks
//! (the conformance suite holds both to the same behaviour).

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::crypt::{PrivateKey, PublicKey, TUNNEL_OVERHEAD, TunnelPeer};
use crate::driver::DataPlane;
use crate::endpoint::Endpoint;
use crate::error::{Error, Result};
use crate::mesh::{self, MeshPort};
use crate::mesh_return::MeshReturn;
use crate::names;
use crate::overlay::Overlay;
use crate::plane::{EndpointSpec, NetworkSpec, RemoteEndpoint, VXLAN_OVERHEAD};
use crate::sweep::SweepReport;
use crate::vip::{self, VipService};

/// What a `FakePlane` holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FakeState {
    /// Overlays by VNI.
    pub networks: BTreeMap<u32, NetworkSpec>,
    /// Local endpoints by (VNI, address).
    pub endpoints: BTreeMap<(u32, Ipv4Addr), EndpointSpec>,
    /// Remote endpoints by VNI (by address: an update replaces the entry).
    pub peers: BTreeMap<u32, BTreeMap<Ipv4Addr, RemoteEndpoint>>,
    /// VIP tables by task namespace.
    pub vips: BTreeMap<PathBuf, Vec<VipService>>,
    /// The ingress sandbox: (ingress VNI, its address), once made.
    pub ingress: Option<(u32, Ipv4Addr)>,
    /// The routing mesh's ports as last set.
    pub mesh: Vec<MeshPort>,
    /// Route-return routing by task namespace.
    pub returns: BTreeMap<PathBuf, MeshReturn>,
    /// Reply routes by (task namespace, source address): the gateway they go through.
    pub reply_routes: BTreeMap<(PathBuf, Ipv4Addr), Ipv4Addr>,
    /// Default routes by task namespace: the gateway of the last non-internal attach, as the
    /// kernel's route replacement leaves it.
    pub default_routes: BTreeMap<PathBuf, Ipv4Addr>,
}

/// What a `FakePlane` holds of the encrypted overlay.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FakeTunnels {
    /// The public half of the key the tunnels run under; `None` while they do not run.
    pub key: Option<PublicKey>,
    /// The peers, as last set.
    pub peers: Vec<TunnelPeer>,
    /// VNIs whose overlay was made encrypted.
    pub encrypted: BTreeSet<u32>,
}

/// A recording data plane for tests of the agent without root.
#[derive(Debug)]
pub struct FakePlane {
    tag: String,
    underlay_mtu: u32,
    state: Mutex<FakeState>,
    tunnels: Mutex<FakeTunnels>,
}

impl FakePlane {
    /// A fake plane tagged `tag` whose underlay has MTU `underlay_mtu`.
    pub fn new(tag: &str, underlay_mtu: u32) -> Self {
        FakePlane {
            tag: tag.to_owned(),
            underlay_mtu,
            state: Mutex::new(FakeState::default()),
            tunnels: Mutex::new(FakeTunnels::default()),
        }
    }

    /// A copy of what the plane holds of the encrypted overlay now.
    pub fn tunnels(&self) -> FakeTunnels {
        self.lock_tunnels().clone()
    }

    fn lock_tunnels(&self) -> std::sync::MutexGuard<'_, FakeTunnels> {
        // As `lock`: every change is one assignment.
        self.tunnels
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A copy of what the plane holds now.
    pub fn state(&self) -> FakeState {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FakeState> {
        // The state stays consistent across a panic elsewhere: every change is one insert or remove.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn mtu(&self, spec: &NetworkSpec) -> u32 {
        spec.mtu
            .unwrap_or(self.underlay_mtu.saturating_sub(VXLAN_OVERHEAD))
    }
}

#[async_trait::async_trait]
impl DataPlane for FakePlane {
    async fn ensure_network(&self, spec: &NetworkSpec) -> Result<Overlay> {
        spec.validate()?;
        self.lock().networks.insert(spec.vni, spec.clone());
        Ok(Overlay {
            vni: spec.vni,
            netns: PathBuf::from(crate::DEFAULT_NETNS_DIR).join(names::overlay_netns(&self.tag, spec.vni)),
            mtu: self.mtu(spec),
        })
    }

    async fn remove_network(&self, vni: u32) -> Result<()> {
        self.lock_tunnels().encrypted.remove(&vni);
        let mut state = self.lock();
        forget_network(&mut state, vni);
        state.peers.remove(&vni);
        Ok(())
    }

    async fn attach(&self, spec: &NetworkSpec, endpoint: &EndpointSpec) -> Result<Endpoint> {
        spec.validate()?;
        crate::endpoint::check(&spec.for_address(endpoint.address), endpoint)?;
        let mut state = self.lock();
        if !state.networks.contains_key(&spec.vni) {
            return Err(Error::Invalid(format!(
                "network VNI {} has no overlay on this node",
                spec.vni
            )));
        }
        state
            .endpoints
            .insert((spec.vni, endpoint.address), endpoint.clone());
        if !spec.internal {
            state.default_routes.insert(endpoint.netns.clone(), spec.gateway);
        }
        Ok(Endpoint {
            address: endpoint.address,
            mac: names::mac_for(endpoint.address),
            mtu: self.mtu(spec),
        })
    }

    async fn detach(&self, vni: u32, address: Ipv4Addr, _task_netns: Option<&Path>) -> Result<()> {
        let mut state = self.lock();
        if let Some(gone) = state.endpoints.remove(&(vni, address))
            && state.networks.get(&vni).map(|n| n.gateway) == state.default_routes.get(&gone.netns).copied()
        {
            state.default_routes.remove(&gone.netns);
        }
        state.reply_routes.retain(|(_, from), _| *from != address);
        Ok(())
    }

    async fn route_replies(&self, netns: &Path, spec: &NetworkSpec, address: Ipv4Addr) -> Result<()> {
        let mut state = self.lock();
        if state
            .endpoints
            .get(&(spec.vni, address))
            .is_none_or(|e| e.netns != netns)
        {
            return Err(Error::Invalid(format!(
                "{address} is not attached to network VNI {} in {}",
                spec.vni,
                netns.display()
            )));
        }
        state
            .reply_routes
            .insert((netns.to_owned(), address), spec.gateway);
        Ok(())
    }

    async fn add_peers(&self, vni: u32, peers: &[RemoteEndpoint]) -> Result<()> {
        let mut state = self.lock();
        if !state.networks.contains_key(&vni) {
            return Err(Error::Invalid(format!(
                "network VNI {vni} has no overlay on this node"
            )));
        }
        let known = state.peers.entry(vni).or_default();
        for peer in peers {
            known.insert(peer.address, *peer);
        }
        Ok(())
    }

    async fn remove_peers(&self, vni: u32, peers: &[RemoteEndpoint]) -> Result<()> {
        if let Some(known) = self.lock().peers.get_mut(&vni) {
            for peer in peers {
                known.remove(&peer.address);
            }
        }
        Ok(())
    }

    async fn set_vips(&self, netns: &Path, services: &[VipService]) -> Result<()> {
        // The same checks as the real table's, so a fake never accepts what the kernel would refuse.
        vip::ruleset(&names::nft_table(&self.tag), services)?;
        let mut state = self.lock();
        if services.is_empty() {
            state.vips.remove(netns);
        } else {
            state.vips.insert(netns.to_owned(), services.to_vec());
        }
        Ok(())
    }

    async fn sweep(&self, keep: &[u32]) -> Result<SweepReport> {
        let keep: BTreeSet<_> = keep.iter().copied().collect();
        let mut state = self.lock();
        let gone: Vec<u32> = state
            .networks
            .keys()
            .copied()
            .filter(|vni| !keep.contains(vni))
            .collect();
        for vni in &gone {
            forget_network(&mut state, *vni);
            state.peers.remove(vni);
        }
        Ok(SweepReport {
            namespaces: gone
                .iter()
                .map(|vni| names::overlay_netns(&self.tag, *vni))
                .collect(),
            ..SweepReport::default()
        })
    }

    async fn ensure_ingress(&self, spec: &NetworkSpec, address: Ipv4Addr) -> Result<()> {
        spec.validate()?;
        let mut state = self.lock();
        if !state.networks.contains_key(&spec.vni) {
            return Err(Error::Invalid(format!(
                "the ingress network (VNI {}) has no overlay on this node",
                spec.vni
            )));
        }
        state.ingress = Some((spec.vni, address));
        Ok(())
    }

    async fn set_mesh(&self, address: Ipv4Addr, ports: &[MeshPort]) -> Result<()> {
        let table = mesh::table_name(&self.tag);
        mesh::sandbox_ruleset(&table, address, ports)?;
        // Built only to refuse what the kernel plane would; no address is needed for that.
        mesh::host_ruleset(&table, Ipv4Addr::UNSPECIFIED, ports)?;
        self.lock().mesh = ports.to_vec();
        Ok(())
    }

    async fn remove_ingress(&self) -> Result<()> {
        let mut state = self.lock();
        if let Some((vni, address)) = state.ingress.take() {
            state.endpoints.remove(&(vni, address));
        }
        state.mesh.clear();
        Ok(())
    }

    async fn set_mesh_return(&self, task_netns: &Path, route: &MeshReturn) -> Result<()> {
        let mut state = self.lock();
        if route.sandboxes.is_empty() {
            state.returns.remove(task_netns);
        } else {
            state.returns.insert(task_netns.to_owned(), route.clone());
        }
        Ok(())
    }

    async fn ensure_encrypted_network(&self, spec: &NetworkSpec) -> Result<Overlay> {
        let mut overlay = self.ensure_network(spec).await?;
        if spec.mtu.is_none() {
            overlay.mtu = overlay.mtu.saturating_sub(TUNNEL_OVERHEAD);
        }
        self.lock_tunnels().encrypted.insert(spec.vni);
        Ok(overlay)
    }

    async fn set_tunnels(&self, key: &PrivateKey, peers: &[TunnelPeer]) -> Result<()> {
        let mut tunnels = self.lock_tunnels();
        tunnels.key = Some(key.public());
        tunnels.peers = peers.to_vec();
        Ok(())
    }

    async fn stop_tunnels(&self) -> Result<()> {
        let mut tunnels = self.lock_tunnels();
        tunnels.key = None;
        tunnels.peers.clear();
        Ok(())
    }
}

/// Drops network `vni` and what its endpoints brought: their reply routes, and the default
/// routes through its gateway (the kernel's go with the interfaces).
fn forget_network(state: &mut FakeState, vni: u32) {
    let gateway = state.networks.remove(&vni).map(|n| n.gateway);
    let gone: Vec<EndpointSpec> = state
        .endpoints
        .iter()
        .filter(|((on, _), _)| *on == vni)
        .map(|(_, e)| e.clone())
        .collect();
    state.endpoints.retain(|(on, _), _| *on != vni);
    for endpoint in gone {
        state
            .reply_routes
            .remove(&(endpoint.netns.clone(), endpoint.address));
        if gateway.is_some() && state.default_routes.get(&endpoint.netns).copied() == gateway {
            state.default_routes.remove(&endpoint.netns);
        }
    }
}
