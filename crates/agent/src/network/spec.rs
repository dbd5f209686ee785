//! A network view as the data plane takes it: VNI, subnets and gateways, MTU, internal. Pure.

use ipnet::Ipv4Net;
use netplane::{NetworkSpec, SubnetGateway};
use types::NetworkView;

/// The data plane's spec of `view`'s network: the first pool's subnet and gateway, then the
/// others'.
pub fn network_spec(view: &NetworkView) -> Result<NetworkSpec, String> {
    let Some(pool) = view.pools.first() else {
        return Err(format!("network {} has no address pool", view.name));
    };
    let net = |pool: &types::Pool| {
        Ipv4Net::new(pool.subnet.addr, pool.subnet.prefix)
            .map_err(|e| format!("network {} has a bad subnet {}: {e}", view.name, pool.subnet))
    };
    // Several subnets (`--subnet A --subnet B`): one overlay, every gateway on its bridge.
    let more_subnets = view.pools[1..]
        .iter()
        .map(|p| {
            Ok(SubnetGateway {
                subnet: net(p)?,
                gateway: p.gateway,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let spec = NetworkSpec {
        vni: view.vni,
        subnet: net(pool)?,
        gateway: pool.gateway,
        mtu: view.mtu,
        internal: view.internal,
        more_subnets,
    };
    spec.validate()
        .map_err(|e| format!("network {}: {e}", view.name))?;
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::views::tests::view;

    #[test]
    fn a_view_becomes_the_planes_spec() {
        let mut v = view("n1", vec![]);
        v.mtu = Some(1400);
        v.internal = true;
        let spec = network_spec(&v).unwrap();
        assert_eq!(spec.vni, 4097);
        assert_eq!(spec.subnet.to_string(), "10.0.1.0/24");
        assert_eq!(spec.gateway.to_string(), "10.0.1.1");
        assert_eq!((spec.mtu, spec.internal), (Some(1400), true));
        let mut second = v.pools[0].clone();
        second.subnet = types::Subnet::parse("10.0.2.0/24").unwrap();
        second.range = second.subnet;
        second.gateway = "10.0.2.1".parse().unwrap();
        v.pools.push(second);
        let two = network_spec(&v).unwrap();
        assert_eq!(two.subnet.to_string(), "10.0.1.0/24");
        assert_eq!(two.more_subnets.len(), 1);
        assert_eq!(two.more_subnets[0].gateway.to_string(), "10.0.2.1");
        v.pools.clear();
        assert!(network_spec(&v).is_err());
    }
}
