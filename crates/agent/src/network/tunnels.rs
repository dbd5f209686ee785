//! The node's side of encrypted overlays: its own WireGuard key pair, its peers' public keys as
//! the dispatcher hands them out, and the tunnel set the data plane runs.
//!
//! ```text
//!  new layer ─► key pair made here (memory only; the private half never leaves the node)
//!  session ─► public key in SessionRequest and every Heartbeat ─► leader
//!  assignments.peer_keys ─► keys[node] (new or changed ones)
//!  converge ─► peers = endpoints of other nodes on encrypted views, with a known key
//!           ─► set_tunnels(key, peers) before any encrypted overlay exists; stop_tunnels once
//!              the last encrypted view went
//!  rotation (leader's period) ─► new pair ─► set_tunnels(new key) ─► heartbeat carries it
//! ```
//! Nothing here is written to disk: a restarted agent makes a new pair and announces it. A peer
//! whose key is not known yet gets no tunnel: its VXLAN is dropped, never sent in the clear.

use std::collections::{BTreeMap, HashMap};

use netplane::DataPlane;
use netplane::crypt::{PrivateKey, PublicKey, TunnelPeer};
use tokio::time::Instant;
use types::PeerKey;

use super::views::Views;

/// The node's key, its peers' keys and what the plane runs.
pub(crate) struct TunnelState {
    /// This node's key pair; `None` when the random source failed (encrypted networks are then
    /// not set up, and say why).
    key: Option<PrivateKey>,
    /// When `key` was made: the next rotation is due a period later.
    made_at: Instant,
    /// Peers' current public keys by node ID.
    peer_keys: HashMap<String, PublicKey>,
    /// The key and peers the plane's tunnels last took; `None` while they do not run.
    applied: Option<(PublicKey, Vec<TunnelPeer>)>,
}

impl Default for TunnelState {
    fn default() -> Self {
        TunnelState::new()
    }
}

impl TunnelState {
    /// A fresh key pair and no peers.
    pub(crate) fn new() -> TunnelState {
        let key = PrivateKey::generate()
            .map_err(|error| tracing::warn!(%error, "no tunnel key: encrypted networks cannot be set up"))
            .ok();
        TunnelState {
            key,
            made_at: Instant::now(),
            peer_keys: HashMap::new(),
            applied: None,
        }
    }

    /// This node's public key, as the session announces it.
    pub(crate) fn public_key(&self) -> Option<[u8; 32]> {
        self.key.as_ref().map(|key| key.public().0)
    }

    /// When the current key pair was made.
    pub(crate) fn made_at(&self) -> Instant {
        self.made_at
    }

    /// Replaces the key pair with a fresh one (the plane takes it at the next convergence).
    pub(crate) fn renew(&mut self) -> Option<[u8; 32]> {
        match PrivateKey::generate() {
            Ok(key) => {
                self.key = Some(key);
                self.made_at = Instant::now();
            }
            Err(error) => tracing::warn!(%error, "renewing the tunnel key failed; the old one stays"),
        }
        self.public_key()
    }

    /// Takes the keys of an assignment message (new or changed ones).
    pub(crate) fn take_keys(&mut self, keys: Vec<PeerKey>) {
        for key in keys {
            self.peer_keys.insert(key.node_id, PublicKey(key.public_key));
        }
    }

    /// Makes the plane's tunnels match the encrypted views: running under the node's key with
    /// exactly their peers, or stopped when there is none. False when the plane failed (logged;
    /// retried), and then no encrypted overlay may be made, as its VXLAN would have no tunnel.
    pub(crate) async fn converge(&mut self, views: &Views, node_id: &str, plane: &dyn DataPlane) -> bool {
        let encrypted: Vec<_> = views.iter().filter(|view| view.encrypted).collect();
        // Keys of nodes no encrypted view lists any more are forgotten.
        self.peer_keys.retain(|node, _| {
            encrypted
                .iter()
                .any(|view| view.endpoints.iter().any(|e| e.node_id == *node))
        });
        if encrypted.is_empty() {
            if self.applied.is_some() {
                if let Err(error) = plane.stop_tunnels().await {
                    tracing::warn!(%error, "stopping the encrypted overlays' tunnels failed; retried");
                    return false;
                }
                self.applied = None;
            }
            return true;
        }
        let Some(key) = &self.key else {
            return false;
        };
        let peers = tunnel_peers(&encrypted, node_id, &self.peer_keys);
        let wanted = (key.public(), peers);
        if self.applied.as_ref() == Some(&wanted) {
            return true;
        }
        match plane.set_tunnels(key, &wanted.1).await {
            Ok(()) => {
                tracing::debug!(peers = wanted.1.len(), key = ?wanted.0, "tunnels set");
                self.applied = Some(wanted);
                true
            }
            Err(error) => {
                tracing::warn!(%error, "setting the encrypted overlays' tunnels failed; retried");
                false
            }
        }
    }
}

/// One tunnel per other node listed on an encrypted view whose key is known, by underlay
/// address (ordered, so an unchanged set compares equal).
fn tunnel_peers(
    encrypted: &[&types::NetworkView],
    node_id: &str,
    keys: &HashMap<String, PublicKey>,
) -> Vec<TunnelPeer> {
    let mut peers = BTreeMap::new();
    for endpoint in encrypted.iter().flat_map(|view| view.endpoints.iter()) {
        if endpoint.node_id == node_id {
            continue;
        }
        match keys.get(&endpoint.node_id) {
            Some(key) => {
                peers.insert(endpoint.vtep, *key);
            }
            None => tracing::debug!(node = %endpoint.node_id, "no key for this peer yet: no tunnel to it"),
        }
    }
    peers
        .into_iter()
        .map(|(underlay, public_key)| TunnelPeer { underlay, public_key })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::views::tests::{endpoint, view};

    #[test]
    fn peers_are_other_nodes_on_encrypted_views_with_a_known_key() {
        let mut secret = view("n1", vec![endpoint("t1", "web", "node1", 10)]);
        secret.encrypted = true;
        secret.endpoints.push(endpoint("t2", "web", "node2", 11));
        secret.endpoints.push(endpoint("t3", "web", "node3", 12));
        secret.endpoints.push(endpoint("t4", "web", "node2", 13));
        let keys = HashMap::from([
            ("node2".to_string(), PublicKey([2; 32])),
            ("node1".to_string(), PublicKey([1; 32])),
        ]);
        let peers = tunnel_peers(&[&secret], "node1", &keys);
        assert_eq!(
            peers,
            vec![TunnelPeer {
                underlay: "192.168.0.2".parse().unwrap(),
                public_key: PublicKey([2; 32]),
            }],
            "one tunnel per node; node3's key is unknown, node1 is this node"
        );
    }
}
