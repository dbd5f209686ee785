//! VIP load balancing with nftables: a client task's connections to a service's VIP spread over
//! every backend on three hosts; a backend taken out receives nothing more; with no backend left
//! the VIP refuses at once. Needs root.

mod common;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use common::{EchoServer, UdpNamer, ask, ask_udp, network, plane};
use netplane::testbed::{self, Testbed};
use netplane::{EndpointSpec, Protocol, RemoteEndpoint, VipPort, VipService};

const TARGET_PORT: u16 = 7000;
const VIP_PORT: u16 = 80;
const CONNECTIONS: usize = 30;
const UDP_PORT: u16 = 53;
const UDP_TARGET_PORT: u16 = 5353;

/// Counts which backend answered each of `CONNECTIONS` connections to the VIP.
async fn spread(client: &std::path::Path, vip: Ipv4Addr) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    for _ in 0..CONNECTIONS {
        let name = ask(client, SocketAddrV4::new(vip, VIP_PORT), Duration::from_secs(3))
            .await
            .expect("connection through the VIP");
        *seen.entry(name).or_default() += 1;
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_to_a_vip_reach_every_backend_and_leave_a_removed_one() {
    let bed = Testbed::new("npvip", 3, "192.168.77.0/24".parse().expect("subnet"))
        .await
        .expect("test bed");
    let planes: Vec<_> = (0..3).map(|host| plane(&bed, "vipx", host)).collect();
    let net = network(4201, 5, false);
    let vip = Ipv4Addr::new(10, 77, 5, 250);

    // One backend per host, and a client on host 0.
    let mut backends = Vec::new();
    let mut servers = Vec::new();
    let mut udp_servers = Vec::new();
    for (host, plane) in planes.iter().enumerate() {
        plane.ensure_network(&net).await.expect("overlay");
        let netns = bed.netns(&format!("web{host}")).await.expect("netns");
        let address = Ipv4Addr::new(10, 77, 5, 10 + host as u8);
        let endpoint = EndpointSpec {
            netns: netns.clone(),
            ifname: "eth0".into(),
            address,
        };
        plane.attach(&net, &endpoint).await.expect("attach backend");
        servers.push(EchoServer::start(&netns, address, TARGET_PORT, &format!("web{host}")).await);
        udp_servers.push(UdpNamer::start(&netns, address, UDP_TARGET_PORT, &format!("web{host}")).await);
        backends.push((host, address));
    }
    let client = bed.netns("client").await.expect("client netns");
    let client_address = Ipv4Addr::new(10, 77, 5, 100);
    let endpoint = EndpointSpec {
        netns: client.clone(),
        ifname: "eth0".into(),
        address: client_address,
    };
    planes[0].attach(&net, &endpoint).await.expect("attach client");
    let mut everyone = backends.clone();
    everyone.push((0, client_address));
    for (host, plane) in planes.iter().enumerate() {
        let remote: Vec<_> = everyone
            .iter()
            .filter(|(on, _)| *on != host)
            .map(|(on, address)| RemoteEndpoint::new(*address, bed.host(*on).address))
            .collect();
        plane.add_peers(net.vni, &remote).await.expect("peers");
    }

    let port = VipPort {
        protocol: Protocol::Tcp,
        port: VIP_PORT,
        target: TARGET_PORT,
    };
    let udp = VipPort {
        protocol: Protocol::Udp,
        port: UDP_PORT,
        target: UDP_TARGET_PORT,
    };
    let service = |backends: Vec<Ipv4Addr>| VipService {
        vip,
        ports: vec![port, udp],
        backends,
    };
    let all: Vec<_> = backends.iter().map(|(_, address)| *address).collect();
    planes[0]
        .set_vips(&client, &[service(all.clone())])
        .await
        .expect("set VIPs");
    assert!(planes[0].has_vip_table(&client).await.expect("tables"));

    let seen = spread(&client, vip).await;
    assert_eq!(
        seen.keys().cloned().collect::<Vec<_>>(),
        ["web0", "web1", "web2"],
        "30 connections reach all 3 backends: {seen:?}"
    );

    // UDP on the same VIP goes to a backend too (each query from a new port is a new flow).
    let mut udp_seen = std::collections::BTreeSet::new();
    for _ in 0..CONNECTIONS {
        udp_seen.insert(
            ask_udp(&client, SocketAddrV4::new(vip, UDP_PORT))
                .await
                .expect("UDP through the VIP"),
        );
    }
    assert!(udp_seen.len() > 1, "UDP flows spread over backends: {udp_seen:?}");

    // web1 leaves: no connection goes to it any more.
    planes[0]
        .set_vips(&client, &[service(vec![all[0], all[2]])])
        .await
        .expect("remove a backend");
    let seen = spread(&client, vip).await;
    assert!(
        !seen.contains_key("web1"),
        "a removed backend still gets connections: {seen:?}"
    );
    assert_eq!(seen.values().sum::<usize>(), CONNECTIONS);

    // No backend: the VIP refuses at once instead of leaving the client to time out.
    planes[0]
        .set_vips(&client, &[service(vec![])])
        .await
        .expect("no backends");
    let refused = ask(&client, SocketAddrV4::new(vip, VIP_PORT), Duration::from_secs(3)).await;
    assert_eq!(
        refused.expect_err("a VIP without backends refuses").kind(),
        std::io::ErrorKind::ConnectionRefused
    );

    // An empty set removes the table; the sweep of a sandbox then finds nothing of ours.
    planes[0].set_vips(&client, &[]).await.expect("clear VIPs");
    assert!(testbed::nft_tables(&client).await.expect("tables").is_empty());
    planes[0].set_vips(&client, &[]).await.expect("clear VIPs again");
    drop(servers);
    drop(udp_servers);
}
