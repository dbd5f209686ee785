//! A network view as the data plane takes it: VNI, subnet, gateway, MTU, internal. Pure.

use ipnet::Ipv4Net;
use netplane::NetworkSpec;
use types::NetworkView;

/// The data plane's spec of `view`'s network; the first pool is the overlay's subnet.
pub fn network_spec(view: &NetworkView) -> Result<NetworkSpec, String> {
    let Some(pool) = view.pools.first() else {
        return Err(format!("network {} has no address pool", view.name));
    };
    if view.pools.len() > 1 {
        // The overlay's bridge carries one gateway; a second pool's tasks would have no route.
        return Err(format!(
            "network {} has {} subnets; this node's overlay serves one",
            view.name,
            view.pools.len()
        ));
    }
    let subnet = Ipv4Net::new(pool.subnet.addr, pool.subnet.prefix)
        .map_err(|e| format!("network {} has a bad subnet {}: {e}", view.name, pool.subnet))?;
    let spec = NetworkSpec {
        vni: view.vni,
        subnet,
        gateway: pool.gateway,
        mtu: view.mtu,
        internal: view.internal,
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
        v.pools.clear();
        assert!(network_spec(&v).is_err());
    }
}
