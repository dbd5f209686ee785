//! The encrypted overlay on two simulated hosts: tasks on an encrypted network reach each other
//! through the userspace WireGuard tunnel, and a capture of the underlay shows neither their
//! payload nor a VXLAN header, while the same exchange on a plain network shows both. A static key
//! rotation keeps an established connection, and plaintext VXLAN forged on the underlay reaches a plain
//! network but not the encrypted one. Needs root and tcpdump.

mod common;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{EchoServer, network, ping, plane};
use netplane::capture::{Capture, contains, vxlan_header};
use netplane::crypt::{self, PrivateKey, TunnelPeer, Tunnels};
use netplane::testbed::Testbed;
use netplane::{EndpointSpec, HostCheck, NetworkSpec, Plane, RemoteEndpoint};

const ECHO_PORT: u16 = 7000;
const MARKER: &[u8] = b"SHOAL-PLAINTEXT-MARKER-7c1e";
const DEADLINE: Duration = Duration::from_secs(10);

/// One task per host on `net`, peers exchanged; returns the tasks' (netns, address).
async fn populate(
    bed: &Testbed,
    planes: &[Plane],
    net: &NetworkSpec,
    encrypted: bool,
    name: &str,
) -> Vec<(PathBuf, Ipv4Addr)> {
    let mut tasks = Vec::new();
    for (host, plane) in planes.iter().enumerate() {
        let overlay = if encrypted {
            plane
                .ensure_encrypted_network(net)
                .await
                .expect("encrypted overlay")
        } else {
            plane.ensure_network(net).await.expect("overlay")
        };
        // The bed's links have MTU 1500: VXLAN takes 50, the tunnel 60 more.
        assert_eq!(overlay.mtu, if encrypted { 1390 } else { 1450 });
        let netns = bed.netns(&format!("{name}-t{host}")).await.expect("task netns");
        let address = Ipv4Addr::new(10, 77, net.subnet.network().octets()[2], 10 + host as u8);
        let endpoint = EndpointSpec {
            netns: netns.clone(),
            ifname: "eth0".into(),
            address,
        };
        plane.attach(net, &endpoint).await.expect("attach");
        tasks.push((netns, address));
    }
    for (host, plane) in planes.iter().enumerate() {
        let remote: Vec<_> = tasks
            .iter()
            .enumerate()
            .filter(|(other, _)| *other != host)
            .map(|(other, (_, address))| RemoteEndpoint::new(*address, bed.host(other).address))
            .collect();
        plane.add_peers(net.vni, &remote).await.expect("peers");
    }
    tasks
}

/// Opens a connection from `from` to the echo server at `to` (greeting read).
async fn connect(from: &Path, to: Ipv4Addr) -> TcpStream {
    netplane::run_in_netns(from, move || {
        let io = |source| netplane::Error::Io {
            what: "connect",
            source,
        };
        let stream = TcpStream::connect_timeout(&SocketAddr::V4(SocketAddrV4::new(to, ECHO_PORT)), DEADLINE)
            .map_err(io)?;
        stream.set_read_timeout(Some(DEADLINE)).map_err(io)?;
        // The greeting is one line: read it to its end so only echoes follow.
        let mut byte = [0u8; 1];
        while byte != *b"\n" {
            (&stream).read_exact(&mut byte).map_err(io)?;
        }
        Ok(stream)
    })
    .await
    .expect("connection over the overlay")
}

/// Sends the marker on `stream` and reads its echo back.
fn exchange(stream: &mut TcpStream) {
    stream.write_all(MARKER).expect("send the marker");
    let mut echoed = vec![0u8; MARKER.len()];
    stream.read_exact(&mut echoed).expect("read the echo");
    assert_eq!(echoed, MARKER);
}

/// A VXLAN datagram of `vni` carrying an Ethernet frame with an IPv4/UDP packet from `source` to
/// `target:port` (MAC: the 02:42 one of the target's address), as an attacker on the underlay
/// would forge it.
fn forged_vxlan(vni: u32, source: Ipv4Addr, target: Ipv4Addr, port: u16, payload: &[u8]) -> Vec<u8> {
    let mut packet = vxlan_header(vni).to_vec();
    let t = target.octets();
    packet.extend_from_slice(&[0x02, 0x42, t[0], t[1], t[2], t[3]]);
    packet.extend_from_slice(&[0x02, 0x42, 0xde, 0xad, 0xbe, 0xef, 0x08, 0x00]);
    let total = (20 + 8 + payload.len()) as u16;
    let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0];
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&source.octets());
    ip.extend_from_slice(&t);
    let mut sum: u32 = ip
        .chunks(2)
        .map(|pair| u32::from(u16::from_be_bytes([pair[0], pair[1]])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    ip[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    packet.extend_from_slice(&ip);
    packet.extend_from_slice(&4000u16.to_be_bytes());
    packet.extend_from_slice(&port.to_be_bytes());
    packet.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    // A zero UDP checksum means "none" over IPv4.
    packet.extend_from_slice(&[0, 0]);
    packet.extend_from_slice(payload);
    packet
}

/// Sends `datagram` from host `from`'s namespace to `to:port` on the underlay.
async fn send_underlay(bed: &Testbed, from: usize, to: SocketAddrV4, datagram: Vec<u8>) {
    netplane::run_in_netns(&bed.host(from).netns, move || {
        let io = |source| netplane::Error::Io {
            what: "forge",
            source,
        };
        let socket = std::net::UdpSocket::bind("0.0.0.0:0").map_err(io)?;
        socket.send_to(&datagram, to).map_err(io)?;
        Ok(())
    })
    .await
    .expect("send on the underlay");
}

/// Whether a datagram reaches `address:port` in `netns` within `wait`, after `send` ran.
async fn arrives<F>(netns: &Path, address: Ipv4Addr, port: u16, wait: Duration, send: F) -> bool
where
    F: std::future::Future<Output = ()>,
{
    let socket = netplane::run_in_netns(netns, move || {
        let io = |source| netplane::Error::Io {
            what: "listen",
            source,
        };
        let socket = std::net::UdpSocket::bind(SocketAddrV4::new(address, port)).map_err(io)?;
        socket.set_read_timeout(Some(wait)).map_err(io)?;
        Ok(socket)
    })
    .await
    .expect("listener");
    send.await;
    let mut buffer = [0u8; 256];
    tokio::task::spawn_blocking(move || socket.recv(&mut buffer).is_ok())
        .await
        .expect("receiver")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_encrypted_network_shows_nothing_on_the_underlay_and_a_plain_one_does() {
    // Hosts 0 and 1 run the overlays; host 2 is a stranger on the same underlay.
    let bed = Testbed::new("npwg", 3, "192.168.95.0/24".parse().expect("subnet"))
        .await
        .expect("test bed");
    let planes: Vec<_> = (0..2).map(|host| plane(&bed, "wgx", host)).collect();
    let keys: Vec<_> = (0..2).map(|_| PrivateKey::generate().expect("key")).collect();
    let mut tunnels = common::paired_tunnels(&bed, &planes, &keys).await;
    for tunnel in &tunnels {
        assert_eq!(tunnel.mtu(), 1440);
    }

    let encrypted = network(4201, 1, false);
    let plain = network(4202, 2, false);
    let secret_tasks = populate(&bed, &planes, &encrypted, true, "e").await;
    let plain_tasks = populate(&bed, &planes, &plain, false, "p").await;
    let mut servers = Vec::new();
    for (netns, address) in secret_tasks.iter().chain(&plain_tasks) {
        servers.push(EchoServer::start(netns, *address, ECHO_PORT, &address.to_string()).await);
    }

    // Encrypted: the exchange works, and the underlay carries only WireGuard datagrams.
    let capture = Capture::start(bed.command(1, "tcpdump"), bed_file("encrypted"));
    assert!(
        ping(&secret_tasks[0].0, secret_tasks[1].1, DEADLINE).await,
        "ping over the tunnel"
    );
    // Plaintext to the encrypted port is dropped unless it came out of the tunnel.
    let tables = netplane::testbed::nft_tables(&bed.host(1).netns)
        .await
        .expect("tables");
    assert!(tables.contains(&"shoal-wgx1-crypt".to_owned()), "{tables:?}");
    let mut stream = connect(&secret_tasks[0].0, secret_tasks[1].1).await;
    exchange(&mut stream);
    let seen = capture.finish();
    assert!(
        seen.iter()
            .any(|packet| packet.destination_port == crypt::TUNNEL_PORT),
        "no tunnel traffic captured: {seen:?}"
    );
    for packet in &seen {
        assert!(
            !contains(&packet.payload, MARKER),
            "plaintext on the underlay: {packet:?}"
        );
        assert!(
            !contains(&packet.payload, &vxlan_header(encrypted.vni)),
            "a VXLAN header in the clear: {packet:?}"
        );
        assert!(
            packet.destination_port != crypt::ENCRYPTED_VXLAN_PORT && packet.destination_port != 4789,
            "VXLAN on the underlay: {packet:?}"
        );
    }
    assert!(tunnels[0].is_established(bed.host(1).address));

    // Plain: the same exchange is readable on the underlay, VXLAN header and all.
    let capture = Capture::start(bed.command(1, "tcpdump"), bed_file("plain"));
    let mut plain_stream = connect(&plain_tasks[0].0, plain_tasks[1].1).await;
    exchange(&mut plain_stream);
    let seen = capture.finish();
    assert!(
        seen.iter()
            .any(|packet| packet.destination_port == 4789
                && packet.payload.starts_with(&vxlan_header(plain.vni))),
        "no VXLAN captured on the plain network"
    );
    assert!(
        seen.iter().any(|packet| contains(&packet.payload, MARKER)),
        "the plain network's payload was not visible"
    );

    // Plaintext VXLAN forged by a stranger on the underlay: the plain network takes it (VXLAN
    // has no authentication), the encrypted network's port drops it unless it came out of the
    // tunnel. (A peer node sending to that port goes through its own tunnel, as it may.)
    let plain_forgery = forged_vxlan(plain.vni, plain_tasks[0].1, plain_tasks[1].1, 7100, b"forged");
    let target = SocketAddrV4::new(bed.host(1).address, 4789);
    assert!(
        arrives(
            &plain_tasks[1].0,
            plain_tasks[1].1,
            7100,
            DEADLINE,
            send_underlay(&bed, 2, target, plain_forgery)
        )
        .await,
        "the forged frame should reach a plain network (else the forgery itself is wrong)"
    );
    let secret_forgery = forged_vxlan(
        encrypted.vni,
        secret_tasks[0].1,
        secret_tasks[1].1,
        7100,
        b"forged",
    );
    let target = SocketAddrV4::new(bed.host(1).address, crypt::ENCRYPTED_VXLAN_PORT);
    assert!(
        !arrives(
            &secret_tasks[1].0,
            secret_tasks[1].1,
            7100,
            Duration::from_secs(1),
            send_underlay(&bed, 2, target, secret_forgery)
        )
        .await,
        "plaintext VXLAN got into the encrypted network"
    );
    // The same from host 1's own namespace, over loopback, where the tunnel loop delivers the
    // packets it opened from a marked socket: a sender without that mark is dropped too.
    let local_forgery = forged_vxlan(
        encrypted.vni,
        secret_tasks[0].1,
        secret_tasks[1].1,
        7100,
        b"forged",
    );
    assert!(
        !arrives(
            &secret_tasks[1].0,
            secret_tasks[1].1,
            7100,
            Duration::from_secs(1),
            send_underlay(&bed, 1, target, local_forgery)
        )
        .await,
        "plaintext VXLAN from the node itself got into the encrypted network"
    );

    // Static key rotation on host 0: the established connection carries on under the new key.
    let rotated = PrivateKey::generate().expect("key");
    tunnels[0].set_private_key(rotated.clone());
    tunnels[1].set_peers(&[TunnelPeer {
        underlay: bed.host(0).address,
        public_key: rotated.public(),
    }]);
    assert_eq!(tunnels[0].public_key(), rotated.public());
    exchange(&mut stream);
    assert!(tunnels[1].is_established(bed.host(0).address));

    // A node whose key the peer does not know gets nothing through.
    tunnels[1].set_peers(&[TunnelPeer {
        underlay: bed.host(0).address,
        public_key: keys[0].public(),
    }]);
    let blocked = common::ask(
        &secret_tasks[0].0,
        SocketAddrV4::new(secret_tasks[1].1, ECHO_PORT),
        Duration::from_millis(800),
    )
    .await;
    assert!(
        blocked.is_err(),
        "reached a peer holding a stale key: {blocked:?}"
    );

    drop((stream, plain_stream, servers));
    for plane in &planes {
        plane.remove_network(encrypted.vni).await.expect("remove");
        plane.remove_network(plain.vni).await.expect("remove");
    }
    // The agent on host 0 dies (its loop and TUN device go, its rules stay): the encrypted
    // port's traffic meets the blackhole, never the main table.
    drop(tunnels.remove(0));
    #[allow(clippy::disallowed_methods)] // a deadline for the kernel to drop the device
    let deadline = std::time::Instant::now() + DEADLINE;
    while netplane::testbed::link_names(&bed.host(0).netns)
        .await
        .expect("links")
        .contains(&crypt::TUN_NAME.to_owned())
    {
        #[allow(clippy::disallowed_methods)]
        let now = std::time::Instant::now();
        assert!(now < deadline, "the TUN device outlived its loop");
        tokio::task::yield_now().await;
    }
    let lookup = bed
        .command(0, "ip")
        .args([
            "route",
            "get",
            "192.168.95.2",
            "ipproto",
            "udp",
            "sport",
            "40000",
            "dport",
        ])
        .arg(crypt::ENCRYPTED_VXLAN_PORT.to_string())
        .output()
        .expect("ip route get");
    assert!(
        !lookup.status.success(),
        "the encrypted port is routable without the tunnel: {}",
        String::from_utf8_lossy(&lookup.stdout)
    );
    // A restarted agent takes over what the dead one left.
    let restarted = Tunnels::start(
        &bed.host(0).netns,
        &planes[0].config().tag,
        bed.host(0).address,
        1500,
        PrivateKey::generate().expect("key"),
    )
    .await
    .expect("tunnels after a crash");
    tunnels.insert(0, restarted);

    for (host, tunnel) in tunnels.into_iter().enumerate() {
        tunnel.stop().await.expect("stop");
        let tables = netplane::testbed::nft_tables(&bed.host(host).netns)
            .await
            .expect("tables");
        assert!(tables.is_empty(), "tables left: {tables:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flushed_ruleset_gets_the_encrypted_ports_drop_back() {
    let bed = Testbed::new("npwgr", 1, "192.168.97.0/24".parse().expect("subnet"))
        .await
        .expect("test bed");
    let plane = plane(&bed, "wgr", 0);
    let table = format!("shoal-{}-crypt", plane.config().tag);
    let host = &bed.host(0).netns;
    let tables = || async { netplane::testbed::nft_tables(host).await.expect("tables") };
    assert_eq!(
        plane.check_host(None).await.expect("check"),
        HostCheck::default(),
        "no tunnels: nothing to look for"
    );
    plane
        .set_tunnels(&PrivateKey::generate().expect("key"), &[])
        .await
        .expect("tunnels");
    assert!(tables().await.contains(&table));
    assert_eq!(
        plane.check_host(None).await.expect("check"),
        HostCheck::default(),
        "nothing is missing yet"
    );
    // A firewall reload (`nft flush ruleset`) takes the drop table: plaintext on the encrypted
    // port would reach the overlay. The next look puts it back.
    let flush = bed
        .command(0, "nft")
        .args(["flush", "ruleset"])
        .status()
        .expect("nft");
    assert!(flush.success());
    assert!(!tables().await.contains(&table));
    let check = plane.check_host(None).await.expect("check");
    assert_eq!(
        check.restored,
        ["the encrypted overlays' drop table"],
        "{check:?}"
    );
    assert!(tables().await.contains(&table));
    plane.stop_tunnels().await.expect("stop");
    assert!(tables().await.is_empty(), "{:?}", tables().await);
}

fn bed_file(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("shoal-npwg-{}-{name}.pcap", std::process::id()))
}
