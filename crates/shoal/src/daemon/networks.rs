//! The daemon's networks: the API's network calls over the manager, the VIPs shown in a
//! service's `Endpoint`, and the addresses shown in a task's `NetworksAttachments`.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use api::Attachment;
use manager::{Error, Manager};
use rules::controlapi::network;
use store::{Owner, State};
use types::{Network, NetworkSpec, Service, TaskState};

type Result<T> = std::result::Result<T, Error>;

/// Plans and commits a network create; the network as created.
pub async fn create(m: &Manager, spec: NetworkSpec) -> Result<Arc<Network>> {
    let (op, mut created) = network::create(&*m.synced_view().await, m.new_id(), spec)?;
    let index = m.propose(vec![op]).await?;
    created.meta.version = index;
    Ok(Arc::new(created))
}

/// A network by ID, name or unique ID prefix.
pub async fn lookup(m: &Manager, key: &str) -> Result<Arc<Network>> {
    m.synced_view().await.lookup_network(key).map_err(|e| match e {
        store::LookupError::NotFound { .. } => Error::NotFound(format!("network {key} not found")),
        store::LookupError::Ambiguous { .. } => Error::InvalidArgument(format!(
            "network {key} is ambiguous (multiple matches found based on ID or name prefix)"
        )),
    })
}

/// How long a remove waits for the tasks of removed services to let go of a network.
const RELEASE_WAIT: Duration = Duration::from_secs(30);

/// Removes a network; refused while a service uses it or a task that is to keep running
/// holds an address on it. Tasks that are going (their service removed, or told to stop)
/// are waited for, up to [`RELEASE_WAIT`]: `docker stack rm` removes a stack's services and
/// then at once its networks, and Swarm accepts that (it deletes the network once the
/// tasks are gone); here the address table must be empty first, so the call waits for it.
pub async fn remove(m: &Manager, key: &str) -> Result<()> {
    let deadline = Instant::now() + RELEASE_WAIT;
    m.synced_view().await;
    loop {
        let (view, mut watch) = m.store().view_and_watch();
        match network::remove(&view, key) {
            Ok(op) => {
                m.propose(vec![op]).await?;
                return Ok(());
            }
            Err(e) if only_leaving_tasks(&view, key) && Instant::now() < deadline => {
                if tokio::time::timeout_at(deadline, watch.next()).await.is_err() {
                    return Err(e);
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// Whether every holder of an address on network `key` is a task on its way out and no
/// service attaches to it.
fn only_leaving_tasks(view: &State, key: &str) -> bool {
    let Ok(net) = view.lookup_network(key) else {
        return false;
    };
    let used_by_service = view.services().any(|s| {
        s.spec
            .task
            .networks
            .iter()
            .any(|n| n.target == net.id || n.target == net.spec.name)
    });
    !used_by_service
        && view.held_on(&net.id).all(|(_, owner)| match owner {
            Owner::Task(id) => view.task(id).is_none_or(|t| {
                t.desired_state > TaskState::Running || view.service(&t.service_id).is_none()
            }),
            Owner::Service(id) => view.service(id).is_none(),
            // A node's ingress sandbox stays while the node does.
            Owner::Node(_) => false,
        })
}

/// Removes every unused network whose labels match; their names.
pub async fn prune(m: &Manager, labels: &[String], not_labels: &[String]) -> Result<Vec<String>> {
    let (ops, names) = network::prune(&*m.synced_view().await, labels, not_labels);
    if !ops.is_empty() {
        m.propose(ops).await?;
    }
    Ok(names)
}

/// `service` with its VIPs from the address table in `Endpoint.VirtualIPs`.
pub fn with_vips(view: &State, service: Arc<Service>) -> Arc<Service> {
    let vips = view.addresses(&Owner::Service(service.id.clone()));
    if vips.is_empty() {
        return service;
    }
    let mut s = (*service).clone();
    s.endpoint.virtual_ips = vips
        .iter()
        .filter_map(|a| {
            let n = view.network(&a.network_id)?;
            Some((a.network_id.clone(), n.cidr(a.addr)))
        })
        .collect();
    Arc::new(s)
}

/// Each task's addresses, with their networks.
pub fn attachments(view: &State, task_ids: &[String]) -> Vec<Vec<Attachment>> {
    task_ids
        .iter()
        .map(|id| {
            view.addresses(&Owner::Task(id.clone()))
                .iter()
                .filter_map(|a| {
                    let network = view.network(&a.network_id)?.clone();
                    let address = network.cidr(a.addr);
                    Some(Attachment { network, address })
                })
                .collect()
        })
        .collect()
}

/// This node's containers on network `network_id`, as `docker network inspect` lists them: its
/// running tasks' and its standalone containers' (`holders`: attachment task ID → the
/// container's task ID and name).
pub fn endpoints(
    view: &State,
    node_id: &str,
    network_id: &str,
    holders: &std::collections::HashMap<String, (String, String)>,
) -> Vec<api::NetworkEndpoint> {
    let Some(network) = view.network(network_id) else {
        return Vec::new();
    };
    let mut out: Vec<api::NetworkEndpoint> = view
        .tasks_on_node(node_id)
        .filter_map(|t| {
            let held = view.addresses(&Owner::Task(t.id.clone()));
            let addr = held.iter().find(|a| a.network_id == network.id)?.addr;
            let (container, name) = if t.is_attachment() {
                holders.get(&t.id)?.clone()
            } else if t.status.state == TaskState::Running {
                (t.id.clone(), t.name())
            } else {
                return None;
            };
            let mac = netplane::names::mac_text(addr);
            Some(api::NetworkEndpoint {
                container_id: api::containers::container_id(&container),
                name,
                // Stable for this holder on this network, 64 hex digits as dockerd's.
                endpoint_id: api::containers::container_id(&format!("{}/{}", t.id, network.id)),
                mac_address: mac,
                ipv4_address: network.cidr(addr),
            })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// The nodes holding network `network_id` (an address there for one of their tasks, or their
/// ingress sandbox's), by name, with the address they are reached at.
pub fn peers(view: &State, network_id: &str) -> Vec<api::model::NetworkPeer> {
    let nodes: std::collections::BTreeSet<&str> = view
        .held_on(network_id)
        .filter_map(|(_, owner)| match owner {
            Owner::Task(id) => view.task(id).map(|t| t.node_id.as_str()),
            Owner::Node(id) => Some(id.as_str()),
            Owner::Service(_) => None,
        })
        .filter(|id| !id.is_empty())
        .collect();
    let mut out: Vec<api::model::NetworkPeer> = nodes
        .into_iter()
        .filter_map(|id| view.node(id))
        .map(|n| api::model::NetworkPeer {
            name: n.description.hostname.clone(),
            ip: n.status.addr.clone(),
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}
