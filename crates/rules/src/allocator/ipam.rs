//! IP address management: subnets and VNIs for new networks, and a per-pass picker of free
//! addresses inside a network's pools.
//!
//! ```text
//! network create ─► plan_pools (user subnets, else the next free /24 of 10.0.0.0/8) + next_vni
//! allocator pass ─► Picker::pick (first assignable address not held, serially per network)
//! ```
//! Everything reads the store's view; what is taken is whatever the store says is held, so a
//! new leader's allocator needs no state of its own.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use state::State;
use types::{IpamConfig, Network, NetworkSpec, Pool, Subnet};

use crate::{Error, Result};

/// The first VXLAN network identifier handed out (libnetwork's overlay driver's too).
pub const VNI_FIRST: u32 = 4096;
/// The last VXLAN network identifier (24 bits).
pub const VNI_LAST: u32 = (1 << 24) - 1;
/// Docker's default address pool.
pub const DEFAULT_POOL: &str = "10.0.0.0/8";
/// Docker's default size of the subnets carved from it.
pub const DEFAULT_SUBNET_SIZE: u8 = 24;

/// The pools network subnets are carved from and the size of each subnet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressPools {
    /// Base pools, in order of preference.
    pub pools: Vec<Subnet>,
    /// Prefix length of each carved subnet.
    pub size: u8,
}

impl AddressPools {
    /// Checks `swarm init --default-addr-pool … --default-addr-pool-mask-length`: every pool a
    /// valid IPv4 CIDR, the size within 1–29 and not shorter than any pool's prefix (an empty
    /// list or a zero size takes Docker's defaults).
    pub fn parse(pools: &[String], size: u32) -> Result<AddressPools> {
        let size = if size == 0 {
            u32::from(DEFAULT_SUBNET_SIZE)
        } else {
            size
        };
        let list: Vec<&str> = if pools.is_empty() {
            vec![DEFAULT_POOL]
        } else {
            pools.iter().map(String::as_str).collect()
        };
        if !(1..=29).contains(&size) {
            return Err(Error::InvalidArgument(format!(
                "invalid default address pool mask length {size}: it must be between 1 and 29"
            )));
        }
        let mut out = Vec::new();
        for p in list {
            let subnet = Subnet::parse(p)
                .map_err(|e| Error::InvalidArgument(format!("invalid default address pool: {e}")))?;
            if u32::from(subnet.prefix) > size {
                return Err(Error::InvalidArgument(format!(
                    "invalid default address pool {subnet}: its prefix is longer than the subnet size /{size}"
                )));
            }
            if out.iter().any(|o: &Subnet| o.overlaps(subnet)) {
                return Err(Error::InvalidArgument(format!(
                    "invalid default address pool {subnet}: it overlaps another pool"
                )));
            }
            out.push(subnet);
        }
        Ok(AddressPools {
            pools: out,
            size: size as u8,
        })
    }

    /// The cluster's pools (Docker's defaults before the cluster exists).
    pub fn of(state: &State) -> Result<AddressPools> {
        match state.cluster() {
            Some(c) => AddressPools::parse(&c.default_addr_pool, c.subnet_size),
            None => AddressPools::parse(&[], 0),
        }
    }
}

/// Every subnet some network holds.
fn used_subnets(state: &State) -> Vec<Subnet> {
    state
        .networks()
        .flat_map(|n| n.pools.iter().map(|p| p.subnet))
        .collect()
}

/// The first subnet of `size` in the pools that overlaps none of `used`.
fn carve(pools: &AddressPools, used: &[Subnet]) -> Option<Subnet> {
    let step = 1u64 << (32 - u32::from(pools.size));
    for base in &pools.pools {
        let mut at = u64::from(base.first());
        while at + step - 1 <= u64::from(base.last()) {
            let candidate = Subnet {
                addr: Ipv4Addr::from(at as u32),
                prefix: pools.size,
            };
            match used
                .iter()
                .filter(|u| u.overlaps(candidate))
                .map(|u| u.last())
                .max()
            {
                // Skip past the furthest overlapping subnet, aligned to the step.
                Some(end) => at = (u64::from(end) + 1).div_ceil(step) * step,
                None => return Some(candidate),
            }
        }
    }
    None
}

fn invalid(msg: String) -> Error {
    Error::InvalidArgument(msg)
}

fn parse_ip(what: &str, s: &str) -> Result<Ipv4Addr> {
    if s.contains(':') {
        return Err(invalid(format!(
            "IPv6 is not supported yet: {what} {}",
            types::excerpt(s)
        )));
    }
    s.parse()
        .map_err(|_| invalid(format!("invalid {what} {}", types::excerpt(s))))
}

/// One pool from an IPAM config whose subnet is known.
fn pool(cfg: &IpamConfig, subnet: Subnet) -> Result<Pool> {
    let range = if cfg.ip_range.is_empty() {
        subnet
    } else {
        let r = Subnet::parse(&cfg.ip_range).map_err(|e| invalid(format!("invalid ip range: {e}")))?;
        if !(subnet.contains(r.addr) && r.prefix >= subnet.prefix) {
            return Err(invalid(format!("ip range {r} is not inside subnet {subnet}")));
        }
        r
    };
    let gateway = if cfg.gateway.is_empty() {
        if subnet.prefix >= 31 {
            return Err(invalid(format!(
                "subnet {subnet} is too small: it leaves no address beside the gateway"
            )));
        }
        Ipv4Addr::from(subnet.first() + 1)
    } else {
        let g = parse_ip("gateway", cfg.gateway.split('/').next().unwrap_or_default())?;
        if !subnet.contains(g) {
            return Err(invalid(format!("gateway {g} is not inside subnet {subnet}")));
        }
        g
    };
    let mut aux = BTreeMap::new();
    for (name, a) in &cfg.aux_addresses {
        let ip = parse_ip("auxiliary address", a)?;
        if !subnet.contains(ip) {
            return Err(invalid(format!(
                "auxiliary address {name}={ip} is not inside subnet {subnet}"
            )));
        }
        aux.insert(name.clone(), ip);
    }
    Ok(Pool {
        subnet,
        range,
        gateway,
        aux,
    })
}

/// The pools of a new network: the user's subnets (checked against each other and every
/// other network's), or one subnet carved from the cluster's default pools.
pub fn plan_pools(state: &State, spec: &NetworkSpec) -> Result<Vec<Pool>> {
    let mut used = used_subnets(state);
    let configs = if spec.ipam.is_empty() {
        vec![IpamConfig::default()]
    } else {
        spec.ipam.clone()
    };
    let mut out = Vec::new();
    for cfg in &configs {
        let subnet = if cfg.subnet.is_empty() {
            if !cfg.ip_range.is_empty() || !cfg.gateway.is_empty() || !cfg.aux_addresses.is_empty() {
                return Err(invalid(
                    "an ip range, gateway or auxiliary address needs a subnet".into(),
                ));
            }
            carve(&AddressPools::of(state)?, &used).ok_or_else(|| {
                Error::Forbidden("could not find an available, non-overlapping IPv4 address pool".into())
            })?
        } else {
            let s = Subnet::parse(&cfg.subnet).map_err(|e| invalid(format!("invalid subnet: {e}")))?;
            if let Some(other) = used.iter().find(|u| u.overlaps(s)) {
                return Err(Error::Forbidden(format!(
                    "invalid pool request: subnet {s} overlaps {other}, already in use"
                )));
            }
            s
        };
        used.push(subnet);
        out.push(pool(cfg, subnet)?);
    }
    Ok(out)
}

/// Where a cluster's VNIs start: a point of the VNI range fixed by its ID (FNV-1a; the same on
/// every manager and in every replay), or [`VNI_FIRST`] without a cluster object.
///
/// Why not 4096 for every cluster, as Swarm: the kernel keys a namespace's VXLAN traffic by
/// (UDP port, VNI) alone — whatever the devices' local addresses — and an overlay's VXLAN
/// device keeps its socket in the host namespace. Swarm has one dockerd per host, so one
/// cluster per namespace; shoal's dev mode and tests run agents of several clusters in one
/// namespace, where two clusters numbering from 4096 would both want 4096 for `ingress` and
/// the second would be refused ("File exists"). Spread over the 16.7M identifiers, two
/// clusters' runs of VNIs meet only by a chance of their sizes over that range.
pub fn vni_base(cluster_id: Option<&str>) -> u32 {
    let Some(id) = cluster_id else {
        return VNI_FIRST;
    };
    let hash = id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    let span = u64::from(VNI_LAST - VNI_FIRST + 1);
    // In range by construction: the remainder is below `span`, which fits the 24-bit range.
    VNI_FIRST + u32::try_from(hash % span).unwrap_or(0)
}

/// The first VNI no network holds, from the cluster's base ([`vni_base`]) upwards, wrapping to
/// [`VNI_FIRST`].
pub fn next_vni(state: &State) -> Result<u32> {
    let used: BTreeSet<u32> = state.networks().map(|n| n.vni).collect();
    let base = vni_base(state.cluster().map(|c| c.id.as_str()));
    first_free(base, &used).ok_or_else(|| Error::Forbidden("no VXLAN network identifier is free".into()))
}

/// The first VNI from `base` upwards not in `used`, wrapping to [`VNI_FIRST`].
fn first_free(base: u32, used: &BTreeSet<u32>) -> Option<u32> {
    (base..=VNI_LAST)
        .chain(VNI_FIRST..base)
        .find(|v| !used.contains(v))
}

/// Hands out free addresses during one allocator pass, serially as libnetwork does for
/// overlays: after the highest address the network holds, wrapping to the start of its pools
/// only when the end is reached. So an address just released is not handed out again while
/// others are free (peers' ARP, conntrack and DNS caches forget it first), and a network
/// holding 100k addresses finds the next one without walking them.
#[derive(Default)]
pub struct Picker {
    taken: BTreeSet<(String, u32)>,
    walks: BTreeMap<String, Walk>,
}

/// Where one network's search stands within a pass.
#[derive(Clone, Copy)]
struct Walk {
    /// Where the search began (one past the highest held address).
    origin: u64,
    /// The next address to try.
    next: u64,
    /// The search went past the pools' end and now covers `[0, origin)`.
    wrapped: bool,
}

impl Picker {
    /// A free address on `network`, now taken; none when its pools are full.
    pub fn pick(&mut self, state: &State, network: &Network) -> Option<Ipv4Addr> {
        let mut walk = self.walks.get(&network.id).copied().unwrap_or_else(|| {
            let origin = state
                .last_held_on(&network.id)
                .map_or(0, |ip| u64::from(u32::from(ip)) + 1);
            Walk {
                origin,
                next: origin,
                wrapped: false,
            }
        });
        loop {
            let end = if walk.wrapped {
                walk.origin
            } else {
                u64::from(u32::MAX) + 1
            };
            if let Some(ip) = self.first_free(state, network, walk.next, end) {
                walk.next = u64::from(u32::from(ip)) + 1;
                self.taken.insert((network.id.clone(), u32::from(ip)));
                self.walks.insert(network.id.clone(), walk);
                return Some(ip);
            }
            if walk.wrapped {
                walk.next = walk.origin;
                self.walks.insert(network.id.clone(), walk);
                return None;
            }
            walk.wrapped = true;
            walk.next = 0;
        }
    }

    /// The first assignable, unheld, untaken address of the pools in `[from, end)`.
    fn first_free(&self, state: &State, network: &Network, from: u64, end: u64) -> Option<Ipv4Addr> {
        for p in &network.pools {
            let first = u64::from(p.range.first()).max(from);
            let last = u64::from(p.range.last()).min(end.saturating_sub(1));
            let mut at = first;
            while at <= last && at < end {
                let ip = Ipv4Addr::from(at as u32);
                at += 1;
                if p.assignable(ip)
                    && state.holder(&network.id, ip).is_none()
                    && !self.taken.contains(&(network.id.clone(), u32::from(ip)))
                {
                    return Some(ip);
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pools(list: &[&str], size: u32) -> AddressPools {
        AddressPools::parse(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>(), size).unwrap()
    }

    #[test]
    fn clusters_number_vnis_from_a_base_of_their_own_and_wrap() {
        assert_eq!(vni_base(None), VNI_FIRST, "no cluster: Swarm's numbering");
        let bases: BTreeSet<u32> = (0..1000)
            .map(|i| vni_base(Some(&format!("cluster{i}"))))
            .collect();
        assert!(bases.iter().all(|b| (VNI_FIRST..=VNI_LAST).contains(b)));
        assert_eq!(bases.len(), 1000, "a thousand clusters, a thousand bases");
        assert_eq!(
            vni_base(Some("abc")),
            vni_base(Some("abc")),
            "the same on every replica"
        );

        let w = crate::orchestrator::fixtures::World::new().task_limit(0);
        let base = vni_base(Some("cluster"));
        assert_eq!(next_vni(&w.state).unwrap(), base);
        let mut w = w;
        let (op, ingress) = crate::controlapi::network::ingress(&w.state, "ing".into()).unwrap();
        w.commit_op(op);
        assert_eq!(ingress.vni, base, "ingress takes the cluster's first VNI");
        assert_eq!(next_vni(&w.state).unwrap(), base + 1);
        // The top of the range is followed by its bottom.
        let used = BTreeSet::from([VNI_LAST]);
        assert_eq!(first_free(VNI_LAST, &used), Some(VNI_FIRST));
        assert_eq!(first_free(VNI_LAST - 1, &used), Some(VNI_LAST - 1));
        let all: BTreeSet<u32> = (VNI_FIRST..=VNI_LAST).collect();
        assert_eq!(first_free(VNI_FIRST + 7, &all), None);
    }

    #[test]
    fn subnets_are_carved_past_the_used_ones() {
        let p = pools(&[], 0);
        assert_eq!(carve(&p, &[]).unwrap().to_string(), "10.0.0.0/24");
        let used = [
            Subnet::parse("10.0.0.0/24").unwrap(),
            Subnet::parse("10.0.1.128/25").unwrap(),
        ];
        assert_eq!(carve(&p, &used).unwrap().to_string(), "10.0.2.0/24");
        let big = [Subnet::parse("10.0.0.0/16").unwrap()];
        assert_eq!(carve(&p, &big).unwrap().to_string(), "10.1.0.0/24");
        let small = pools(&["192.168.0.0/23", "172.30.0.0/16"], 24);
        let used = [
            Subnet::parse("192.168.0.0/24").unwrap(),
            Subnet::parse("192.168.1.0/24").unwrap(),
        ];
        assert_eq!(carve(&small, &used).unwrap().to_string(), "172.30.0.0/24");
        let full = [Subnet::parse("10.0.0.0/8").unwrap()];
        assert_eq!(carve(&p, &full), None);
    }

    #[test]
    fn bad_default_pools_are_refused() {
        assert!(AddressPools::parse(&["10.0.0.0/8".into()], 30).is_err());
        assert!(AddressPools::parse(&["10.0.0.0/25".into()], 24).is_err());
        assert!(AddressPools::parse(&["fd00::/8".into()], 24).is_err());
        assert!(AddressPools::parse(&["10.0.0.0/8".into(), "10.1.0.0/16".into()], 24).is_err());
        assert_eq!(pools(&["10.20.0.0/16"], 26).size, 26);
    }

    #[test]
    fn user_configs_are_checked() {
        let state = State::default();
        let spec = |subnet: &str, range: &str, gateway: &str, aux: &[(&str, &str)]| NetworkSpec {
            ipam: vec![IpamConfig {
                subnet: subnet.into(),
                ip_range: range.into(),
                gateway: gateway.into(),
                aux_addresses: aux.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            }],
            ..Default::default()
        };
        let p = plan_pools(
            &state,
            &spec("10.9.0.0/16", "10.9.4.0/24", "10.9.0.254", &[("a", "10.9.4.9")]),
        )
        .unwrap();
        assert_eq!(p[0].gateway, Ipv4Addr::new(10, 9, 0, 254));
        assert_eq!(p[0].range.to_string(), "10.9.4.0/24");
        assert_eq!(p[0].aux["a"], Ipv4Addr::new(10, 9, 4, 9));
        let default_gw = plan_pools(&state, &spec("10.9.0.0/16", "", "", &[])).unwrap();
        assert_eq!(default_gw[0].gateway, Ipv4Addr::new(10, 9, 0, 1));
        for bad in [
            spec("10.9.0.0/16", "10.8.0.0/24", "", &[]),
            spec("10.9.0.0/16", "", "10.8.0.1", &[]),
            spec("10.9.0.0/16", "", "", &[("a", "10.8.0.1")]),
            spec("10.9.0.0", "", "", &[]),
            spec("fd00::/64", "", "", &[]),
            spec("", "10.9.0.0/24", "", &[]),
        ] {
            assert!(
                matches!(plan_pools(&state, &bad), Err(Error::InvalidArgument(_))),
                "{bad:?}"
            );
        }
    }
}
