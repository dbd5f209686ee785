//! Data-plane liveness in the layer: the VTEPs of the peers in this node's views go to
//! netplane's prober, and the peers it judges unreachable leave this node's VIP tables, DNS
//! answers and routing mesh (locally: the store is untouched, the manager stays the authority
//! that marks the node down and replaces its tasks) until they answer again.
//!
//! ```text
//!  apply(views) ─► peer VTEPs ─► prober thread (pings, answers) ─► unreachable VTEPs
//!                                                                    │
//!  records + VIP tables + mesh from the views minus their endpoints ◄─┘ (applier task)
//! ```
//!
//! FDB entries, tunnels and overlays keep every peer: only who serves changes, so a peer back
//! within a second costs no data-plane rebuild.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::sync::Arc;

use netplane::probe::{ProbeSocket, Prober, ProberConfig};

use super::node::{Mode, NodeNetwork, State};
use super::records;
use super::views::Views;

/// How many times a taken probe port is tried again, [`BIND_RETRY`] apart.
const BIND_ATTEMPTS: u32 = 10;

/// The pause between two tries of a taken probe port.
const BIND_RETRY: std::time::Duration = std::time::Duration::from_millis(500);

/// The VTEPs of the nodes other than `node_id` with endpoints in `views`.
pub fn peer_vteps(views: &Views, node_id: &str) -> BTreeSet<Ipv4Addr> {
    views
        .iter()
        .flat_map(|view| view.endpoints.iter())
        .filter(|e| e.node_id != node_id)
        .map(|e| e.vtep)
        .collect()
}

/// `views` without the endpoints of other nodes whose VTEP is in `unreachable` (borrowed as
/// is when none is).
pub fn reachable<'a>(views: &'a Views, unreachable: &BTreeSet<Ipv4Addr>, node_id: &str) -> Cow<'a, Views> {
    if unreachable.is_empty() {
        return Cow::Borrowed(views);
    }
    let kept = views
        .iter()
        .map(|view| {
            let mut view = view.clone();
            view.endpoints
                .retain(|e| e.node_id == node_id || !unreachable.contains(&e.vtep));
            view
        })
        .collect();
    let mut out = Views::default();
    out.apply(true, kept, &[], &[]);
    Cow::Owned(out)
}

impl NodeNetwork {
    /// Swaps the resolvers' records for the views' minus unreachable peers' endpoints.
    pub(super) fn publish_records(&self, state: &State) {
        let live = reachable(&state.views, &state.unreachable, &self.config.node_id);
        let all: Vec<_> = live.iter().map(records::network_records).collect();
        self.records.replace(&all);
        let peers = peer_vteps(&state.views, &self.config.node_id);
        self.probe_peers.send_if_modified(|held| {
            let changed = *held != peers;
            *held = peers;
            changed
        });
    }

    /// Starts probing this node's peers from `underlay:port` (its VTEP) and takes the
    /// unreachable ones out of its balancers and DNS; without a data plane, or when the port
    /// stays taken, the manager's verdict stays the only one (logged).
    pub fn start_liveness(self: &Arc<Self>, underlay: Ipv4Addr, port: u16, config: ProberConfig) {
        if !matches!(self.mode, Mode::Plane { .. }) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!("no runtime: peers are not probed");
            return;
        };
        let weak = Arc::downgrade(self);
        runtime.spawn(async move {
            // The port may still be held for a moment by the prober of this node's previous
            // layer (a leave and join, a restart of the node): its thread ends within an
            // interval of its layer's drop.
            let mut attempt = 0;
            let socket = loop {
                match ProbeSocket::bind(underlay, port) {
                    Ok(socket) => break socket,
                    Err(error) if attempt >= BIND_ATTEMPTS => {
                        tracing::warn!(%error, "peers are not probed: a lost host's endpoints leave the balancers only when the manager marks it down");
                        return;
                    }
                    Err(_) => attempt += 1,
                }
                tokio::time::sleep(BIND_RETRY).await;
            };
            let Some(this) = weak.upgrade() else { return };
            let mut unreachable = match Prober::spawn(socket, config, this.probe_peers.subscribe()) {
                Ok(rx) => rx,
                Err(error) => {
                    tracing::warn!(%error, "peers are not probed");
                    return;
                }
            };
            drop(this);
            while unreachable.changed().await.is_ok() {
                let set = unreachable.borrow_and_update().clone();
                let Some(this) = weak.upgrade() else { return };
                this.set_unreachable(set).await;
            }
        });
    }

    /// Makes `set` the unreachable peers' VTEPs: records swapped, VIP tables and mesh
    /// converged without their endpoints.
    pub async fn set_unreachable(&self, set: BTreeSet<Ipv4Addr>) {
        let mut state = self.state.lock().await;
        if state.left || state.unreachable == set {
            return;
        }
        tracing::info!(unreachable = ?set, "peers judged unreachable by probes changed");
        state.unreachable = set;
        self.publish_records(&state);
        if let Mode::Plane { plane, upstreams, .. } = &self.mode {
            let ok = self.converge(&mut state, plane.as_ref(), upstreams).await;
            if !ok {
                self.retry.store(true, std::sync::atomic::Ordering::Release);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::views::tests::{endpoint, view};

    #[test]
    fn unreachable_peers_lose_their_endpoints_but_this_node_keeps_its_own() {
        let mut views = Views::default();
        let mut own = endpoint("t9", "web", "node1", 19);
        // Two nodes sharing one address: this node's endpoints are never taken out.
        own.vtep = "192.168.0.2".parse().unwrap();
        views.apply(
            true,
            vec![view(
                "n1",
                vec![
                    endpoint("t1", "web", "node1", 10),
                    endpoint("t2", "web", "node2", 11),
                    endpoint("t3", "web", "node3", 12),
                    own,
                ],
            )],
            &[],
            &[],
        );
        let vteps = peer_vteps(&views, "node1");
        assert_eq!(
            vteps,
            BTreeSet::from(["192.168.0.2".parse().unwrap(), "192.168.0.3".parse().unwrap()])
        );
        assert!(matches!(
            reachable(&views, &BTreeSet::new(), "node1"),
            Cow::Borrowed(_)
        ));
        let lost = BTreeSet::from(["192.168.0.2".parse().unwrap()]);
        let live = reachable(&views, &lost, "node1");
        let tasks: Vec<_> = live
            .get("n1")
            .unwrap()
            .endpoints
            .iter()
            .map(|e| e.task_id.as_str())
            .collect();
        assert_eq!(tasks, ["t1", "t3", "t9"]);
    }
}
