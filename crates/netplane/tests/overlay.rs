//! Three simulated hosts (network namespaces on a switch namespace), an overlay on each, two task
//! namespaces per host: tasks reach each other across hosts over VXLAN, overlays stay apart,
//! internal networks have no way out, and removal leaves nothing behind. Needs root.

mod common;

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::PathBuf;
use std::time::Duration;

use common::{EchoServer, ask, has_route, network, ping, plane};
use netplane::testbed::{self, Testbed};
use netplane::{EndpointSpec, NetworkSpec, Plane, PlaneConfig, RemoteEndpoint};

const ECHO_PORT: u16 = 7000;

struct Task {
    host: usize,
    netns: PathBuf,
    address: Ipv4Addr,
}

/// Puts two tasks per host on `net` and tells every host about the others' endpoints.
async fn populate(bed: &Testbed, planes: &[Plane], net: &NetworkSpec, name: &str) -> Vec<Task> {
    let mut tasks = Vec::new();
    for (host, plane) in planes.iter().enumerate() {
        let overlay = plane.ensure_network(net).await.expect("overlay");
        // The test bed's links have the default MTU 1500; VXLAN takes 50.
        assert_eq!(overlay.mtu, 1450);
        for slot in 0..2u8 {
            let netns = bed
                .netns(&format!("{name}-t{host}{slot}"))
                .await
                .expect("task netns");
            let address = Ipv4Addr::new(
                10,
                77,
                net.subnet.network().octets()[2],
                10 + 10 * host as u8 + slot,
            );
            let endpoint = EndpointSpec {
                netns: netns.clone(),
                ifname: "eth0".into(),
                address,
            };
            let made = plane.attach(net, &endpoint).await.expect("attach");
            assert_eq!(
                made.mac,
                [0x02, 0x42, 10, 77, address.octets()[2], address.octets()[3]]
            );
            assert_eq!(made.mtu, 1450);
            // Attaching again replaces the endpoint rather than failing.
            plane.attach(net, &endpoint).await.expect("attach again");
            tasks.push(Task { host, netns, address });
        }
    }
    for (host, plane) in planes.iter().enumerate() {
        let remote: Vec<_> = tasks
            .iter()
            .filter(|task| task.host != host)
            .map(|task| RemoteEndpoint::new(task.address, bed.host(task.host).address))
            .collect();
        plane.add_peers(net.vni, &remote).await.expect("peers");
        // Idempotent: adding the same entries again changes nothing.
        plane.add_peers(net.vni, &remote).await.expect("peers again");
    }
    tasks
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_on_three_hosts_reach_each_other_over_vxlan_and_overlays_stay_apart() {
    let bed = Testbed::new("npov", 3, "192.168.77.0/24".parse().expect("subnet"))
        .await
        .expect("test bed");
    let planes: Vec<_> = (0..3).map(|host| plane(&bed, "ovx", host)).collect();
    let net_a = network(4101, 1, false);
    let net_b = network(4102, 2, true);
    let tasks_a = populate(&bed, &planes, &net_a, "a").await;
    let tasks_b = populate(&bed, &planes, &net_b, "b").await;

    let mut servers = Vec::new();
    for task in tasks_a.iter().chain(&tasks_b) {
        servers
            .push(EchoServer::start(&task.netns, task.address, ECHO_PORT, &task.address.to_string()).await);
    }

    // Every task reaches every other task of its network, on its own host and across hosts.
    for tasks in [&tasks_a, &tasks_b] {
        for from in tasks.iter() {
            for to in tasks.iter().filter(|to| to.address != from.address) {
                let answer = ask(
                    &from.netns,
                    SocketAddrV4::new(to.address, ECHO_PORT),
                    Duration::from_secs(3),
                )
                .await
                .unwrap_or_else(|error| panic!("{} -> {}: {error}", from.address, to.address));
                assert_eq!(answer, to.address.to_string());
            }
        }
    }

    // Each bridge keeps the gateway's own MAC whatever ports joined it: a bridge that took its
    // ports' lowest MAC changed it as endpoints came and went, and tasks' ARP entries for their
    // resolver on the gateway pointed nowhere until they expired.
    for host in 0..3 {
        let output = bed
            .command(host, "ip")
            .args([
                "-n",
                &format!("shoal-ovx{host}-ov-4101"),
                "-o",
                "link",
                "show",
                "br0",
            ])
            .output()
            .expect("ip link");
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(
            text.contains("link/ether 02:42:0a:4d:01:01 "),
            "host {host}'s bridge: {text}"
        );
    }

    // ICMP too: a task on host 0 pings the tasks on hosts 1 and 2.
    for to in tasks_a.iter().filter(|task| task.host != 0) {
        assert!(
            ping(&tasks_a[0].netns, to.address, Duration::from_secs(3)).await,
            "ping {}",
            to.address
        );
    }

    // Network A's tasks cannot reach network B's, on the same host or another.
    for to in &tasks_b {
        let result = ask(
            &tasks_a[0].netns,
            SocketAddrV4::new(to.address, ECHO_PORT),
            Duration::from_millis(500),
        )
        .await;
        assert!(
            result.is_err(),
            "network A reached network B's {}: {result:?}",
            to.address
        );
    }

    // A default route on the attachable network, none on the internal one.
    let outside = bed.host(1).address;
    assert!(has_route(&tasks_a[0].netns, outside).await);
    assert!(!has_route(&tasks_b[0].netns, outside).await);

    // Removing a peer makes it unreachable from that host; adding it back restores it.
    let gone = RemoteEndpoint::new(tasks_a[2].address, bed.host(1).address);
    planes[0]
        .remove_peers(net_a.vni, &[gone])
        .await
        .expect("remove peer");
    planes[0]
        .remove_peers(net_a.vni, &[gone])
        .await
        .expect("remove peer again");
    let target = SocketAddrV4::new(gone.address, ECHO_PORT);
    assert!(
        ask(&tasks_a[0].netns, target, Duration::from_millis(500))
            .await
            .is_err()
    );
    planes[0]
        .add_peers(net_a.vni, &[gone])
        .await
        .expect("add peer back");
    assert_eq!(
        ask(&tasks_a[0].netns, target, Duration::from_secs(3))
            .await
            .expect("reachable again"),
        gone.address.to_string()
    );

    // Detaching an endpoint removes its interface from the task.
    planes[0]
        .detach(net_a.vni, tasks_a[1].address, Some(&tasks_a[1].netns))
        .await
        .expect("detach");
    assert!(
        !testbed::link_names(&tasks_a[1].netns)
            .await
            .expect("links")
            .contains(&"eth0".to_owned())
    );
    planes[0]
        .detach(net_a.vni, tasks_a[1].address, Some(&tasks_a[1].netns))
        .await
        .expect("detach again");

    drop(servers);
    for plane in &planes {
        plane.remove_network(net_a.vni).await.expect("remove a");
        plane.remove_network(net_b.vni).await.expect("remove b");
        plane.remove_network(net_b.vni).await.expect("remove b again");
    }
    assert!(testbed::netns_names("shoal-ovx").expect("list").is_empty());
    for host in bed.hosts() {
        let links = testbed::link_names(&host.netns).await.expect("links");
        assert!(links.iter().all(|link| !link.starts_with("shoal-")), "{links:?}");
    }
    for task in tasks_a.iter().chain(&tasks_b) {
        let links = testbed::link_names(&task.netns).await.expect("links");
        assert_eq!(links, ["lo"], "task {} keeps {links:?}", task.address);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_with_a_reason() {
    let bed = Testbed::new("npbad", 1, "192.168.77.0/24".parse().expect("subnet"))
        .await
        .expect("test bed");
    let plane = plane(&bed, "bad", 0);
    let net = network(4103, 3, false);
    let task = bed.netns("t").await.expect("task netns");
    let endpoint = EndpointSpec {
        netns: task.clone(),
        ifname: "eth0".into(),
        address: Ipv4Addr::new(10, 77, 3, 5),
    };
    let error = plane.attach(&net, &endpoint).await.expect_err("no overlay yet");
    assert!(error.to_string().contains("no overlay"), "{error}");
    plane.ensure_network(&net).await.expect("overlay");
    let outside = EndpointSpec {
        address: Ipv4Addr::new(10, 77, 4, 5),
        ..endpoint.clone()
    };
    assert!(plane.attach(&net, &outside).await.is_err());
    let gateway = EndpointSpec {
        address: net.gateway,
        ..endpoint.clone()
    };
    assert!(plane.attach(&net, &gateway).await.is_err());
    // The same VNI again with another subnet: the bridge carries only the new gateway.
    let renumbered = network(4103, 9, false);
    plane
        .ensure_network(&renumbered)
        .await
        .expect("renumbered overlay");
    let output = bed
        .command(0, "ip")
        .args([
            "-n",
            "shoal-bad0-ov-4103",
            "-o",
            "-4",
            "addr",
            "show",
            "dev",
            "br0",
        ])
        .output()
        .expect("ip addr");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("10.77.9.1/24") && !text.contains("10.77.3.1"),
        "{text}"
    );
    let mut bad = net.clone();
    bad.vni = 0;
    assert!(plane.ensure_network(&bad).await.is_err());
    let config = PlaneConfig::new("bad0", Ipv4Addr::new(192, 0, 2, 1));
    let nowhere = Plane::new(PlaneConfig {
        host_netns: bed.host(0).netns.clone(),
        ..config
    })
    .expect("plane");
    let error = nowhere
        .ensure_network(&network(4104, 4, false))
        .await
        .expect_err("no underlay");
    assert!(error.to_string().contains("underlay"), "{error}");
    plane.remove_network(net.vni).await.expect("remove");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_starting_together_on_one_network_all_get_attached() {
    let bed = Testbed::new("npcc", 1, "192.168.77.0/24".parse().expect("subnet"))
        .await
        .expect("test bed");
    let plane = plane(&bed, "ccx", 0);
    let net = network(4105, 10, false);
    let mut namespaces = Vec::new();
    for i in 0..4u8 {
        namespaces.push((
            bed.netns(&format!("t{i}")).await.expect("netns"),
            Ipv4Addr::new(10, 77, 10, 20 + i),
        ));
    }
    // Each task's start makes sure of the overlay, then attaches: all at once, as an agent would.
    let starts = namespaces.iter().map(|(netns, address)| {
        let plane = plane.clone();
        let net = net.clone();
        let endpoint = EndpointSpec {
            netns: netns.clone(),
            ifname: "eth0".into(),
            address: *address,
        };
        tokio::spawn(async move {
            plane.ensure_network(&net).await?;
            plane.attach(&net, &endpoint).await
        })
    });
    for start in futures::future::join_all(starts).await {
        start.expect("task").expect("ensure and attach");
    }
    let mut servers = Vec::new();
    for (netns, address) in &namespaces {
        servers.push(EchoServer::start(netns, *address, ECHO_PORT, &address.to_string()).await);
    }
    let (from, _) = &namespaces[0];
    for (_, to) in &namespaces[1..] {
        let answer = ask(from, SocketAddrV4::new(*to, ECHO_PORT), Duration::from_secs(3))
            .await
            .expect("reach a task attached at the same time");
        assert_eq!(answer, to.to_string());
    }
    drop(servers);
    plane.remove_network(net.vni).await.expect("remove");
}
