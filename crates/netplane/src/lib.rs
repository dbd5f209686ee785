//! The node-side overlay data plane: what makes a task on one node reach a task on another.
//!
//! In shoal's data flow it sits under the agent: the manager allocates a network's VNI, subnet
//! and addresses; the agent hands them here as plain values, and this crate makes them real in
//! the kernel, the way libnetwork's overlay driver does, over rtnetlink and nftables:
//!
//! - `overlay`: per network, a namespace with bridge `br0` and a VXLAN device (learning off);
//! - `endpoint`: a task's veth into that bridge, with its address, MAC and default route;
//! - `peer`: static FDB and neighbour entries for endpoints on other nodes;
//! - `vip`: a VIP table in a task's namespace (nftables, `numgen random` over the backends);
//! - `ingress`, `mesh`: the routing mesh, a sandbox per node between the host and the ingress
//!   overlay, and its nftables rules (published ports balanced over the tasks);
//! - `sweep`: removal of what a crashed agent left;
//! - `guard`: what a firewall reload takes from the host namespace, put back while the agent runs;
//! - `dns`: service DNS, a resolver per network in its overlay namespace;
//! - `crypt`: the encrypted overlay, userspace WireGuard tunnels between nodes carrying VXLAN;
//! - `probe`: data-plane liveness, peers' VTEPs pinged on the underlay (a lost host's
//!   endpoints leave the balancers before the manager's verdict);
//! - `driver`: the `DataPlane` trait over all of it, with `FakePlane` for tests without root and a
//!   `conformance` suite (feature `testbed`) both pass;
//! - `testbed` (feature): hosts made of network namespaces, for multi-host tests.
//!
//! Nothing here runs `ip`: netlink sockets and `nft` children are made on short-lived threads
//! that entered the namespace they work in (`netns`).

#[cfg(feature = "testbed")]
pub mod capture;
#[cfg(feature = "testbed")]
pub mod conformance;
pub mod crypt;
pub mod dns;
mod driver;
mod endpoint;
mod error;
mod fake;
mod firewall;
mod guard;
mod ingress;
mod links;
pub mod mesh;
pub mod mesh_return;
pub mod names;
mod netns;
mod overlay;
mod peer;
mod plane;
pub mod probe;
mod sweep;
#[cfg(feature = "testbed")]
pub mod testbed;
mod vip;

pub use driver::DataPlane;
pub use endpoint::Endpoint;
pub use error::{Error, Result};
pub use fake::{FakePlane, FakeState, FakeTunnels};
pub use guard::HostCheck;
pub use mesh::{MeshPort, PublishMode, RemoteTask};
pub use mesh_return::MeshReturn;
pub use overlay::Overlay;
pub use plane::{
    DEFAULT_NETNS_DIR, DEFAULT_VXLAN_PORT, EndpointSpec, NetworkSpec, Plane, PlaneConfig, RemoteEndpoint,
    SubnetGateway, VXLAN_OVERHEAD,
};
pub use sweep::SweepReport;
pub use vip::{Protocol, VipPort, VipService};

/// Creates the named network namespace `dir/name` (kept if it exists) and returns its path.
pub async fn create_netns(dir: &std::path::Path, name: &str) -> Result<std::path::PathBuf> {
    netns::create(dir, name).await
}

/// Removes the named network namespace at `path`; a missing one is not an error.
pub fn delete_netns(path: &std::path::Path) -> Result<()> {
    netns::delete(path)
}

/// The names in the namespace directory `dir` that start with `prefix`, sorted.
pub fn list_netns(dir: &std::path::Path, prefix: &str) -> Result<Vec<String>> {
    netns::list(dir, prefix)
}

/// Runs `work` on a thread of its own inside the network namespace at `netns` (sockets it opens
/// stay in that namespace).
pub async fn run_in_netns<T, F>(netns: &std::path::Path, work: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
{
    netns::run_in(netns, work).await
}
