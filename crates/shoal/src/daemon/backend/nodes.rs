//! The nodes calls: list, inspect, update, remove, each with the facts computed at read time.

use std::sync::Arc;

use api::NodeView;
use manager::Manager;
use rules::controlapi::node;
use rules::controlapi::node::NodeFilters;
use types::NodeSpec;

use super::Result;
use crate::daemon::swarm::{Local, Swarm};

impl Swarm {
    /// dockerd accepts `self` for the node it runs on.
    pub(super) fn node_key<'a>(&self, key: &'a str) -> std::borrow::Cow<'a, str> {
        match (key, self.local()) {
            ("self", Local::Active(node)) => std::borrow::Cow::Owned(node.state().node_id),
            _ => std::borrow::Cow::Borrowed(key),
        }
    }
}

/// A node with whether it leads and how reachable it is, as this manager sees them.
fn view(m: &Manager, node: Arc<types::Node>) -> NodeView {
    let reachability = m.reachability(&node);
    // A leader this manager cannot reach is shown as what it is to us: Unreachable.
    let leader = m.leader_node_id().is_some_and(|id| id == node.id)
        && reachability != types::Reachability::Unreachable;
    NodeView {
        node,
        leader,
        reachability,
    }
}

/// `GET /nodes`.
pub(super) async fn list(s: &Swarm, filters: NodeFilters) -> Result<Vec<NodeView>> {
    let m = s.require_manager().await?;
    Ok(node::list(&*m.synced_view().await, &filters)
        .into_iter()
        .map(|n| view(&m, n))
        .collect())
}

/// `GET /nodes/{id}`.
pub(super) async fn get(s: &Swarm, key: &str) -> Result<NodeView> {
    let m = s.require_manager().await?;
    let n = m.synced_view().await.lookup_node(&s.node_key(key))?;
    Ok(view(&m, n))
}

/// `POST /nodes/{id}/update`: the warning, also logged.
pub(super) async fn update(s: &Swarm, key: &str, version: u64, spec: NodeSpec) -> Result<Option<String>> {
    let m = s.require_manager().await?;
    let key = s.node_key(key);
    let warning = super::commit_planned(&m, |state| {
        let plan = node::update(state, &key, version, spec.clone())?;
        Ok((plan.op, plan.warning))
    })
    .await?;
    if let Some(w) = &warning {
        tracing::warn!("{w}");
    }
    Ok(warning)
}

/// `DELETE /nodes/{id}`.
pub(super) async fn remove(s: &Swarm, key: &str, force: bool) -> Result<()> {
    let m = s.require_manager().await?;
    let op = node::remove(&*m.synced_view().await, &s.node_key(key), force)?;
    m.propose(vec![op]).await?;
    Ok(())
}
