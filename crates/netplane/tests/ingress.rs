//! The routing mesh on the kernel: a published port reaches a task through the host and its
//! ingress sandbox, from another host and from the node itself, even when another plane's host
//! link (the same /30: every node's link has it) was left in the host namespace first, as a dev
//! cluster killed with its sandbox still pinned leaves it; a node without the task forwards the
//! connection across the underlay to the task's node, also where the host's firewall drops
//! what it forwards by default (dockerd's iptables policy). Needs root.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::Path;
use std::time::Duration;

use common::{EchoServer, ask, network, plane};
use netplane::testbed::{Testbed, in_netns_ok};
use netplane::{EndpointSpec, HostCheck, MeshPort, Protocol, PublishMode, RemoteTask};

fn ip(netns: &Path, args: &[&str]) {
    in_netns_ok(netns, "ip", args);
}

/// Runs iptables in `netns` (waiting for its lock); returns its output.
fn iptables(netns: &Path, args: &[&str]) -> String {
    in_netns_ok(netns, "iptables", &[&["-w", "5"], args].concat())
}

/// TCP 8080 published in ingress mode to port 80 of the tasks given.
fn published(local: Vec<Ipv4Addr>, remote: Vec<RemoteTask>) -> MeshPort {
    MeshPort {
        protocol: Protocol::Tcp,
        published: 8080,
        target: 80,
        mode: PublishMode::Ingress,
        local,
        remote,
        route_return: false,
        forward: true,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_published_port_answers_beside_a_host_link_another_plane_left() {
    let bed = Testbed::new("nping", 2, "192.168.80.0/24".parse().expect("subnet"))
        .await
        .expect("test bed");
    let node = bed.host(0).netns.clone();
    // The leftover: a host link with the mesh's /30, up, made before this plane's, so its
    // route to the sandbox address is the first of two equal ones. Its peer stays in the
    // host namespace, where nothing answers for the sandbox.
    ip(
        &node,
        &[
            "link",
            "add",
            "shistale",
            "type",
            "veth",
            "peer",
            "name",
            "shistale-p",
        ],
    );
    ip(&node, &["addr", "add", "169.254.197.1/30", "dev", "shistale"]);
    ip(&node, &["link", "set", "shistale", "up"]);
    ip(&node, &["link", "set", "shistale-p", "up"]);

    let plane = plane(&bed, "ingx", 0);
    let net = network(4701, 41, false);
    plane.ensure_network(&net).await.expect("ingress overlay");
    let sandbox = Ipv4Addr::new(10, 77, 41, 2);
    plane
        .ensure_ingress(&net, sandbox)
        .await
        .expect("ingress sandbox");
    let task = bed.netns("task").await.expect("netns");
    let task_address = Ipv4Addr::new(10, 77, 41, 10);
    plane
        .attach(
            &net,
            &EndpointSpec {
                netns: task.clone(),
                ifname: "eth0".into(),
                address: task_address,
            },
        )
        .await
        .expect("attach the task");
    let _server = EchoServer::start(&task, task_address, 80, "the task").await;
    plane
        .set_mesh(sandbox, &[published(vec![task_address], vec![])])
        .await
        .expect("mesh");

    let published = SocketAddrV4::new(bed.host(0).address, 8080);
    for (who, from) in [("another host", &bed.host(1).netns), ("the node itself", &node)] {
        let answer = ask(from, published, Duration::from_secs(3)).await;
        assert_eq!(
            answer.as_ref().map(String::as_str).ok(),
            Some("the task"),
            "{who} → {published}: {answer:?}"
        );
    }
    plane.remove_ingress().await.expect("remove the ingress sandbox");
    plane.remove_network(net.vni).await.expect("remove the overlay");
}

/// A server in `netns` that answers each connection with the address it came from.
fn serve_peer_address(netns: &Path, addr: Ipv4Addr, port: u16) -> std::thread::JoinHandle<()> {
    let listener = std::thread::scope(|s| {
        s.spawn(|| {
            tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("runtime")
                .block_on(netplane::run_in_netns(netns, move || {
                    std::net::TcpListener::bind((addr, port)).map_err(|source| netplane::Error::Io {
                        what: "bind the server",
                        source,
                    })
                }))
                .expect("the server binds")
        })
        .join()
        .expect("bind thread")
    });
    std::thread::spawn(move || {
        // Four connections: the test's clients.
        for _ in 0..4 {
            let Ok((mut stream, peer)) = listener.accept() else {
                return;
            };
            let _ = writeln!(stream, "{}", peer.ip());
        }
    })
}

/// The line the server at `target` answers, asked from `netns`.
async fn first_line(netns: &Path, target: SocketAddrV4) -> String {
    netplane::run_in_netns(netns, move || {
        let io = |source| netplane::Error::Io {
            what: "client",
            source,
        };
        let stream =
            std::net::TcpStream::connect_timeout(&target.into(), Duration::from_secs(3)).map_err(io)?;
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .map_err(io)?;
        let mut line = String::new();
        BufReader::new(stream).read_line(&mut line).map_err(io)?;
        Ok(line.trim().to_owned())
    })
    .await
    .unwrap_or_else(|e| panic!("{target}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_without_the_task_forwards_across_the_underlay_to_the_tasks_node() {
    let bed = Testbed::new("npfwd", 3, "192.168.81.0/24".parse().expect("subnet"))
        .await
        .expect("test bed");
    let net = network(4702, 42, false);
    let task_address = Ipv4Addr::new(10, 77, 42, 10);
    let (receiving, serving) = (plane(&bed, "fwdx", 0), plane(&bed, "fwdx", 1));
    // Both hosts drop what they route unless a rule accepts it, as a host running dockerd does
    // (it sets iptables' FORWARD policy to DROP): the mesh's connections still pass.
    for host in [0, 1] {
        iptables(&bed.host(host).netns, &["-P", "FORWARD", "DROP"]);
    }
    for (i, plane) in [&receiving, &serving].into_iter().enumerate() {
        plane.ensure_network(&net).await.expect("ingress overlay");
        let sandbox = Ipv4Addr::new(10, 77, 42, 2 + i as u8);
        plane
            .ensure_ingress(&net, sandbox)
            .await
            .expect("ingress sandbox");
        let port = if i == 0 {
            let there = RemoteTask {
                addr: task_address,
                node: bed.host(1).address,
            };
            published(vec![], vec![there])
        } else {
            published(vec![task_address], vec![])
        };
        plane.set_mesh(sandbox, &[port]).await.expect("mesh");
    }
    let task = bed.netns("task").await.expect("netns");
    serving
        .attach(
            &net,
            &EndpointSpec {
                netns: task.clone(),
                ifname: "eth0".into(),
                address: task_address,
            },
        )
        .await
        .expect("attach the task");
    let server = serve_peer_address(&task, task_address, 80);

    // No VXLAN peer is configured: only the underlay can carry the forwarded connection. The
    // task sees the receiving node's address (SNAT), so its reply goes back through it.
    let client = &bed.host(2).netns;
    let via_other = first_line(client, SocketAddrV4::new(bed.host(0).address, 8080)).await;
    assert_eq!(via_other, bed.host(0).address.to_string(), "forwarded by host 0");
    // Straight to the task's node: the client's own address.
    let direct = first_line(client, SocketAddrV4::new(bed.host(1).address, 8080)).await;
    assert_eq!(
        direct,
        bed.host(2).address.to_string(),
        "received by the task's node"
    );

    // A firewall reload on the receiving host: `nft flush ruleset` (Debian's nftables.conf
    // starts with it) takes the mesh's table; the firewall's own policy comes back.
    let host0 = &bed.host(0).netns;
    let there = RemoteTask {
        addr: task_address,
        node: bed.host(1).address,
    };
    let ports = [published(vec![], vec![there])];
    assert_eq!(
        receiving.check_host(Some(&ports)).await.expect("check"),
        HostCheck::default(),
        "nothing is missing yet"
    );
    in_netns_ok(host0, "nft", &["flush", "ruleset"]);
    iptables(host0, &["-P", "FORWARD", "DROP"]);
    let check = receiving.check_host(Some(&ports)).await.expect("check");
    assert!(check.mesh_table_lost, "{check:?}");
    // A mesh without ports has no host table to lose.
    assert_eq!(
        receiving.check_host(Some(&[])).await.expect("check"),
        HostCheck::default()
    );
    receiving
        .set_mesh(Ipv4Addr::new(10, 77, 42, 2), &ports)
        .await
        .expect("the mesh set again");
    // A reload that keeps our table but flushes the chain (an `iptables-restore`), and a
    // `sysctl --system` that switches forwarding off: both are put back, and the forwarded
    // connection passes again.
    iptables(host0, &["-F", "FORWARD"]);
    in_netns_ok(host0, "sh", &["-c", "echo 0 > /proc/sys/net/ipv4/ip_forward"]);
    let check = receiving.check_host(Some(&ports)).await.expect("check");
    assert_eq!(
        check.restored,
        [
            "IPv4 forwarding in the host namespace",
            "the routing mesh's firewall accept rule"
        ],
        "{check:?}"
    );
    let again = first_line(client, SocketAddrV4::new(bed.host(0).address, 8080)).await;
    assert_eq!(
        again,
        bed.host(0).address.to_string(),
        "forwarded after the reload"
    );

    // An nftables-native firewall dropping forwarded traffic by its policy: not ours to change,
    // so reported with the rule that lets the mesh through — which does.
    in_netns_ok(
        host0,
        "nft",
        &[
            "add table inet fw; add chain inet fw forward { type filter hook forward priority 0; policy drop; }",
        ],
    );
    let check = receiving.check_host(Some(&ports)).await.expect("check");
    assert_eq!(check.warnings.len(), 1, "{check:?}");
    let remedy = check.warnings[0]
        .rsplit_once("(nft ")
        .and_then(|(_, rule)| rule.strip_suffix(')'))
        .unwrap_or_else(|| panic!("no rule in {:?}", check.warnings[0]));
    assert!(remedy.starts_with("insert rule inet fw forward "), "{remedy}");
    let target = SocketAddrV4::new(bed.host(0).address, 8080);
    let dropped = netplane::run_in_netns(client, move || {
        Ok(std::net::TcpStream::connect_timeout(&target.into(), Duration::from_secs(1)).is_err())
    })
    .await
    .expect("client");
    assert!(dropped, "the firewall's drop let the connection through");
    in_netns_ok(host0, "nft", &[remedy]);
    let through = first_line(client, SocketAddrV4::new(bed.host(0).address, 8080)).await;
    assert_eq!(
        through,
        bed.host(0).address.to_string(),
        "forwarded with the remedy"
    );
    server.join().expect("server");
    for (host, plane) in [&receiving, &serving].into_iter().enumerate() {
        plane.remove_ingress().await.expect("remove the ingress sandbox");
        plane.remove_network(net.vni).await.expect("remove the overlay");
        let rules = iptables(&bed.host(host).netns, &["-S", "FORWARD"]);
        assert!(
            !rules.contains("shoal"),
            "host {host} kept its accept rule: {rules}"
        );
    }
}
