//! The behaviour every `DataPlane` shows, run against the kernel's `Plane` (as root, on a test
//! bed) and against `FakePlane` (anywhere), so the agent's tests on the fake mean something.
//! It panics with the failed expectation, like any test.

use std::net::Ipv4Addr;
use std::path::Path;

use crate::driver::DataPlane;
use crate::plane::{EndpointSpec, NetworkSpec, RemoteEndpoint};
use crate::vip::{Protocol, VipPort, VipService};

/// Runs the suite on `plane`, with network `vni` on `10.<octet>.0.0/24` and a task namespace at
/// `task_netns` (a path the fake never opens); leaves nothing of the network behind.
pub async fn run(plane: &dyn DataPlane, vni: u32, octet: u8, task_netns: &Path) {
    let spec = NetworkSpec {
        vni,
        subnet: ipnet::Ipv4Net::new(Ipv4Addr::new(10, octet, 0, 0), 24).unwrap_or_default(),
        gateway: Ipv4Addr::new(10, octet, 0, 1),
        mtu: None,
        internal: false,
        more_subnets: Vec::new(),
    };
    let endpoint = EndpointSpec {
        netns: task_netns.to_owned(),
        ifname: "eth0".into(),
        address: Ipv4Addr::new(10, octet, 0, 7),
    };

    let refused = plane.attach(&spec, &endpoint).await;
    assert!(refused.is_err(), "attach before the overlay exists: {refused:?}");
    let refused = plane.add_peers(vni, &[]).await;
    assert!(refused.is_err(), "peers before the overlay exists: {refused:?}");

    let first = plane.ensure_network(&spec).await.expect("ensure_network");
    let again = plane.ensure_network(&spec).await.expect("ensure_network again");
    assert_eq!(first, again, "ensure_network is idempotent");
    assert!(
        first.mtu <= 65_535 - crate::VXLAN_OVERHEAD,
        "MTU derived from the underlay: {}",
        first.mtu
    );
    let mut jumbo = spec.clone();
    jumbo.mtu = Some(1400);
    assert_eq!(
        plane.ensure_network(&jumbo).await.expect("explicit MTU").mtu,
        1400
    );
    plane
        .ensure_network(&spec)
        .await
        .expect("back to the derived MTU");

    for bad in [
        Ipv4Addr::new(10, octet, 1, 7),
        spec.gateway,
        Ipv4Addr::new(10, octet, 0, 255),
    ] {
        let refused = plane
            .attach(
                &spec,
                &EndpointSpec {
                    address: bad,
                    ..endpoint.clone()
                },
            )
            .await;
        assert!(refused.is_err(), "attach of {bad}: {refused:?}");
    }
    let refused = plane.route_replies(task_netns, &spec, endpoint.address).await;
    assert!(refused.is_err(), "reply route before the attach: {refused:?}");
    let made = plane.attach(&spec, &endpoint).await.expect("attach");
    plane
        .route_replies(task_netns, &spec, endpoint.address)
        .await
        .expect("reply route");
    plane
        .route_replies(task_netns, &spec, endpoint.address)
        .await
        .expect("reply route again");
    assert_eq!(made.mac, [0x02, 0x42, 10, octet, 0, 7], "MAC from the address");
    assert_eq!(made.mtu, first.mtu, "the endpoint has the overlay's MTU");
    plane.attach(&spec, &endpoint).await.expect("attach again");

    let peer = RemoteEndpoint::new(Ipv4Addr::new(10, octet, 0, 20), Ipv4Addr::new(192, 0, 2, 20));
    plane.add_peers(vni, &[peer]).await.expect("add peer");
    plane.add_peers(vni, &[peer]).await.expect("add peer again");
    let moved = RemoteEndpoint::new(peer.address, Ipv4Addr::new(192, 0, 2, 21));
    plane
        .add_peers(vni, &[moved])
        .await
        .expect("a peer moved to another VTEP");
    plane.remove_peers(vni, &[moved]).await.expect("remove peer");
    plane
        .remove_peers(vni, &[moved])
        .await
        .expect("remove peer again");

    let port = VipPort {
        protocol: Protocol::Tcp,
        port: 80,
        target: 8080,
    };
    let twice = VipService {
        vip: Ipv4Addr::new(10, octet, 0, 250),
        ports: vec![port, port],
        backends: vec![endpoint.address],
    };
    assert!(
        plane.set_vips(task_netns, &[twice]).await.is_err(),
        "a VIP port given twice"
    );
    let service = VipService {
        vip: Ipv4Addr::new(10, octet, 0, 250),
        ports: vec![port],
        backends: vec![endpoint.address],
    };
    plane
        .set_vips(task_netns, std::slice::from_ref(&service))
        .await
        .expect("set VIPs");
    plane
        .set_vips(task_netns, &[service])
        .await
        .expect("set VIPs again");
    plane.set_vips(task_netns, &[]).await.expect("clear VIPs");
    plane.set_vips(task_netns, &[]).await.expect("clear VIPs again");

    plane
        .detach(vni, endpoint.address, Some(task_netns))
        .await
        .expect("detach");
    plane
        .detach(vni, endpoint.address, Some(task_netns))
        .await
        .expect("detach again");

    let kept = plane.sweep(&[vni]).await.expect("sweep keeping the network");
    assert!(
        kept.namespaces.is_empty(),
        "a kept network survives the sweep: {kept:?}"
    );
    plane
        .attach(&spec, &endpoint)
        .await
        .expect("attach after the sweep");
    let swept = plane.sweep(&[]).await.expect("sweep");
    assert_eq!(
        swept.namespaces.len(),
        1,
        "the sweep removes the overlay: {swept:?}"
    );
    let refused = plane.attach(&spec, &endpoint).await;
    assert!(
        refused.is_err(),
        "attach after the sweep removed the overlay: {refused:?}"
    );

    plane
        .ensure_network(&spec)
        .await
        .expect("ensure_network after the sweep");
    plane.remove_network(vni).await.expect("remove_network");
    plane.remove_network(vni).await.expect("remove_network again");
    let refused = plane.attach(&spec, &endpoint).await;
    assert!(refused.is_err(), "attach after remove_network: {refused:?}");
}

/// The encrypted overlay's part of the suite: an encrypted network's MTU leaves room for the
/// tunnel, tunnels start under a key, take a new key and peers, and stop twice without error;
/// leaves nothing behind (networks `vni` and `vni + 1` on `10.<octet>.0.0/24`).
pub async fn run_encrypted(plane: &dyn DataPlane, vni: u32, octet: u8) {
    let spec = |vni| NetworkSpec {
        vni,
        subnet: ipnet::Ipv4Net::new(Ipv4Addr::new(10, octet, 0, 0), 24).unwrap_or_default(),
        gateway: Ipv4Addr::new(10, octet, 0, 1),
        mtu: None,
        internal: false,
        more_subnets: Vec::new(),
    };
    let plain = plane.ensure_network(&spec(vni)).await.expect("plain network");
    let encrypted = plane
        .ensure_encrypted_network(&spec(vni + 1))
        .await
        .expect("encrypted network");
    assert_eq!(
        encrypted.mtu + crate::crypt::TUNNEL_OVERHEAD,
        plain.mtu,
        "the tunnel's overhead comes off the encrypted network's MTU"
    );
    let first = crate::crypt::PrivateKey::generate().expect("key");
    plane.set_tunnels(&first, &[]).await.expect("tunnels start");
    let second = crate::crypt::PrivateKey::generate().expect("key");
    let peer = crate::crypt::TunnelPeer {
        underlay: Ipv4Addr::new(192, 0, 2, 9),
        public_key: first.public(),
    };
    plane
        .set_tunnels(&second, &[peer])
        .await
        .expect("new key and a peer");
    plane.stop_tunnels().await.expect("tunnels stop");
    plane.stop_tunnels().await.expect("stopping again is no error");
    plane.remove_network(vni).await.expect("remove plain");
    plane.remove_network(vni + 1).await.expect("remove encrypted");
}

/// The routing mesh's part of the suite: the ingress sandbox needs its overlay, is made twice
/// without error, takes the mesh's ports, and `remove_ingress` (twice) takes sandbox and mesh
/// away; leaves nothing behind (network `vni` on `10.<octet>.0.0/24`).
pub async fn run_ingress(plane: &dyn DataPlane, vni: u32, octet: u8) {
    let spec = NetworkSpec {
        vni,
        subnet: ipnet::Ipv4Net::new(Ipv4Addr::new(10, octet, 0, 0), 24).unwrap_or_default(),
        gateway: Ipv4Addr::new(10, octet, 0, 1),
        mtu: None,
        internal: false,
        more_subnets: Vec::new(),
    };
    let address = Ipv4Addr::new(10, octet, 0, 2);
    let refused = plane.ensure_ingress(&spec, address).await;
    assert!(refused.is_err(), "ingress before its overlay exists: {refused:?}");
    plane.ensure_network(&spec).await.expect("ingress overlay");
    plane
        .ensure_ingress(&spec, address)
        .await
        .expect("ensure_ingress");
    plane
        .ensure_ingress(&spec, address)
        .await
        .expect("ensure_ingress again");
    let port = crate::mesh::MeshPort {
        protocol: Protocol::Tcp,
        published: 8080,
        target: 80,
        mode: crate::mesh::PublishMode::Ingress,
        local: vec![Ipv4Addr::new(10, octet, 0, 9)],
        remote: vec![],
        route_return: false,
        forward: true,
    };
    plane.set_mesh(address, &[port]).await.expect("set_mesh");
    plane.remove_ingress().await.expect("remove_ingress");
    plane.remove_ingress().await.expect("remove_ingress again");
    plane
        .ensure_ingress(&spec, address)
        .await
        .expect("the ingress sandbox is made again after its removal");
    plane.remove_ingress().await.expect("remove_ingress");
    plane
        .remove_network(vni)
        .await
        .expect("remove the ingress overlay");
}
