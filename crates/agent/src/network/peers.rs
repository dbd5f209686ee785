//! A network's remote endpoints as this node's overlay needs them (FDB and neighbour entries):
//! every endpoint of the view on another node, with the MAC netplane derives from its address.
//! Pure; the node applies the difference between the set it installed and the new one.

use std::collections::HashSet;

use netplane::RemoteEndpoint;
use types::NetworkView;

/// The endpoints of `view` that live on nodes other than `node_id`.
pub fn remote_endpoints(view: &NetworkView, node_id: &str) -> HashSet<RemoteEndpoint> {
    view.endpoints
        .iter()
        .filter(|e| e.node_id != node_id)
        .map(|e| RemoteEndpoint::new(e.addr, e.vtep))
        .collect()
}

/// What to remove and what to add to go from `installed` to `wanted` (a moved endpoint, same
/// address on another VTEP, is removed and added again).
pub fn diff(
    installed: &HashSet<RemoteEndpoint>,
    wanted: &HashSet<RemoteEndpoint>,
) -> (Vec<RemoteEndpoint>, Vec<RemoteEndpoint>) {
    let mut remove: Vec<RemoteEndpoint> = installed.difference(wanted).copied().collect();
    let mut add: Vec<RemoteEndpoint> = wanted.difference(installed).copied().collect();
    remove.sort_by_key(|p| p.address);
    add.sort_by_key(|p| p.address);
    (remove, add)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::views::tests::{endpoint, view};

    #[test]
    fn peers_are_the_other_nodes_endpoints_and_a_move_is_remove_then_add() {
        let v = view(
            "n1",
            vec![
                endpoint("t1", "web", "node1", 10),
                endpoint("t2", "web", "node2", 11),
            ],
        );
        let before = remote_endpoints(&v, "node1");
        assert_eq!(before.len(), 1);
        let peer = before.iter().next().copied().unwrap();
        assert_eq!(peer.mac, [0x02, 0x42, 10, 0, 1, 11]);
        assert_eq!(peer.vtep.to_string(), "192.168.0.2");
        let mut moved = v.clone();
        moved.endpoints[1].vtep = "192.168.0.3".parse().unwrap();
        moved.endpoints.push(endpoint("t3", "web", "node3", 12));
        let after = remote_endpoints(&moved, "node1");
        let (remove, add) = diff(&before, &after);
        assert_eq!(remove, vec![peer]);
        assert_eq!(add.len(), 2);
        assert_eq!(diff(&after, &after), (vec![], vec![]));
    }
}
