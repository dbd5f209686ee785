//! The network reads: the cluster's networks, task addresses, and for `network inspect` this
//! node's containers on a network and the nodes holding it. Create, remove and prune are
//! `daemon/networks.rs`'s.

use std::sync::Arc;

use super::Result;
use crate::daemon::networks;
use crate::daemon::swarm::Swarm;

/// `GET /networks`: the cluster's networks.
pub(super) async fn list(s: &Swarm) -> Result<Vec<Arc<types::Network>>> {
    let m = s.require_manager().await?;
    Ok(m.synced_view().await.networks().cloned().collect())
}

/// The addresses each task holds, per network.
pub(super) async fn attachments(s: &Swarm, task_ids: &[String]) -> Result<Vec<Vec<api::Attachment>>> {
    let m = s.require_manager().await?;
    Ok(networks::attachments(&*m.synced_view().await, task_ids))
}

/// This node's task and standalone containers on a network.
pub(super) async fn endpoints(s: &Swarm, network_id: &str) -> Result<Vec<api::NetworkEndpoint>> {
    let m = s.require_manager().await?;
    let holders = s.standalone().map(|s| s.attachment_holders()).unwrap_or_default();
    let view = m.synced_view().await;
    Ok(networks::endpoints(
        &view,
        &s.local_node_id(),
        network_id,
        &holders,
    ))
}

/// The nodes holding an address on a network.
pub(super) async fn peers(s: &Swarm, network_id: &str) -> Result<Vec<api::model::NetworkPeer>> {
    let m = s.require_manager().await?;
    Ok(networks::peers(&*m.synced_view().await, network_id))
}
