//! The data plane as the agent sees it: one trait, the kernel's implementation (`Plane`) and a
//! recording fake (`FakePlane`) for tests without root; `conformance` (feature `testbed`) is the
//! behaviour both must show.

use std::net::Ipv4Addr;
use std::path::Path;

use crate::crypt::{PrivateKey, TunnelPeer};
use crate::endpoint::Endpoint;
use crate::error::{Error, Result};
use crate::guard::HostCheck;
use crate::mesh::MeshPort;
use crate::mesh_return::MeshReturn;
use crate::overlay::Overlay;
use crate::plane::{EndpointSpec, NetworkSpec, Plane, RemoteEndpoint};
use crate::sweep::SweepReport;
use crate::vip::VipService;

/// A node's overlay data plane: every call is idempotent, and removing what is gone succeeds.
#[async_trait::async_trait]
pub trait DataPlane: Send + Sync {
    /// Creates or completes network `spec`'s overlay on this node.
    async fn ensure_network(&self, spec: &NetworkSpec) -> Result<Overlay>;
    /// Removes network `vni`'s overlay and its endpoints' interfaces.
    async fn remove_network(&self, vni: u32) -> Result<()>;
    /// Attaches a task's namespace to an existing overlay.
    async fn attach(&self, spec: &NetworkSpec, endpoint: &EndpointSpec) -> Result<Endpoint>;
    /// Detaches the endpoint with `address` from network `vni`.
    async fn detach(&self, vni: u32, address: Ipv4Addr, task_netns: Option<&Path>) -> Result<()>;
    /// Adds or updates remote endpoints of network `vni`.
    async fn add_peers(&self, vni: u32, peers: &[RemoteEndpoint]) -> Result<()>;
    /// Removes remote endpoints of network `vni`.
    async fn remove_peers(&self, vni: u32, peers: &[RemoteEndpoint]) -> Result<()>;
    /// Makes the VIP table of a task's namespace hold exactly `services`.
    async fn set_vips(&self, netns: &Path, services: &[VipService]) -> Result<()>;
    /// Removes overlays of networks not in `keep` and stranded devices.
    async fn sweep(&self, keep: &[u32]) -> Result<SweepReport>;
    /// Makes the node's ingress sandbox on the ingress overlay `spec` (which exists) with the
    /// node's ingress `address`.
    async fn ensure_ingress(&self, spec: &NetworkSpec, address: Ipv4Addr) -> Result<()>;
    /// Makes the routing mesh's tables hold exactly `ports` (sandbox address `address`).
    async fn set_mesh(&self, address: Ipv4Addr, ports: &[MeshPort]) -> Result<()>;
    /// Removes the node's ingress sandbox, its host link and the mesh's tables (host and
    /// sandbox); removing what is gone succeeds.
    async fn remove_ingress(&self) -> Result<()>;
    /// Routes what the task namespace `netns` sends from `address` (its address on `spec`,
    /// attached) through `spec`'s gateway, whatever its default route: a task whose default
    /// route is another network still answers the routing mesh's clients the way they came.
    async fn route_replies(&self, netns: &Path, spec: &NetworkSpec, address: Ipv4Addr) -> Result<()>;
    /// Creates or completes an encrypted network's overlay, whose VXLAN the node's tunnels carry.
    async fn ensure_encrypted_network(&self, spec: &NetworkSpec) -> Result<Overlay> {
        Err(Error::Invalid(format!(
            "network VNI {}: this data plane has no encrypted overlays",
            spec.vni
        )))
    }
    /// Runs the node's tunnels under `key` with exactly `peers` (started on first use; a new key
    /// renegotiates every session).
    async fn set_tunnels(&self, key: &PrivateKey, peers: &[TunnelPeer]) -> Result<()> {
        let _ = (key, peers);
        Err(Error::Invalid("this data plane has no encrypted tunnels".into()))
    }
    /// Stops the node's tunnels, if they run, and removes their routing.
    async fn stop_tunnels(&self) -> Result<()> {
        Ok(())
    }
    /// Makes a task's namespace route replies of route-return mesh connections back through
    /// the sandbox that sent them (`route.sandboxes` empty: that routing removed).
    async fn set_mesh_return(&self, task_netns: &Path, route: &MeshReturn) -> Result<()>;
    /// Looks for the plane's rules in the host namespace (another program, a firewall reload,
    /// may have removed them) and puts back what it can; `mesh`: the mesh's ports as last set.
    async fn check_host(&self, mesh: Option<&[MeshPort]>) -> Result<HostCheck> {
        let _ = mesh;
        Ok(HostCheck::default())
    }
}

#[async_trait::async_trait]
impl DataPlane for Plane {
    async fn ensure_network(&self, spec: &NetworkSpec) -> Result<Overlay> {
        Plane::ensure_network(self, spec).await
    }
    async fn remove_network(&self, vni: u32) -> Result<()> {
        Plane::remove_network(self, vni).await
    }
    async fn attach(&self, spec: &NetworkSpec, endpoint: &EndpointSpec) -> Result<Endpoint> {
        Plane::attach(self, spec, endpoint).await
    }
    async fn detach(&self, vni: u32, address: Ipv4Addr, task_netns: Option<&Path>) -> Result<()> {
        Plane::detach(self, vni, address, task_netns).await
    }
    async fn add_peers(&self, vni: u32, peers: &[RemoteEndpoint]) -> Result<()> {
        Plane::add_peers(self, vni, peers).await
    }
    async fn remove_peers(&self, vni: u32, peers: &[RemoteEndpoint]) -> Result<()> {
        Plane::remove_peers(self, vni, peers).await
    }
    async fn set_vips(&self, netns: &Path, services: &[VipService]) -> Result<()> {
        Plane::set_vips(self, netns, services).await
    }
    async fn sweep(&self, keep: &[u32]) -> Result<SweepReport> {
        Plane::sweep(self, keep).await
    }
    async fn ensure_ingress(&self, spec: &NetworkSpec, address: Ipv4Addr) -> Result<()> {
        Plane::ensure_ingress(self, spec, address).await
    }
    async fn set_mesh(&self, address: Ipv4Addr, ports: &[MeshPort]) -> Result<()> {
        Plane::set_mesh(self, address, ports).await
    }
    async fn remove_ingress(&self) -> Result<()> {
        Plane::remove_ingress(self).await
    }
    async fn route_replies(&self, netns: &Path, spec: &NetworkSpec, address: Ipv4Addr) -> Result<()> {
        Plane::route_replies(self, netns, spec, address).await
    }
    async fn ensure_encrypted_network(&self, spec: &NetworkSpec) -> Result<Overlay> {
        Plane::ensure_encrypted_network(self, spec).await
    }
    async fn set_tunnels(&self, key: &PrivateKey, peers: &[TunnelPeer]) -> Result<()> {
        Plane::set_tunnels(self, key, peers).await
    }
    async fn stop_tunnels(&self) -> Result<()> {
        Plane::stop_tunnels(self).await
    }
    async fn set_mesh_return(&self, task_netns: &Path, route: &MeshReturn) -> Result<()> {
        Plane::set_mesh_return(self, task_netns, route).await
    }
    async fn check_host(&self, mesh: Option<&[MeshPort]>) -> Result<HostCheck> {
        Plane::check_host(self, mesh).await
    }
}
