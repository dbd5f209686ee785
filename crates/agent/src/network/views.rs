//! The network views a node holds, kept as the dispatcher's assignment messages say: a full
//! message replaces the set, a network sent whole replaces its view, deltas apply to the views
//! held, removals drop them. Pure: the data plane follows from the result (`node.rs`).

use std::collections::BTreeMap;

use types::{NetworkDelta, NetworkView, Task};

/// The node's network views by network ID.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Views {
    views: BTreeMap<String, NetworkView>,
}

impl Views {
    /// Applies one assignment message's network part (`networks`, then `removed`, then `deltas`).
    /// A delta for a network not held is skipped (and logged): the next full message brings it.
    pub fn apply(
        &mut self,
        full: bool,
        networks: Vec<NetworkView>,
        removed: &[String],
        deltas: &[NetworkDelta],
    ) {
        if full {
            self.views.clear();
        }
        for view in networks {
            self.views.insert(view.network_id.clone(), view);
        }
        for id in removed {
            self.views.remove(id);
        }
        for delta in deltas {
            match self.views.get_mut(&delta.network_id) {
                Some(view) => view.apply(delta),
                None => {
                    tracing::warn!(network = %delta.network_id, "network delta for a network this node does not hold")
                }
            }
        }
    }

    /// Every view held, by network ID.
    pub fn iter(&self) -> impl Iterator<Item = &NetworkView> {
        self.views.values()
    }

    /// The view of network `id`.
    pub fn get(&self, id: &str) -> Option<&NetworkView> {
        self.views.get(id)
    }

    /// The view a service spec's network target names (an ID or a name).
    pub fn find(&self, target: &str) -> Option<&NetworkView> {
        self.views
            .get(target)
            .or_else(|| self.views.values().find(|view| view.name == target))
    }

    /// The task's attachments in its spec's order: (network ID, its address there), or the
    /// first target the views do not yet give an address for; then the ingress network when the
    /// task has an address there (its service publishes ports).
    pub fn attachments(&self, task: &Task) -> Result<Vec<(String, std::net::Ipv4Addr)>, String> {
        let mut found = task
            .spec
            .networks
            .iter()
            .map(|attachment| {
                self.find(&attachment.target)
                    .and_then(|view| view.endpoint(&task.id).map(|e| (view.network_id.clone(), e.addr)))
                    .ok_or_else(|| attachment.target.clone())
            })
            .collect::<Result<Vec<_>, String>>()?;
        if let Some((id, addr)) = self.ingress_address(task)
            && !found.iter().any(|(n, _)| *n == id)
        {
            found.push((id, addr));
        }
        Ok(found)
    }

    /// The ingress view, if held.
    pub fn ingress(&self) -> Option<&NetworkView> {
        self.views.values().find(|view| view.ingress)
    }

    /// The task's address on the ingress network, with that network's ID.
    pub fn ingress_address(&self, task: &Task) -> Option<(String, std::net::Ipv4Addr)> {
        let view = self.ingress()?;
        view.endpoint(&task.id).map(|e| (view.network_id.clone(), e.addr))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::net::Ipv4Addr;

    use types::{EndpointView, Pool, ServiceView, Subnet};

    use super::*;

    pub(crate) fn endpoint(task: &str, service: &str, node: &str, last: u8) -> EndpointView {
        EndpointView {
            task_id: task.into(),
            task_name: format!("{service}.1.{task}"),
            service_id: service.into(),
            node_id: node.into(),
            vtep: Ipv4Addr::new(192, 168, 0, node.bytes().last().unwrap_or(b'0') - b'0'),
            addr: Ipv4Addr::new(10, 0, 1, last),
            aliases: vec![],
            serving: true,
        }
    }

    pub(crate) fn view(id: &str, endpoints: Vec<EndpointView>) -> NetworkView {
        NetworkView {
            network_id: id.into(),
            name: format!("{id}-name"),
            vni: 4097,
            pools: vec![Pool {
                subnet: Subnet {
                    addr: Ipv4Addr::new(10, 0, 1, 0),
                    prefix: 24,
                },
                range: Subnet {
                    addr: Ipv4Addr::new(10, 0, 1, 0),
                    prefix: 24,
                },
                gateway: Ipv4Addr::new(10, 0, 1, 1),
                aux: Default::default(),
            }],
            internal: false,
            ingress: false,
            mtu: None,
            encrypted: false,
            endpoints,
            services: vec![ServiceView {
                service_id: "web".into(),
                name: "web".into(),
                vip: Some(Ipv4Addr::new(10, 0, 1, 2)),
                aliases: vec![],
                ports: vec![],
                route_return: false,
                route_return_ports: Vec::new(),
            }],
        }
    }

    #[test]
    fn full_replaces_deltas_apply_and_removals_drop() {
        let mut views = Views::default();
        views.apply(
            true,
            vec![view("n1", vec![endpoint("t1", "web", "node1", 10)])],
            &[],
            &[],
        );
        let delta = NetworkDelta {
            network_id: "n1".into(),
            endpoints: vec![endpoint("t2", "web", "node2", 11)],
            ..NetworkDelta::default()
        };
        let stray = NetworkDelta {
            network_id: "unknown".into(),
            ..NetworkDelta::default()
        };
        views.apply(false, vec![view("n2", vec![])], &[], &[delta, stray]);
        assert_eq!(views.get("n1").map(|v| v.endpoints.len()), Some(2));
        assert!(views.find("n2-name").is_some(), "found by name");
        views.apply(false, vec![], &["n2".into()], &[]);
        assert!(views.get("n2").is_none());
        views.apply(true, vec![view("n3", vec![])], &[], &[]);
        assert_eq!(
            views.iter().count(),
            1,
            "a full message drops what it does not list"
        );
    }
}
