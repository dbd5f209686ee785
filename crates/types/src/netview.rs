//! What a node is told about the overlay networks its tasks use, beside its assignments: each
//! network's allocation, every endpoint on it cluster-wide (for the VXLAN FDB and neighbour
//! entries, the service DNS and the VIP backends) and the services with their VIPs.
//!
//! Built by the dispatcher from the store (a pure function in the rules crate), applied by the
//! agent to its data plane. A node gets the view of exactly the networks it has tasks on; each
//! [`NetworkView`] it receives replaces the one it had for that network.
//!
//! Wire-only (never stored): fields may change with the RPC version.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::network::Pool;

/// One overlay network as a node needs it, complete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkView {
    /// Network ID.
    pub network_id: String,
    /// Network name (the DNS scope's name in logs and `docker network inspect`).
    pub name: String,
    /// VXLAN network identifier.
    pub vni: u32,
    /// Allocated pools (subnet, gateway); endpoints take addresses from these.
    pub pools: Vec<Pool>,
    /// No route out of the network; DNS forwards nothing outside it.
    pub internal: bool,
    /// The routing mesh's network.
    pub ingress: bool,
    /// MTU from the network's `com.docker.network.driver.mtu` option, if given.
    pub mtu: Option<u32>,
    /// Every task endpoint on this network, on every node, this node's own included.
    pub endpoints: Vec<EndpointView>,
    /// Services with tasks or a VIP on this network.
    pub services: Vec<ServiceView>,
    /// Created with `--opt encrypted`: its VXLAN travels only through the node's WireGuard
    /// tunnels, to the peers whose keys the dispatcher hands out ([`PeerKey`]).
    pub encrypted: bool,
}

/// A node's WireGuard public key, as the dispatcher hands it to the nodes sharing an encrypted
/// network with it (the private half never leaves that node).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerKey {
    /// The node whose key this is (its endpoints' `node_id`).
    pub node_id: String,
    /// Its current Curve25519 public key.
    pub public_key: [u8; 32],
}

/// A task's attachment to one network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointView {
    /// Task ID.
    pub task_id: String,
    /// Task name as Swarm names containers: `<service>.<slot>.<task id>` (global services:
    /// `<service>.<node id>.<task id>`).
    pub task_name: String,
    /// The task's service ID.
    pub service_id: String,
    /// The node the task is assigned to.
    pub node_id: String,
    /// That node's data-path address (the VXLAN tunnel endpoint).
    pub vtep: Ipv4Addr,
    /// The task's address on this network.
    pub addr: Ipv4Addr,
    /// DNS aliases of this attachment (the service spec's network aliases).
    pub aliases: Vec<String>,
    /// Running (and not unhealthy), and desired running: a VIP backend and a DNS answer.
    /// Endpoints of tasks that are assigned but not serving still get FDB/neighbour entries,
    /// so a task is reachable the moment it starts.
    pub serving: bool,
}

/// A service as seen on one network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceView {
    /// Service ID.
    pub service_id: String,
    /// Service name (the DNS name).
    pub name: String,
    /// The service's VIP on this network; `None` for `--endpoint-mode dnsrr`.
    pub vip: Option<Ipv4Addr>,
    /// DNS aliases the service's spec gives on this network.
    pub aliases: Vec<String>,
    /// On the ingress network: the service's published ports as allocated (ingress and host
    /// mode, published port set); empty elsewhere.
    pub ports: Vec<crate::PortConfig>,
    /// On the ingress network: the service asked for route-return (label
    /// `com.shoal.mesh.client-address=route-return`), so its tasks see the client's address
    /// on connections other nodes receive (on any of its ports: the task's return routing).
    pub route_return: bool,
    /// On the ingress network: the (protocol, published port) of each port whose connections
    /// from other nodes keep the client's address (the service label, or the port's own
    /// `com.shoal.mesh.client-address.<port>[/<protocol>]`); the protocol as the labels name it.
    pub route_return_ports: Vec<(String, u32)>,
}

/// The `task_id` prefix of a node's ingress sandbox endpoint on the ingress network (the
/// rest is the node ID); such an endpoint has no service and never serves.
pub const NODE_SANDBOX_PREFIX: &str = "ingress-sbox-";

impl EndpointView {
    /// True for a node's ingress sandbox rather than a task.
    pub fn is_node_sandbox(&self) -> bool {
        self.service_id.is_empty() && self.task_id.starts_with(NODE_SANDBOX_PREFIX)
    }
}

/// A change to a network view the node already holds: what the dispatcher sends when only
/// some endpoints or services changed, so a change costs each node its size, not the network's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkDelta {
    /// Network ID (the node holds its view).
    pub network_id: String,
    /// Endpoints added or changed (matched by task ID).
    pub endpoints: Vec<EndpointView>,
    /// Task IDs of endpoints gone.
    pub endpoints_removed: Vec<String>,
    /// Services added or changed (matched by service ID).
    pub services: Vec<ServiceView>,
    /// Service IDs gone.
    pub services_removed: Vec<String>,
}

impl NetworkView {
    /// Applies `delta` (whose `network_id` is this view's).
    pub fn apply(&mut self, delta: &NetworkDelta) {
        self.endpoints
            .retain(|e| !delta.endpoints_removed.contains(&e.task_id));
        for e in &delta.endpoints {
            match self.endpoints.iter_mut().find(|x| x.task_id == e.task_id) {
                Some(x) => *x = e.clone(),
                None => self.endpoints.push(e.clone()),
            }
        }
        self.services
            .retain(|s| !delta.services_removed.contains(&s.service_id));
        for s in &delta.services {
            match self.services.iter_mut().find(|x| x.service_id == s.service_id) {
                Some(x) => *x = s.clone(),
                None => self.services.push(s.clone()),
            }
        }
    }

    /// The serving endpoints of `service_id`: a VIP's backends, the answers for `tasks.<name>`.
    pub fn backends<'a>(&'a self, service_id: &'a str) -> impl Iterator<Item = &'a EndpointView> + 'a {
        self.endpoints
            .iter()
            .filter(move |e| e.serving && e.service_id == service_id)
    }

    /// The ingress sandbox endpoint of node `node_id`, if the view lists one.
    pub fn node_sandbox(&self, node_id: &str) -> Option<&EndpointView> {
        self.endpoints
            .iter()
            .find(|e| e.is_node_sandbox() && e.node_id == node_id)
    }

    /// The endpoint of task `task_id`, if it is on this network.
    pub fn endpoint(&self, task_id: &str) -> Option<&EndpointView> {
        self.endpoints.iter().find(|e| e.task_id == task_id)
    }
}
