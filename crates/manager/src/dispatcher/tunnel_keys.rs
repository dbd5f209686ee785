//! Nodes' WireGuard public keys for encrypted overlays, handed out by the leader.
//!
//! ```text
//! node ── Session / Heartbeat { tunnel_key } ─► TunnelKeys::set ─► wake the streams of the nodes
//!                                                                   sharing an encrypted network
//! node stream ── StreamKeys::update(peers) ─► AssignmentsMessage.peer_keys (new or changed only)
//! ```
//! Each node makes its own key pair and only ever sends the public half, over its mutual-TLS
//! session: the key is bound to the node the certificate names. A stream sends its node the
//! keys of exactly the nodes listed on the encrypted networks it holds (`NetFeed`), so nodes
//! that share no encrypted network never learn each other's keys. The keys live in the leader's
//! memory only: after a failover each node's first message to the new leader (its session
//! request) brings its key again, which wakes the streams of its peers at once; a node keeps
//! the keys it holds meanwhile, so its tunnels carry on through the election
//! (`tests/tunnel_keys.rs`).
//! How often nodes renew their pair is the leader's word too (`SessionMessage`).

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use types::PeerKey;

/// How often nodes renew their key pair unless told otherwise (SwarmKit rotates its
/// encrypted overlays' keys every 12 hours).
pub const DEFAULT_ROTATION: Duration = Duration::from_secs(12 * 60 * 60);

/// The leader's record of every node's current public key.
#[derive(Debug)]
pub struct TunnelKeys {
    keys: Mutex<HashMap<String, [u8; 32]>>,
    rotation: Duration,
}

impl Default for TunnelKeys {
    fn default() -> Self {
        TunnelKeys::new(DEFAULT_ROTATION)
    }
}

impl TunnelKeys {
    /// No keys yet; nodes are told to renew theirs every `rotation` (zero: never).
    pub fn new(rotation: Duration) -> TunnelKeys {
        TunnelKeys {
            keys: Mutex::default(),
            rotation,
        }
    }

    /// How often nodes renew their key pair.
    pub fn rotation(&self) -> Duration {
        self.rotation
    }

    /// Records `node`'s key; true when it is new or changed (its peers must hear).
    pub fn set(&self, node: &str, key: [u8; 32]) -> bool {
        let mut keys = self.lock();
        keys.insert(node.to_string(), key) != Some(key)
    }

    /// `node`'s current key, if it sent one.
    pub fn get(&self, node: &str) -> Option<[u8; 32]> {
        self.lock().get(node).copied()
    }

    /// Forgets `node`'s key (it left the swarm).
    pub fn remove(&self, node: &str) {
        self.lock().remove(node);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, [u8; 32]>> {
        // A map of plain values: a panic elsewhere cannot leave it half-written.
        self.keys.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One assignment stream's memory: the key of each peer it sent its node.
#[derive(Debug, Default)]
pub struct StreamKeys {
    sent: HashMap<String, [u8; 32]>,
}

impl StreamKeys {
    /// The keys of a full message: every known key of `peers` (the node keeps keys it held
    /// for peers whose key the leader does not know yet, e.g. right after a failover).
    pub fn full(&mut self, keys: &TunnelKeys, peers: &BTreeSet<String>) -> Vec<PeerKey> {
        self.sent.clear();
        self.update(keys, peers)
    }

    /// The keys of `peers` the node lacks or holds an older version of; peers no longer
    /// shared are forgotten, so a peer coming back gets its key again.
    pub fn update(&mut self, keys: &TunnelKeys, peers: &BTreeSet<String>) -> Vec<PeerKey> {
        self.sent.retain(|node, _| peers.contains(node));
        let mut out = Vec::new();
        for node in peers {
            let Some(key) = keys.get(node) else { continue };
            if self.sent.get(node) != Some(&key) {
                self.sent.insert(node.clone(), key);
                out.push(PeerKey {
                    node_id: node.clone(),
                    public_key: key,
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peers(nodes: &[&str]) -> BTreeSet<String> {
        nodes.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn a_stream_sends_each_shared_peers_key_once_and_again_when_it_changes() {
        let keys = TunnelKeys::default();
        assert!(keys.set("a", [1; 32]));
        assert!(!keys.set("a", [1; 32]));
        keys.set("b", [2; 32]);
        keys.set("c", [3; 32]);
        let mut stream = StreamKeys::default();
        let sent = stream.full(&keys, &peers(&["a", "b", "x"]));
        let nodes: Vec<_> = sent.iter().map(|k| k.node_id.as_str()).collect();
        assert_eq!(nodes, ["a", "b"], "c shares nothing, x has no key yet");
        assert!(stream.update(&keys, &peers(&["a", "b"])).is_empty());
        assert!(keys.set("a", [9; 32]));
        keys.set("x", [7; 32]);
        let sent = stream.update(&keys, &peers(&["a", "b", "x"]));
        assert_eq!(
            sent,
            vec![
                PeerKey {
                    node_id: "a".into(),
                    public_key: [9; 32]
                },
                PeerKey {
                    node_id: "x".into(),
                    public_key: [7; 32]
                }
            ]
        );
        // b leaves the shared networks and comes back: its key is sent again.
        assert!(stream.update(&keys, &peers(&["a", "x"])).is_empty());
        assert_eq!(stream.update(&keys, &peers(&["a", "b", "x"])).len(), 1);
        keys.remove("b");
        assert_eq!(keys.get("b"), None);
    }
}
