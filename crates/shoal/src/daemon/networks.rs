//! The daemon's networks: the API's network calls over the manager, the VIPs shown in a
//! service's `Endpoint`, and the addresses shown in a task's `NetworksAttachments`.

use std::sync::Arc;

use api::Attachment;
use manager::{Error, Manager};
use rules::controlapi::network;
use store::{Owner, State};
use types::{Network, NetworkSpec, Service};

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

/// Removes a network; refused while in use.
pub async fn remove(m: &Manager, key: &str) -> Result<()> {
    let op = network::remove(&*m.synced_view().await, key)?;
    m.propose(vec![op]).await?;
    Ok(())
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
