//! Overlay networks as the store holds them: the user's spec, and what the manager allocated
//! for it (VNI, subnets, gateways). Addresses held by tasks and services on a network are kept
//! in tables of their own ([`NetAddr`] lists), written by the allocator.
//!
//! IPv4 only: an IPv6 subnet is refused where the spec is validated.

use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Meta;

/// The only network driver the cluster manages.
pub const OVERLAY: &str = "overlay";

/// Docker's option naming a network's MTU.
pub const MTU_OPTION: &str = "com.docker.network.driver.mtu";

/// Docker's option asking for an encrypted overlay; its presence counts, not its value (dockerd
/// takes `--opt encrypted`, `--opt encrypted=true` and `--opt encrypted=""` alike).
pub const ENCRYPTED_OPTION: &str = "encrypted";

/// A cluster-wide network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    /// Network ID.
    pub id: String,
    /// Version and timestamps.
    pub meta: Meta,
    /// What the user asked for.
    pub spec: NetworkSpec,
    /// The VXLAN network identifier (4096 and up).
    pub vni: u32,
    /// The allocated address pools, one per IPAM config (one from the default pool when the
    /// spec has none).
    pub pools: Vec<Pool>,
}

/// A network's spec, as `POST /networks/create` gives it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkSpec {
    /// Name (unique among networks).
    pub name: String,
    /// User labels.
    pub labels: BTreeMap<String, String>,
    /// Driver: always [`OVERLAY`].
    pub driver: String,
    /// Driver options (the MTU among them).
    pub options: BTreeMap<String, String>,
    /// Standalone containers may join.
    pub attachable: bool,
    /// No route out of the network.
    pub internal: bool,
    /// The routing mesh's network.
    pub ingress: bool,
    /// The IPAM configs as given (empty: one subnet from the default pool).
    pub ipam: Vec<IpamConfig>,
}

impl NetworkSpec {
    /// True when created with `--opt encrypted`.
    pub fn encrypted(&self) -> bool {
        self.options.contains_key(ENCRYPTED_OPTION)
    }
}

/// One of Docker's `IPAM.Config[]` entries, as given.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpamConfig {
    /// Subnet in CIDR form (empty: from the default pool).
    pub subnet: String,
    /// Part of the subnet addresses are handed out from (empty: all of it).
    pub ip_range: String,
    /// Gateway address (empty: the subnet's first address).
    pub gateway: String,
    /// Named addresses never handed out.
    pub aux_addresses: BTreeMap<String, String>,
}

/// An IPv4 subnet: network address and prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Subnet {
    /// The network address (host bits zero).
    pub addr: Ipv4Addr,
    /// Prefix length, 0–32.
    pub prefix: u8,
}

/// Why a subnet string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubnetError {
    /// Not `a.b.c.d/n`.
    #[error("invalid CIDR address: {0}")]
    Syntax(String),
    /// An IPv6 subnet.
    #[error("IPv6 subnets are not supported yet: {0}")]
    Ipv6(String),
}

impl Subnet {
    /// The subnet's mask as a number.
    pub fn mask(self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.prefix))
        }
    }

    /// The first address, as a number.
    pub fn first(self) -> u32 {
        u32::from(self.addr) & self.mask()
    }

    /// The last address, as a number.
    pub fn last(self) -> u32 {
        self.first() | !self.mask()
    }

    /// Whether `ip` is inside.
    pub fn contains(self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == self.first()
    }

    /// Whether the two share any address.
    pub fn overlaps(self, other: Subnet) -> bool {
        self.first() <= other.last() && other.first() <= self.last()
    }

    /// Parses `a.b.c.d/n`; `host_bits` allows an address with host bits set (a gateway
    /// written with its prefix), else the host bits are cleared.
    pub fn parse(s: &str) -> Result<Subnet, SubnetError> {
        let (ip, prefix) = s
            .split_once('/')
            .ok_or_else(|| SubnetError::Syntax(s.to_string()))?;
        if ip.contains(':') {
            return Err(SubnetError::Ipv6(s.to_string()));
        }
        let ip = Ipv4Addr::from_str(ip).map_err(|_| SubnetError::Syntax(s.to_string()))?;
        let prefix: u8 = prefix.parse().map_err(|_| SubnetError::Syntax(s.to_string()))?;
        if prefix > 32 {
            return Err(SubnetError::Syntax(s.to_string()));
        }
        let subnet = Subnet { addr: ip, prefix };
        Ok(Subnet {
            addr: Ipv4Addr::from(subnet.first()),
            prefix,
        })
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// One allocated address pool of a network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pool {
    /// The subnet.
    pub subnet: Subnet,
    /// Where addresses are handed out from (the subnet itself when no range was given).
    pub range: Subnet,
    /// The gateway (never handed out).
    pub gateway: Ipv4Addr,
    /// Auxiliary addresses by name (never handed out).
    pub aux: BTreeMap<String, Ipv4Addr>,
}

impl Pool {
    /// Whether the allocator may hand `ip` out: in the range, not the subnet's network or
    /// broadcast address, not the gateway nor an auxiliary address.
    pub fn assignable(&self, ip: Ipv4Addr) -> bool {
        let n = u32::from(ip);
        self.range.contains(ip)
            && (self.subnet.prefix >= 31 || (n != self.subnet.first() && n != self.subnet.last()))
            && ip != self.gateway
            && !self.aux.values().any(|a| *a == ip)
    }
}

/// An address held on one network (by a task attachment or a service's VIP).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NetAddr {
    /// The network's ID.
    pub network_id: String,
    /// The address.
    pub addr: Ipv4Addr,
}

impl Network {
    /// The pool `ip` belongs to.
    pub fn pool_of(&self, ip: Ipv4Addr) -> Option<&Pool> {
        self.pools.iter().find(|p| p.subnet.contains(ip))
    }

    /// `ip` with its subnet's prefix (`10.0.1.5/24`), as Docker shows addresses.
    pub fn cidr(&self, ip: Ipv4Addr) -> String {
        let prefix = self.pool_of(ip).map(|p| p.subnet.prefix).unwrap_or(32);
        format!("{ip}/{prefix}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets_parse_clear_host_bits_and_refuse_v6() {
        let s = Subnet::parse("10.1.2.3/16").unwrap();
        assert_eq!(s.to_string(), "10.1.0.0/16");
        assert!(s.contains(Ipv4Addr::new(10, 1, 255, 1)));
        assert!(!s.contains(Ipv4Addr::new(10, 2, 0, 1)));
        assert!(s.overlaps(Subnet::parse("10.1.3.0/24").unwrap()));
        assert!(!s.overlaps(Subnet::parse("10.2.0.0/24").unwrap()));
        assert!(matches!(Subnet::parse("fd00::/64"), Err(SubnetError::Ipv6(_))));
        assert!(Subnet::parse("10.0.0.0").is_err());
        assert!(Subnet::parse("10.0.0.0/33").is_err());
        assert_eq!(Subnet::parse("0.0.0.0/0").unwrap().last(), u32::MAX);
    }

    #[test]
    fn gateway_aux_network_and_broadcast_are_not_assignable() {
        let subnet = Subnet::parse("10.0.9.0/24").unwrap();
        let pool = Pool {
            subnet,
            range: Subnet::parse("10.0.9.0/25").unwrap(),
            gateway: Ipv4Addr::new(10, 0, 9, 1),
            aux: [("db".to_string(), Ipv4Addr::new(10, 0, 9, 7))].into(),
        };
        assert!(!pool.assignable(Ipv4Addr::new(10, 0, 9, 0)));
        assert!(!pool.assignable(Ipv4Addr::new(10, 0, 9, 1)));
        assert!(!pool.assignable(Ipv4Addr::new(10, 0, 9, 7)));
        assert!(pool.assignable(Ipv4Addr::new(10, 0, 9, 2)));
        assert!(
            !pool.assignable(Ipv4Addr::new(10, 0, 9, 200)),
            "outside the range"
        );
    }
}
