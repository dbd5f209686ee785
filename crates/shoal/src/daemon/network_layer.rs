//! The node's network layer as the daemon sets it up: a kernel data plane whose VXLAN endpoint
//! is this node's advertised address, tagged from the node ID (two agents on one host never
//! touch each other's namespaces), named namespaces in `/run/shoal/netns`, sandbox files in
//! `<data-dir>/sandboxes`. A node that cannot make namespaces keeps the views but refuses tasks
//! with networks, saying why; hollow nodes keep views only.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use agent::network::{ATTACH_DEADLINE, KernelNamespaces, NetworkConfig, NodeNetwork};
use netplane::dns::{HostResolvConf, Upstreams};
use netplane::{Plane, PlaneConfig};

use super::datadir::DataDir;

/// The host's resolver configuration.
const HOST_RESOLV_CONF: &str = "/etc/resolv.conf";

/// The IPv4 address in `advertise` (`ip:port` or `ip`) that a VXLAN tunnel can use.
fn underlay_of(advertise: &str) -> Option<Ipv4Addr> {
    let ip = match advertise.parse::<SocketAddr>() {
        Ok(addr) => addr.ip(),
        Err(_) => advertise.parse::<IpAddr>().ok()?,
    };
    match ip {
        IpAddr::V4(v4) if !v4.is_unspecified() => Some(v4),
        _ => None,
    }
}

fn config(dir: &DataDir, node_id: &str, host_resolv: HostResolvConf) -> NetworkConfig {
    config_in(dir.root(), node_id, host_resolv)
}

fn config_in(root: &Path, node_id: &str, host_resolv: HostResolvConf) -> NetworkConfig {
    NetworkConfig {
        node_id: node_id.to_owned(),
        tag: netplane::names::tag_of(node_id),
        sandboxes: root.join("sandboxes"),
        host_resolv,
        dns_port: netplane::dns::DNS_PORT,
        attach_deadline: ATTACH_DEADLINE,
    }
}

/// Views only, no data plane: for the `sim` executor's simulated tasks.
pub fn views_only(dir: &DataDir, node_id: &str) -> Arc<NodeNetwork> {
    NodeNetwork::views_only(config(dir, node_id, HostResolvConf::default()))
}

/// Views only, for a hollow node (no data dir: it writes nothing).
pub fn hollow() -> Arc<NodeNetwork> {
    NodeNetwork::views_only(config_in(
        Path::new("/nonexistent"),
        "hollow",
        HostResolvConf::default(),
    ))
}

/// The network layer of a node running real tasks, advertised at `advertise`.
pub fn kernel(dir: &DataDir, node_id: &str, advertise: &str) -> Arc<NodeNetwork> {
    let host_resolv = HostResolvConf::read(Path::new(HOST_RESOLV_CONF)).unwrap_or_else(|error| {
        tracing::warn!(%error, "no host resolv.conf: tasks' resolvers forward nothing");
        HostResolvConf::default()
    });
    let config = config(dir, node_id, host_resolv.clone());
    let refuse = |why: String| {
        tracing::warn!(%why, "tasks on overlay networks are refused on this node");
        NodeNetwork::refusing(config.clone(), why)
    };
    if !super::is_root() {
        return refuse("the agent does not run as root, so it cannot make network namespaces".into());
    }
    if !program_on_path("nft") {
        return refuse("the nft program (Debian's nftables package) is not installed; VIPs need it".into());
    }
    let Some(underlay) = underlay_of(advertise) else {
        return refuse(format!(
            "the advertised address {advertise:?} is not an IPv4 address a VXLAN tunnel can use"
        ));
    };
    let mut plane_config = PlaneConfig::new(config.tag.clone(), underlay);
    plane_config.netns_dir = PathBuf::from(netplane::names::NETNS_DIR);
    let plane = match Plane::new(plane_config) {
        Ok(plane) => plane,
        Err(error) => return refuse(error.to_string()),
    };
    let upstreams = Upstreams::new(host_resolv.upstreams(), "/proc/self/ns/net");
    let layer = NodeNetwork::new(
        config,
        Arc::new(plane),
        Arc::new(KernelNamespaces::new(netplane::names::NETNS_DIR)),
        upstreams,
    );
    layer.start_retries();
    // Peers that stop answering leave this node's balancers before the manager's verdict.
    layer.start_liveness(underlay, netplane::probe::PROBE_PORT, Default::default());
    layer
}

/// Whether `program` is an executable file in a `PATH` directory.
fn program_on_path(program: &str) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| {
            std::fs::metadata(dir.join(program))
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_and_underlays_come_from_the_node() {
        assert_eq!(
            netplane::names::tag_of("0a1b2c3d4e5f6g7h8i9j0k1l2"),
            "g7h8i9j0k1l2"
        );
        assert!(netplane::names::valid_tag(&netplane::names::tag_of("Node-ID_x")));
        assert_eq!(underlay_of("10.0.0.5:2377"), Some(Ipv4Addr::new(10, 0, 0, 5)));
        assert_eq!(underlay_of("10.0.0.5"), Some(Ipv4Addr::new(10, 0, 0, 5)));
        assert_eq!(underlay_of("0.0.0.0:2377"), None);
        assert_eq!(underlay_of("[::1]:2377"), None);
    }
}
