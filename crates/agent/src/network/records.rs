//! What the node's resolvers answer, from the views: per network its services (name, aliases,
//! VIP or none for dnsrr) and every task endpoint (name, address, aliases; listed in
//! `<service>`/`tasks.<service>` answers while serving). Pure.
//!
//! A standalone container holds one attachment task per network (no service; its name the
//! container's, unique on its node): its records share one identity, `<node>/<name>`, so the
//! resolver it asks on one network answers the names of its other networks too, as a task on
//! several networks is answered.

use netplane::dns::{NetworkRecords, ServiceRecord, TaskRecord};
use types::NetworkView;

/// The DNS records of one network.
pub fn network_records(view: &NetworkView) -> NetworkRecords {
    let service_name = |id: &str| {
        view.services
            .iter()
            .find(|s| s.service_id == id)
            .map(|s| s.name.clone())
            .unwrap_or_default()
    };
    NetworkRecords {
        network: view.network_id.clone(),
        services: view
            .services
            .iter()
            .map(|s| ServiceRecord {
                name: s.name.clone(),
                aliases: s.aliases.clone(),
                vip: s.vip,
            })
            .collect(),
        tasks: view
            .endpoints
            .iter()
            .filter(|e| !e.is_node_sandbox())
            .map(|e| TaskRecord {
                id: if e.service_id.is_empty() {
                    format!("{}/{}", e.node_id, e.task_name)
                } else {
                    e.task_id.clone()
                },
                service: service_name(&e.service_id),
                name: e.task_name.clone(),
                address: e.addr,
                listed: e.serving,
                aliases: e.aliases.clone(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::views::tests::{endpoint, view};

    #[test]
    fn services_and_endpoints_become_records() {
        let mut v = view(
            "n1",
            vec![
                endpoint("t1", "web", "node1", 10),
                endpoint("t2", "web", "node2", 11),
            ],
        );
        v.endpoints[1].serving = false;
        v.endpoints[0].aliases = vec!["first".into()];
        let records = network_records(&v);
        assert_eq!(records.network, "n1");
        assert_eq!(records.services[0].vip, Some("10.0.1.2".parse().unwrap()));
        assert_eq!(records.tasks[0].service, "web", "the service's name, not its ID");
        assert_eq!(records.tasks[0].name, "web.1.t1");
        assert_eq!(records.tasks[0].aliases, ["first"]);
        assert!(records.tasks[0].listed && !records.tasks[1].listed);
    }

    #[test]
    fn a_containers_attachments_on_two_networks_share_one_dns_identity() {
        let container = |network: &str, task: &str, node: &str| {
            let mut v = view(network, vec![endpoint(task, "", node, 10)]);
            v.endpoints[0].task_name = "c1".into();
            network_records(&v).tasks[0].id.clone()
        };
        assert_eq!(container("n1", "a1", "node1"), "node1/c1");
        assert_eq!(container("n1", "a1", "node1"), container("n2", "a2", "node1"));
        assert_ne!(container("n1", "a1", "node1"), container("n2", "a3", "node2"));
        let service = network_records(&view("n1", vec![endpoint("t1", "web", "node1", 10)]));
        assert_eq!(service.tasks[0].id, "t1", "a service task keeps its task ID");
    }
}
