//! A task's VIP table from the views: every service with a VIP on one of the task's networks,
//! balanced over its serving endpoints on every port (Swarm's VIP balances by address). Pure.

use netplane::VipService;

use super::views::Views;

/// The VIP services a task attached to `networks` (IDs) sees, sorted by VIP.
pub fn task_vips(views: &Views, networks: &[String]) -> Vec<VipService> {
    let mut services = Vec::new();
    for id in networks {
        let Some(view) = views.get(id) else { continue };
        for service in &view.services {
            let Some(vip) = service.vip else { continue };
            let mut backends: Vec<_> = view.backends(&service.service_id).map(|e| e.addr).collect();
            backends.sort();
            backends.dedup();
            services.push(VipService {
                vip,
                ports: Vec::new(),
                backends,
            });
        }
    }
    services.sort_by_key(|s| s.vip);
    services.dedup_by_key(|s| s.vip);
    services
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::views::tests::{endpoint, view};

    #[test]
    fn a_vip_balances_over_serving_endpoints_and_dnsrr_has_none() {
        let mut v = view(
            "n1",
            vec![
                endpoint("t1", "web", "node1", 10),
                endpoint("t2", "web", "node2", 11),
                endpoint("t3", "web", "node2", 12),
            ],
        );
        v.endpoints[2].serving = false;
        let mut dnsrr = v.services[0].clone();
        dnsrr.service_id = "db".into();
        dnsrr.vip = None;
        v.services.push(dnsrr);
        let mut views = Views::default();
        views.apply(true, vec![v], &[], &[]);
        let vips = task_vips(&views, &["n1".into(), "gone".into()]);
        assert_eq!(vips.len(), 1);
        assert_eq!(vips[0].vip.to_string(), "10.0.1.2");
        assert!(vips[0].ports.is_empty(), "every port");
        assert_eq!(
            vips[0].backends,
            vec![
                "10.0.1.10".parse::<std::net::Ipv4Addr>().unwrap(),
                "10.0.1.11".parse().unwrap()
            ]
        );
    }
}
