//! The routing mesh's ports from the ingress view: every published port of every service on
//! the ingress network, with its serving tasks split into this node's and the others'; a
//! route-return task's routing (`task_return`). Those are pure; the node hands them to the
//! plane, and the two plane steps beside them (`set_returns`, `drop_mesh`) keep the node's
//! side of that small.

use std::net::Ipv4Addr;

use netplane::{DataPlane, MeshPort, MeshReturn, Protocol, PublishMode, RemoteTask};
use types::NetworkView;

use super::views::Views;

/// The ports `node_id` publishes, ordered by (protocol, port). A port whose protocol the mesh
/// does not carry (SCTP) or whose numbers do not fit is left out with a warning.
pub fn mesh_ports(view: &NetworkView, node_id: &str) -> Vec<MeshPort> {
    let mut out = Vec::new();
    for service in &view.services {
        for port in &service.ports {
            let protocol = match port.protocol.as_str() {
                "" | "tcp" => Protocol::Tcp,
                "udp" => Protocol::Udp,
                other => {
                    tracing::warn!(service = %service.name, protocol = other, "published port protocol not served by the mesh");
                    continue;
                }
            };
            let (Ok(published), Ok(target)) = (
                u16::try_from(port.published_port),
                u16::try_from(port.target_port),
            ) else {
                tracing::warn!(service = %service.name, ?port, "published port out of range");
                continue;
            };
            let mode = if port.publish_mode == "host" {
                PublishMode::Host
            } else {
                PublishMode::Ingress
            };
            let (mut local, mut remote) = (Vec::new(), Vec::new());
            for e in view.backends(&service.service_id) {
                if e.node_id == node_id {
                    local.push(e.addr);
                } else if mode == PublishMode::Ingress {
                    remote.push(RemoteTask {
                        addr: e.addr,
                        node: e.vtep,
                    });
                }
            }
            local.sort();
            remote.sort();
            out.push(MeshPort {
                protocol,
                published,
                target,
                mode,
                local,
                remote,
                route_return: service
                    .route_return_ports
                    .iter()
                    .any(|(p, n)| *n == port.published_port && (p == "tcp") == (protocol == Protocol::Tcp)),
                // Forwarding would carry an encrypted network's traffic outside its tunnels.
                forward: !view.encrypted,
            });
        }
    }
    out.sort_by_key(|p| (p.protocol == Protocol::Udp, p.published));
    out
}

/// The route-return routing task `task_id` needs, attached to `networks` in order (`eth0`,
/// `eth1`, …): `None` unless it is on the ingress network for a service asking for it.
pub fn task_return(views: &Views, task_id: &str, networks: &[String]) -> Option<MeshReturn> {
    let view = views.ingress()?;
    let index = networks.iter().position(|id| *id == view.network_id)?;
    let service_id = &view.endpoint(task_id)?.service_id;
    if !view
        .services
        .iter()
        .any(|s| s.service_id == *service_id && s.route_return)
    {
        return None;
    }
    let pool = view.pools.first()?;
    let subnet = ipnet::Ipv4Net::new(pool.subnet.addr, pool.subnet.prefix).ok()?;
    let mut sandboxes: Vec<_> = view
        .endpoints
        .iter()
        .filter(|e| e.is_node_sandbox())
        .map(|e| e.addr)
        .collect();
    sandboxes.sort();
    Some(MeshReturn {
        ifname: format!("eth{index}"),
        subnet: subnet.trunc(),
        sandboxes,
    })
}

/// Sets a task namespace's route-return routing from `was` to `wanted` (`None`: removed, when
/// it had some).
pub async fn set_returns(
    plane: &dyn DataPlane,
    netns: &std::path::Path,
    was: &Option<MeshReturn>,
    wanted: &Option<MeshReturn>,
) -> netplane::Result<()> {
    match (was, wanted) {
        (_, Some(route)) => plane.set_mesh_return(netns, route).await,
        (Some(old), None) => {
            let cleared = MeshReturn {
                sandboxes: Vec::new(),
                ..old.clone()
            };
            plane.set_mesh_return(netns, &cleared).await
        }
        (None, None) => Ok(()),
    }
}

/// Takes the ingress sandbox and the mesh's host table down once the views no longer ask this
/// node for one (the ingress network removed, or this node's sandbox endpoint dropped); false
/// when that failed (logged, retried).
pub async fn drop_mesh(
    views: &Views,
    node_id: &str,
    ingress: &mut Option<(u32, Ipv4Addr)>,
    applied: &mut Option<Vec<MeshPort>>,
    plane: &dyn DataPlane,
) -> bool {
    let wanted = views.ingress().and_then(|view| view.node_sandbox(node_id));
    if ingress.is_none() || wanted.is_some() {
        return true;
    }
    if let Err(error) = plane.remove_ingress().await {
        tracing::warn!(%error, "removing the ingress sandbox failed; retried");
        return false;
    }
    tracing::info!("the ingress sandbox is no longer wanted on this node: removed");
    *ingress = None;
    *applied = None;
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::views::tests::{endpoint, view};
    use types::PortConfig;

    fn published(port: u32, mode: &str) -> PortConfig {
        PortConfig {
            name: String::new(),
            protocol: "tcp".into(),
            target_port: 80,
            published_port: port,
            publish_mode: mode.into(),
        }
    }

    #[test]
    fn ingress_ports_balance_over_every_node_and_host_ports_over_this_one() {
        let mut v = view(
            "ingress",
            vec![
                endpoint("t1", "web", "node1", 10),
                endpoint("t2", "web", "node2", 11),
                endpoint("t3", "web", "node2", 12),
            ],
        );
        v.endpoints[2].serving = false;
        v.services[0].ports = vec![published(8080, "ingress"), published(9090, "host")];
        let ports = mesh_ports(&v, "node1");
        assert_eq!(ports.len(), 2);
        assert_eq!((ports[0].published, ports[0].mode), (8080, PublishMode::Ingress));
        assert_eq!(
            ports[0].local,
            vec!["10.0.1.10".parse::<std::net::Ipv4Addr>().unwrap()]
        );
        assert_eq!(
            ports[0].remote.iter().map(|r| r.addr).collect::<Vec<_>>(),
            vec!["10.0.1.11".parse::<std::net::Ipv4Addr>().unwrap()]
        );
        assert_eq!(
            ports[0].remote[0].node, v.endpoints[1].vtep,
            "forwarded to its node"
        );
        assert!(ports[0].forward);
        v.encrypted = true;
        assert!(
            !mesh_ports(&v, "node1")[0].forward,
            "an encrypted ingress network keeps its traffic in its tunnels"
        );
        assert_eq!(ports[1].mode, PublishMode::Host);
        assert!(ports[1].remote.is_empty(), "host mode never leaves the node");
        let on_node3 = mesh_ports(&v, "node3");
        assert!(
            on_node3[1].local.is_empty(),
            "no task here: the host port is not published"
        );
    }
}
