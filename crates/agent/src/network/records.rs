//! What the node's resolvers answer, from the views: per network its services (name, aliases,
//! VIP or none for dnsrr) and every task endpoint (name, address, aliases; listed in
//! `<service>`/`tasks.<service>` answers while serving). Pure.

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
                id: e.task_id.clone(),
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
}
