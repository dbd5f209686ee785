//! Which of a task's networks gives it its default route, chosen as libnetwork's sandbox
//! chooses its gateway endpoint (pure).
//!
//! libnetwork orders a sandbox's endpoints with the gateway network (`docker_gwbridge`) last,
//! internal networks after the others, then by priority (equal for swarm tasks) and network
//! name; the first endpoint with a gateway gives the default route. Here every non-internal
//! overlay has a gateway, and `ingress` — the one network whose gateway leads out of the
//! overlays, through the node's ingress sandbox — stands where `docker_gwbridge` does: last,
//! the default route only of a task with no other non-internal network. A task on `ingress`
//! whose default route is another network still needs its replies to the routing mesh's
//! clients (whose address the mesh keeps) to leave through `ingress`: those are routed by
//! their source address (`DataPlane::route_replies`).

/// What the choice needs to know of one of a task's networks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Candidate<'a> {
    /// The network's name.
    pub name: &'a str,
    /// An internal network: no route out, never a gateway.
    pub internal: bool,
    /// The routing mesh's `ingress` network.
    pub ingress: bool,
}

/// The routes of a task's networks, by their index in the task's attachment order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Routes {
    /// The network giving the default route, if any does.
    pub gateway: Option<usize>,
    /// The `ingress` network when it is not the gateway: replies from its address go through it.
    pub replies: Option<usize>,
}

/// Chooses the task's gateway among `networks` (in attachment order); the same networks give
/// the same choice whatever their order.
pub fn choose(networks: &[Candidate<'_>]) -> Routes {
    let gateway = networks
        .iter()
        .enumerate()
        .filter(|(_, n)| !n.internal)
        .min_by_key(|(i, n)| (n.ingress, n.name, *i))
        .map(|(i, _)| i);
    let replies = networks
        .iter()
        .position(|n| n.ingress && !n.internal)
        .filter(|i| Some(*i) != gateway);
    Routes { gateway, replies }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(name: &str) -> Candidate<'_> {
        Candidate {
            name,
            internal: false,
            ingress: name == "ingress",
        }
    }

    #[test]
    fn spec_networks_win_over_ingress_by_name_and_internal_ones_never_route() {
        // A published service on `web`: `web` routes, ingress answers the mesh's clients.
        let routes = choose(&[net("web"), net("ingress")]);
        assert_eq!(
            routes,
            Routes {
                gateway: Some(0),
                replies: Some(1)
            }
        );
        // Whatever the order the spec lists them in: the first name wins, as libnetwork's.
        assert_eq!(
            choose(&[net("zeta"), net("alpha"), net("ingress")]).gateway,
            Some(1)
        );
        assert_eq!(
            choose(&[net("alpha"), net("zeta"), net("ingress")]).gateway,
            Some(0)
        );
        // Only ingress: it routes, nothing else to do.
        assert_eq!(
            choose(&[net("ingress")]),
            Routes {
                gateway: Some(0),
                replies: None
            }
        );
        // An internal network never routes; with only internal ones, ingress does.
        let inside = Candidate {
            internal: true,
            ..net("a-inside")
        };
        assert_eq!(
            choose(&[inside, net("ingress")]),
            Routes {
                gateway: Some(1),
                replies: None
            }
        );
        assert_eq!(choose(&[inside]), Routes::default());
        assert_eq!(choose(&[inside, net("web")]).gateway, Some(1));
        assert_eq!(choose(&[]), Routes::default());
    }
}
