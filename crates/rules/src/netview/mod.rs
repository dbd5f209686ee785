//! Network views: what a node is told about the overlay networks its tasks use, built from a
//! store snapshot (the dispatcher sends them beside the assignments; the agent applies them).
//!
//! ```text
//! State ─► networks_of_node(node)   the networks its assigned tasks hold addresses on
//!       ─► network_view(network)    every placed, unstopped task holding an address there
//!                                   (endpoint: address, VTEP = its node's address, aliases,
//!                                   serving) + the services with tasks or a VIP there
//! old view, new view ─► diff ─► NetworkDelta (empty: nothing to send)   (diff.rs)
//! ```
//! A view depends only on its network, never on who asks: the dispatcher builds it once per
//! network and sends every node that holds the network the same bytes.

mod diff;

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use state::{Owner, State};
use types::network::MTU_OPTION;
use types::{EndpointView, Network, NetworkView, ServiceView, Task, TaskState};

pub use diff::{compose, diff, is_empty, same_network};

use crate::allocator::resolve;

/// True if `task` belongs in `node`'s assignment set (the dispatcher's rule).
pub fn assigned_to(task: &Task, node: &str) -> bool {
    task.node_id == node && task.status.state >= TaskState::Assigned
}

/// True while a task's endpoint is on its networks: given to a node and not stopped.
fn placed(task: &Task) -> bool {
    !task.node_id.is_empty() && task.status.state >= TaskState::Assigned && !task.status.state.is_terminal()
}

/// A VIP backend and a DNS answer: observed and desired running. (An unhealthy task does not
/// stay running: the agent fails it.)
fn serving(task: &Task) -> bool {
    task.status.state == TaskState::Running && task.desired_state == TaskState::Running
}

/// The IDs of the networks `node`'s assigned tasks hold addresses on, plus the ingress
/// network (every node serves the routing mesh, with or without tasks), ordered.
pub fn networks_of_node(state: &State, node: &str) -> BTreeSet<String> {
    let mut nets: BTreeSet<String> = state
        .tasks_on_node(node)
        .filter(|t| assigned_to(t, node))
        .flat_map(|t| state.addresses(&Owner::Task(t.id.clone())))
        .map(|a| a.network_id.clone())
        .collect();
    if let Some(ingress) = ingress_network(state) {
        nets.insert(ingress.id.clone());
    }
    nets
}

/// The routing mesh's network, if the cluster has one.
pub fn ingress_network(state: &State) -> Option<&std::sync::Arc<Network>> {
    state.networks().find(|n| n.spec.ingress)
}

/// Node `node`'s ingress sandbox as an endpoint of the ingress network (never serving, no
/// service): its peers need FDB and neighbour entries to send replies back to it.
fn node_sandbox(state: &State, node: &str, addr: Ipv4Addr) -> Option<EndpointView> {
    let vtep = vtep_of(state, node)?;
    Some(EndpointView {
        task_id: format!("{}{node}", types::netview::NODE_SANDBOX_PREFIX),
        task_name: "ingress-sbox".into(),
        service_id: String::new(),
        node_id: node.to_string(),
        vtep,
        addr,
        aliases: Vec::new(),
        serving: false,
    })
}

/// The views of every network `node`'s assigned tasks attach to, ordered by network ID.
pub fn views_for_node(state: &State, node: &str) -> Vec<NetworkView> {
    networks_of_node(state, node)
        .iter()
        .filter_map(|id| network_view(state, id))
        .collect()
}

/// The aliases a task spec gives on `network`.
fn aliases_on(state: &State, spec: &types::TaskSpec, network: &Network) -> Vec<String> {
    spec.networks
        .iter()
        .filter(|a| resolve(state, &a.target).is_some_and(|n| n.id == network.id))
        .flat_map(|a| a.aliases.iter().cloned())
        .collect()
}

/// A node's data-path address, if it has a usable IPv4 one.
fn vtep_of(state: &State, node: &str) -> Option<Ipv4Addr> {
    state.node(node).and_then(|n| n.status.addr.parse().ok())
}

/// The endpoint of `task` holding `addr` on `network`; `None` while it is not placed, or
/// when its node has no IPv4 address to tunnel to.
fn endpoint(state: &State, network: &Network, task: &Task, addr: Ipv4Addr) -> Option<EndpointView> {
    if !placed(task) {
        return None;
    }
    let Some(vtep) = vtep_of(state, &task.node_id) else {
        tracing::debug!(
            task = %task.id,
            node = %task.node_id,
            network = %network.spec.name,
            "endpoint left out of the network view: its node has no IPv4 address"
        );
        return None;
    };
    Some(EndpointView {
        task_id: task.id.clone(),
        // A standalone container answers to its own name, as on dockerd's user networks.
        task_name: if task.is_attachment() {
            task.service_name.clone()
        } else {
            task.name()
        },
        service_id: task.service_id.clone(),
        node_id: task.node_id.clone(),
        vtep,
        addr,
        aliases: aliases_on(state, &task.spec, network),
        serving: serving(task),
    })
}

/// The complete view of network `network_id` (endpoints ordered by task ID, services by
/// service ID); `None` if there is no such network.
pub fn network_view(state: &State, network_id: &str) -> Option<NetworkView> {
    let network = state.network(network_id)?;
    let mut endpoints = Vec::new();
    let mut vips: BTreeMap<&str, Ipv4Addr> = BTreeMap::new();
    for (addr, owner) in state.held_on(&network.id) {
        match owner {
            Owner::Task(id) => {
                if let Some(e) = state.task(id).and_then(|t| endpoint(state, network, t, addr)) {
                    endpoints.push(e);
                }
            }
            Owner::Service(id) => {
                vips.insert(id.as_str(), addr);
            }
            Owner::Node(id) => endpoints.extend(node_sandbox(state, id, addr)),
        }
    }
    endpoints.sort_by(|a, b| a.task_id.cmp(&b.task_id));
    // Services with a VIP here, and those whose tasks are here (dnsrr ones have no VIP).
    let mut ids: BTreeSet<&str> = vips.keys().copied().collect();
    // Attachments of standalone containers (no service) and node sandboxes are endpoints only.
    ids.extend(
        endpoints
            .iter()
            .filter(|e| !e.is_node_sandbox())
            .map(|e| e.service_id.as_str())
            .filter(|id| !id.is_empty()),
    );
    let services = ids
        .into_iter()
        .map(|id| service_view(state, network, id, vips.get(id).copied(), &endpoints))
        .collect();
    Some(NetworkView {
        network_id: network.id.clone(),
        name: network.spec.name.clone(),
        vni: network.vni,
        pools: network.pools.clone(),
        internal: network.spec.internal,
        ingress: network.spec.ingress,
        mtu: network.spec.options.get(MTU_OPTION).and_then(|m| m.parse().ok()),
        endpoints,
        services,
        encrypted: network.spec.encrypted(),
    })
}

/// A service as seen on `network`. Tasks outlive their service: a removed service's tasks
/// still answer by the name they were started under, without aliases or VIP.
fn service_view(
    state: &State,
    network: &Network,
    id: &str,
    vip: Option<Ipv4Addr>,
    endpoints: &[EndpointView],
) -> ServiceView {
    match state.service(id) {
        Some(s) => {
            let route_return_ports = if network.spec.ingress {
                crate::controlapi::client_address::route_return_ports(&s.spec.labels, &s.endpoint.ports)
                    .unwrap_or_default()
            } else {
                Vec::new()
            };
            ServiceView {
                service_id: id.to_string(),
                name: s.spec.name.clone(),
                vip,
                aliases: aliases_on(state, &s.spec.task, network),
                ports: if network.spec.ingress {
                    s.endpoint
                        .ports
                        .iter()
                        .filter(|p| p.published_port != 0)
                        .cloned()
                        .collect()
                } else {
                    Vec::new()
                },
                // Validated at create and update; a stored value unknown here keeps SNAT.
                route_return: !route_return_ports.is_empty(),
                route_return_ports,
            }
        }
        None => {
            let name = endpoints
                .iter()
                .find(|e| e.service_id == id)
                .and_then(|e| state.task(&e.task_id))
                .map(|t| t.service_name.clone())
                .unwrap_or_default();
            ServiceView {
                service_id: id.to_string(),
                name,
                vip,
                aliases: Vec::new(),
                ports: Vec::new(),
                route_return: false,
                route_return_ports: Vec::new(),
            }
        }
    }
}

#[cfg(test)]
mod tests;
