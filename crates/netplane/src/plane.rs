//! The data plane of one node: its configuration and the inputs it takes.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use ipnet::Ipv4Net;

use crate::error::{Error, Result};
use crate::names;

/// The VXLAN UDP port IANA assigned, Docker's default data-path port.
pub const DEFAULT_VXLAN_PORT: u16 = 4789;

/// The bytes VXLAN adds over IPv4 (outer IP 20 + UDP 8 + VXLAN 8 + inner Ethernet 14).
pub const VXLAN_OVERHEAD: u32 = 50;

/// Where `ip netns` keeps named namespaces.
pub const DEFAULT_NETNS_DIR: &str = "/run/netns";

/// How one node's data plane is set up.
#[derive(Clone, Debug)]
pub struct PlaneConfig {
    /// The owner tag in every machine-global name (1–12 of `[a-z0-9]`), e.g. a short node ID.
    pub tag: String,
    /// The node's own namespace, where VXLAN sockets live; `/proc/self/ns/net` for the agent's.
    pub host_netns: PathBuf,
    /// Where the overlay namespaces are pinned.
    pub netns_dir: PathBuf,
    /// The node's underlay address: the VTEP's local address, and the link whose MTU bounds the overlay.
    pub underlay: Ipv4Addr,
    /// The VXLAN UDP port (Swarm's `--data-path-port`).
    pub vxlan_port: u16,
}

impl PlaneConfig {
    /// A configuration for the agent's own namespace with Docker's port and `/run/netns`.
    pub fn new(tag: impl Into<String>, underlay: Ipv4Addr) -> Self {
        PlaneConfig {
            tag: tag.into(),
            host_netns: PathBuf::from("/proc/self/ns/net"),
            netns_dir: PathBuf::from(DEFAULT_NETNS_DIR),
            underlay,
            vxlan_port: DEFAULT_VXLAN_PORT,
        }
    }
}

/// One overlay network as the node needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkSpec {
    /// The VXLAN network identifier (1 to 2^24 − 1).
    pub vni: u32,
    /// The network's subnet.
    pub subnet: Ipv4Net,
    /// The gateway address, inside the subnet; it sits on the overlay's bridge.
    pub gateway: Ipv4Addr,
    /// The MTU (`com.docker.network.driver.mtu`); `None` derives it: underlay MTU − 50.
    pub mtu: Option<u32>,
    /// An internal network: tasks get no default route.
    pub internal: bool,
    /// The network's further subnets (Docker's `--subnet A --subnet B`), each with its
    /// gateway: every gateway sits on the bridge, and a task on one subnet reaches the others
    /// on its link (one L2 segment, one VNI).
    pub more_subnets: Vec<SubnetGateway>,
}

/// One more subnet of a network and its gateway.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SubnetGateway {
    /// The subnet.
    pub subnet: Ipv4Net,
    /// Its gateway, a host address of it.
    pub gateway: Ipv4Addr,
}

impl NetworkSpec {
    /// Every subnet with its gateway, the first one first.
    pub fn subnets(&self) -> Vec<SubnetGateway> {
        let mut all = vec![SubnetGateway {
            subnet: self.subnet,
            gateway: self.gateway,
        }];
        all.extend(self.more_subnets.iter().copied());
        all
    }

    /// The spec as an endpoint with `address` sees it: its own subnet and gateway first
    /// (its prefix and default route), the others after; unchanged when no subnet holds it.
    pub fn for_address(&self, address: Ipv4Addr) -> NetworkSpec {
        let all = self.subnets();
        let Some(own) = all.iter().position(|s| s.subnet.contains(&address)) else {
            return self.clone();
        };
        let mut out = self.clone();
        out.subnet = all[own].subnet;
        out.gateway = all[own].gateway;
        out.more_subnets = all
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != own)
            .map(|(_, s)| *s)
            .collect();
        out
    }

    /// Checks the VNI range and that the gateway is a host address of the subnet.
    pub fn validate(&self) -> Result<()> {
        if self.vni == 0 || self.vni > 0xff_ffff {
            return Err(Error::Invalid(format!(
                "VNI {} is outside 1..=16777215",
                self.vni
            )));
        }
        for more in &self.more_subnets {
            let alone = NetworkSpec {
                subnet: more.subnet,
                gateway: more.gateway,
                more_subnets: Vec::new(),
                ..self.clone()
            };
            if !alone.is_host_address(more.gateway) {
                return Err(Error::Invalid(format!(
                    "gateway {} is not a host address of {}",
                    more.gateway, more.subnet
                )));
            }
        }
        if !self.is_host_address(self.gateway) {
            return Err(Error::Invalid(format!(
                "gateway {} is not a host address of {}",
                self.gateway, self.subnet
            )));
        }
        if let Some(mtu) = self.mtu
            && !(68..=65_535).contains(&mtu)
        {
            return Err(Error::Invalid(format!("MTU {mtu} is outside 68..=65535")));
        }
        Ok(())
    }

    /// Whether `ip` is in the subnet and neither its network nor its broadcast address.
    pub fn is_host_address(&self, ip: Ipv4Addr) -> bool {
        self.subnet.contains(&ip)
            && (self.subnet.prefix_len() >= 31
                || (ip != self.subnet.network() && ip != self.subnet.broadcast()))
    }
}

/// A task's attachment to an overlay on this node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EndpointSpec {
    /// The task's network namespace: `/proc/<pid>/ns/net` or a pinned file.
    pub netns: PathBuf,
    /// The interface name inside the task (`eth0`, `eth1`, … in attachment order).
    pub ifname: String,
    /// The task's address on the network (the prefix is the network's).
    pub address: Ipv4Addr,
}

/// An endpoint on another node, as the overlay must know it to reach it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RemoteEndpoint {
    /// The endpoint's overlay address.
    pub address: Ipv4Addr,
    /// Its MAC (the 02:42 one derived from the address unless its node said otherwise).
    pub mac: [u8; 6],
    /// The underlay address of its node's VTEP.
    pub vtep: Ipv4Addr,
}

impl RemoteEndpoint {
    /// A remote endpoint with the MAC derived from its address.
    pub fn new(address: Ipv4Addr, vtep: Ipv4Addr) -> Self {
        RemoteEndpoint {
            address,
            mac: names::mac_for(address),
            vtep,
        }
    }
}

/// The data plane of one node; cheap to clone, holds no open sockets between calls.
#[derive(Clone, Debug)]
pub struct Plane {
    pub(crate) config: PlaneConfig,
    /// Held while an overlay is made, removed or swept: two tasks starting on one network at
    /// once must not both create its bridge.
    pub(crate) overlays: std::sync::Arc<tokio::sync::Mutex<()>>,
    /// The node's encrypted tunnels, once an encrypted network needed them (`crypt/plane.rs`).
    pub(crate) tunnels: std::sync::Arc<tokio::sync::Mutex<Option<crate::crypt::Tunnels>>>,
}

impl Plane {
    /// A plane with `config`, whose tag is checked.
    pub fn new(config: PlaneConfig) -> Result<Self> {
        if !names::valid_tag(&config.tag) {
            return Err(Error::Invalid(format!(
                "owner tag {:?} must be 1 to {} lower-case letters or digits",
                config.tag,
                names::MAX_TAG
            )));
        }
        Ok(Plane {
            config,
            overlays: Default::default(),
            tunnels: Default::default(),
        })
    }

    /// The plane's configuration.
    pub fn config(&self) -> &PlaneConfig {
        &self.config
    }

    /// The path of network `vni`'s overlay namespace on this node.
    pub fn overlay_netns(&self, vni: u32) -> PathBuf {
        self.config
            .netns_dir
            .join(names::overlay_netns(&self.config.tag, vni))
    }

    /// The host namespace's path.
    pub(crate) fn host_netns(&self) -> &Path {
        &self.config.host_netns
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(subnet: &str, gateway: [u8; 4]) -> NetworkSpec {
        NetworkSpec {
            vni: 4097,
            subnet: subnet.parse().expect("test subnet"),
            gateway: gateway.into(),
            mtu: None,
            internal: false,
            more_subnets: Vec::new(),
        }
    }

    #[test]
    fn an_endpoint_sees_its_own_subnet_first() {
        let mut two = spec("10.0.1.0/24", [10, 0, 1, 1]);
        two.more_subnets.push(SubnetGateway {
            subnet: "10.0.2.0/24".parse().expect("subnet"),
            gateway: [10, 0, 2, 1].into(),
        });
        assert!(two.validate().is_ok());
        let seen = two.for_address([10, 0, 2, 9].into());
        assert_eq!(seen.subnet.to_string(), "10.0.2.0/24");
        assert_eq!(seen.gateway, Ipv4Addr::new(10, 0, 2, 1));
        assert_eq!(seen.more_subnets[0].subnet.to_string(), "10.0.1.0/24");
        assert_eq!(two.for_address([10, 0, 1, 9].into()), two);
        two.more_subnets[0].gateway = [10, 0, 3, 1].into();
        assert!(two.validate().is_err(), "a further gateway outside its subnet");
    }

    #[test]
    fn a_gateway_outside_the_subnet_or_a_bad_vni_is_refused() {
        assert!(spec("10.0.1.0/24", [10, 0, 1, 1]).validate().is_ok());
        assert!(spec("10.0.1.0/24", [10, 0, 2, 1]).validate().is_err());
        assert!(spec("10.0.1.0/24", [10, 0, 1, 0]).validate().is_err());
        assert!(spec("10.0.1.0/24", [10, 0, 1, 255]).validate().is_err());
        let mut big = spec("10.0.1.0/24", [10, 0, 1, 1]);
        big.vni = 1 << 24;
        assert!(big.validate().is_err());
    }

    #[test]
    fn a_bad_tag_is_refused() {
        let config = PlaneConfig::new("Node 1", Ipv4Addr::LOCALHOST);
        assert!(Plane::new(config).is_err());
    }
}
