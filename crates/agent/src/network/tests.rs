//! The network layer over a `FakePlane` and recorded namespaces: views in, plane state out.

use std::sync::Arc;
use std::time::Duration;

use netplane::dns::{HostResolvConf, Upstreams};
use netplane::{FakePlane, RemoteEndpoint};
use types::{NetworkAttachment, NetworkDelta, Task, TaskSpec};

use super::views::tests::{endpoint, view};
use super::*;

struct Fixture {
    plane: Arc<FakePlane>,
    namespaces: Arc<RecordedNamespaces>,
    network: Arc<NodeNetwork>,
    _dir: tempfile::TempDir,
}

fn config(dir: &std::path::Path, deadline: Duration) -> NetworkConfig {
    NetworkConfig {
        node_id: "node1".into(),
        tag: "t1".into(),
        sandboxes: dir.join("sandboxes"),
        host_resolv: HostResolvConf::parse("nameserver 192.0.2.53\nsearch corp.example\n"),
        dns_port: 53,
        attach_deadline: deadline,
    }
}

fn fixture(deadline: Duration) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let plane = Arc::new(FakePlane::new("t1", 1500));
    let namespaces = Arc::new(RecordedNamespaces::default());
    let network = NodeNetwork::new(
        config(dir.path(), deadline),
        plane.clone(),
        namespaces.clone(),
        Upstreams::new(vec![], "/proc/self/ns/net"),
    );
    Fixture {
        plane,
        namespaces,
        network,
        _dir: dir,
    }
}

fn task_on(id: &str, network: &str) -> Task {
    crate::executor::conformance::task(
        id,
        TaskSpec {
            networks: vec![NetworkAttachment {
                target: network.into(),
                ..NetworkAttachment::default()
            }],
            ..TaskSpec::default()
        },
    )
}

#[tokio::test]
async fn a_view_makes_the_overlay_and_peers_follow_its_changes() {
    let f = fixture(Duration::from_secs(1));
    let v = view(
        "n1",
        vec![
            endpoint("t1", "web", "node1", 10),
            endpoint("t2", "web", "node2", 11),
        ],
    );
    f.network.apply(true, vec![v], &[], &[]).await;
    let state = f.plane.state();
    assert_eq!(state.networks[&4097].gateway.to_string(), "10.0.1.1");
    let peers: Vec<_> = state.peers[&4097].values().copied().collect();
    assert_eq!(
        peers,
        vec![RemoteEndpoint::new(
            "10.0.1.11".parse().unwrap(),
            "192.168.0.2".parse().unwrap()
        )]
    );

    let delta = NetworkDelta {
        network_id: "n1".into(),
        endpoints: vec![endpoint("t3", "web", "node3", 12)],
        endpoints_removed: vec!["t2".into()],
        ..NetworkDelta::default()
    };
    f.network.apply(false, vec![], &[], &[delta]).await;
    let peers: Vec<_> = f.plane.state().peers[&4097]
        .keys()
        .map(|a| a.to_string())
        .collect();
    assert_eq!(peers, ["10.0.1.12"]);

    f.network.apply(false, vec![], &["n1".into()], &[]).await;
    assert!(
        f.plane.state().networks.is_empty(),
        "a network gone takes its overlay"
    );
}

#[tokio::test]
async fn a_task_sandbox_attaches_sets_vips_follows_backends_and_is_released() {
    let f = fixture(Duration::from_secs(5));
    let network = f.network.clone();
    // The task asks before its address arrives: it waits for the view.
    let waiting = tokio::spawn(async move { network.sandbox(&task_on("t1", "n1-name"), false).await });
    let v = view(
        "n1",
        vec![
            endpoint("t1", "web", "node1", 10),
            endpoint("t2", "web", "node2", 11),
        ],
    );
    f.network.apply(true, vec![v], &[], &[]).await;
    let sandbox = waiting.await.unwrap().unwrap();
    let netns = sandbox.netns.clone().unwrap();
    assert!(netns.ends_with("shoal-t1-t-t1"));
    let state = f.plane.state();
    let attached = &state.endpoints[&(4097, "10.0.1.10".parse().unwrap())];
    assert_eq!((attached.ifname.as_str(), &attached.netns), ("eth0", &netns));
    let vips = &state.vips[&netns];
    assert_eq!(vips.len(), 1);
    assert_eq!(vips[0].backends.len(), 2);
    let resolv = std::fs::read_to_string(sandbox.resolv_conf.unwrap()).unwrap();
    assert!(resolv.contains("nameserver 10.0.1.1\n"), "{resolv}");
    let hosts = std::fs::read_to_string(sandbox.hosts.clone().unwrap()).unwrap();
    assert!(hosts.contains("10.0.1.10\tt1\n"), "{hosts}");

    // A backend stops serving: the task's VIP table follows.
    let mut gone = endpoint("t2", "web", "node2", 11);
    gone.serving = false;
    let delta = NetworkDelta {
        network_id: "n1".into(),
        endpoints: vec![gone],
        ..NetworkDelta::default()
    };
    f.network.apply(false, vec![], &[], &[delta]).await;
    assert_eq!(f.plane.state().vips[&netns][0].backends.len(), 1);

    f.network.release("t1").await;
    let state = f.plane.state();
    assert!(state.endpoints.is_empty());
    assert!(f.namespaces.list("shoal-").unwrap().is_empty());
    assert!(!sandbox.hosts.unwrap().exists(), "files removed");
}

#[tokio::test]
async fn a_task_without_its_address_fails_at_the_deadline_and_a_refusing_node_says_why() {
    let f = fixture(Duration::from_millis(50));
    f.network.apply(true, vec![view("n1", vec![])], &[], &[]).await;
    let error = f.network.sandbox(&task_on("t9", "n1"), false).await.unwrap_err();
    assert!(matches!(error, Error::NotReady { .. }), "{error}");
    assert!(error.to_string().contains("no address on network n1"), "{error}");
    assert!(f.namespaces.list("shoal-").unwrap().is_empty());

    let dir = tempfile::tempdir().unwrap();
    let refusing = NodeNetwork::refusing(
        config(dir.path(), Duration::from_secs(1)),
        "the agent is not root",
    );
    let error = refusing.sandbox(&task_on("t9", "n1"), false).await.unwrap_err();
    assert!(error.to_string().contains("not root"), "{error}");
    let plain = crate::executor::conformance::task("t8", TaskSpec::default());
    assert!(
        refusing.sandbox(&plain, false).await.unwrap().is_empty(),
        "no networks: no sandbox"
    );
}

#[tokio::test]
async fn own_netns_executors_are_attached_after_start() {
    let f = fixture(Duration::from_secs(1));
    f.network
        .apply(
            true,
            vec![view("n1", vec![endpoint("t1", "web", "node1", 10)])],
            &[],
            &[],
        )
        .await;
    let sandbox = f.network.sandbox(&task_on("t1", "n1"), true).await.unwrap();
    assert!(sandbox.netns.is_none() && sandbox.resolv_conf.is_some());
    assert!(
        f.plane.state().endpoints.is_empty(),
        "nothing to attach to before start"
    );
    f.network.started("t1", 4242).await.unwrap();
    let state = f.plane.state();
    let attached = &state.endpoints[&(4097, "10.0.1.10".parse().unwrap())];
    assert_eq!(attached.netns, std::path::Path::new("/proc/4242/ns/net"));
}

#[tokio::test]
async fn recovery_keeps_held_tasks_and_sweeps_the_rest() {
    let f = fixture(Duration::from_secs(1));
    f.namespaces.create("shoal-t1-t-held").await.unwrap();
    f.namespaces.create("shoal-t1-t-stale").await.unwrap();
    f.namespaces.create("shoal-other-t-x").await.unwrap();
    f.network
        .apply(
            true,
            vec![view("n1", vec![endpoint("held", "web", "node1", 10)])],
            &[],
            &[],
        )
        .await;
    let held = vec![Arc::new(task_on("held", "n1"))];
    f.network.recover(&held).await;
    assert_eq!(
        f.namespaces.list("shoal-").unwrap(),
        ["shoal-other-t-x", "shoal-t1-t-held"],
        "another plane's names are not ours"
    );
    let netns = f.namespaces.path("shoal-t1-t-held");
    assert_eq!(
        f.plane.state().vips[&netns].len(),
        1,
        "re-adopted and its VIPs re-set"
    );
    f.network.release("held").await;
    assert_eq!(f.namespaces.list("shoal-t1").unwrap(), Vec::<String>::new());
}

/// The ingress view of `endpoints`, with node1's ingress sandbox endpoint when `with_sandbox`.
fn ingress_view(with_sandbox: bool) -> types::NetworkView {
    let mut endpoints = vec![endpoint("t9", "web", "node2", 20)];
    if with_sandbox {
        let mut sandbox = endpoint(
            &format!("{}node1", types::netview::NODE_SANDBOX_PREFIX),
            "",
            "node1",
            200,
        );
        sandbox.service_id.clear();
        endpoints.push(sandbox);
    }
    let mut v = view("ing", endpoints);
    v.ingress = true;
    v
}

#[tokio::test]
async fn the_ingress_sandbox_goes_when_the_view_stops_asking_for_it() {
    let f = fixture(Duration::from_secs(1));
    f.network.apply(true, vec![ingress_view(true)], &[], &[]).await;
    let made = Some((4097, "10.0.1.200".parse().unwrap()));
    assert_eq!(f.plane.state().ingress, made);

    // This node's sandbox endpoint dropped from the view: the sandbox goes, the overlay stays.
    f.network.apply(true, vec![ingress_view(false)], &[], &[]).await;
    let state = f.plane.state();
    assert_eq!(state.ingress, None);
    assert!(state.networks.contains_key(&4097));

    // Back, then the ingress network removed: both go.
    f.network.apply(true, vec![ingress_view(true)], &[], &[]).await;
    assert_eq!(f.plane.state().ingress, made);
    f.network.apply(false, vec![], &["ing".into()], &[]).await;
    let state = f.plane.state();
    assert_eq!(state.ingress, None);
    assert!(state.networks.is_empty() && state.mesh.is_empty());
}

#[tokio::test]
async fn a_route_return_task_gets_its_return_routing_and_loses_it_with_the_label() {
    let f = fixture(Duration::from_secs(5));
    let mut v = ingress_view(true);
    v.endpoints.push(endpoint("t1", "web", "node1", 30));
    v.services[0].route_return = true;
    f.network.apply(true, vec![v.clone()], &[], &[]).await;
    let task = crate::executor::conformance::task("t1", TaskSpec::default());
    let netns = f.network.sandbox(&task, false).await.unwrap().netns.unwrap();
    let route = f.plane.state().returns[&netns].clone();
    assert_eq!(route.ifname, "eth0");
    assert_eq!(route.subnet.to_string(), "10.0.1.0/24");
    assert_eq!(
        route.sandboxes,
        vec!["10.0.1.200".parse::<std::net::Ipv4Addr>().unwrap()]
    );
    // The label back to snat: the routing goes.
    v.services[0].route_return = false;
    f.network.apply(true, vec![v], &[], &[]).await;
    assert!(f.plane.state().returns.is_empty());
}

#[tokio::test]
async fn leaving_takes_the_whole_data_plane_down_and_makes_nothing_after() {
    let f = fixture(Duration::from_secs(1));
    let mut ingress = view("ing", vec![endpoint("web1", "web", "node1", 20)]);
    ingress.ingress = true;
    ingress.vni = 4096;
    let mut sbox = endpoint("ingress-sbox-node1", "", "node1", 3);
    sbox.task_id = format!("{}node1", types::netview::NODE_SANDBOX_PREFIX);
    sbox.serving = false;
    ingress.endpoints.push(sbox);
    let overlay = view("n1", vec![endpoint("t1", "web", "node1", 10)]);
    f.network
        .apply(true, vec![ingress.clone(), overlay.clone()], &[], &[])
        .await;
    f.network.sandbox(&task_on("t1", "n1"), false).await.unwrap();
    // A namespace of an earlier run the recovery has not swept yet goes too.
    f.namespaces.create("shoal-t1-t-stale").await.unwrap();
    let before = f.plane.state();
    assert!(
        before.ingress.is_some() && before.networks.len() == 2,
        "{before:?}"
    );

    f.network.leave().await;
    assert_eq!(f.plane.state(), netplane::FakeState::default(), "nothing left");
    assert!(f.namespaces.list("shoal-t1").unwrap().is_empty());

    f.network.apply(true, vec![ingress, overlay], &[], &[]).await;
    assert_eq!(
        f.plane.state(),
        netplane::FakeState::default(),
        "a message after the leave makes nothing"
    );
    let refused = f.network.sandbox(&task_on("t1", "n1"), false).await.unwrap_err();
    assert!(refused.to_string().contains("left the swarm"), "{refused}");
}

#[tokio::test]
async fn a_published_task_on_a_network_routes_through_it_and_answers_the_mesh_through_ingress() {
    let f = fixture(Duration::from_secs(1));
    let mut ingress = view("ing", vec![endpoint("t1", "web", "node1", 20)]);
    ingress.ingress = true;
    ingress.name = "ingress".into();
    ingress.vni = 4096;
    ingress.pools[0].subnet.addr = "10.0.0.0".parse().unwrap();
    ingress.pools[0].range.addr = "10.0.0.0".parse().unwrap();
    ingress.pools[0].gateway = "10.0.0.1".parse().unwrap();
    ingress.endpoints[0].addr = "10.0.0.20".parse().unwrap();
    // Whatever the names, ingress stands last (as libnetwork's gateway network).
    let app = view("n1", vec![endpoint("t1", "web", "node1", 10)]);
    f.network.apply(true, vec![app, ingress], &[], &[]).await;
    let sandbox = f.network.sandbox(&task_on("t1", "n1"), false).await.unwrap();
    let netns = sandbox.netns.unwrap();
    let state = f.plane.state();
    assert_eq!(
        state
            .default_routes
            .get(&netns)
            .map(ToString::to_string)
            .as_deref(),
        Some("10.0.1.1"),
        "the default route is the spec's network's, not ingress's"
    );
    assert_eq!(
        state
            .reply_routes
            .get(&(netns.clone(), "10.0.0.20".parse().unwrap()))
            .map(ToString::to_string)
            .as_deref(),
        Some("10.0.0.1"),
        "replies from the ingress address go back through ingress"
    );
    f.network.release("t1").await;
    let state = f.plane.state();
    assert!(
        state.default_routes.is_empty() && state.reply_routes.is_empty(),
        "{state:?}"
    );
}

#[tokio::test]
async fn an_encrypted_view_runs_tunnels_to_peers_with_known_keys_until_it_goes() {
    use netplane::crypt::{PublicKey, TunnelPeer};
    use types::PeerKey;

    let f = fixture(Duration::from_secs(1));
    let mut v = view(
        "n1",
        vec![
            endpoint("t1", "web", "node1", 10),
            endpoint("t2", "web", "node2", 11),
            endpoint("t3", "web", "node3", 12),
        ],
    );
    v.encrypted = true;
    let key = |node: &str, byte: u8| PeerKey {
        node_id: node.into(),
        public_key: [byte; 32],
    };
    f.network.take_peer_keys(vec![key("node2", 2)]).await;
    f.network.apply(true, vec![v], &[], &[]).await;
    let own = f.network.tunnel_key().await.expect("a key pair");
    let tunnels = f.plane.tunnels();
    assert_eq!(tunnels.key, Some(PublicKey(own)));
    assert_eq!(
        tunnels.peers,
        vec![TunnelPeer {
            underlay: "192.168.0.2".parse().unwrap(),
            public_key: PublicKey([2; 32]),
        }],
        "node3's key is not known yet: no tunnel to it"
    );
    assert!(tunnels.encrypted.contains(&4097), "{tunnels:?}");

    f.network.take_peer_keys(vec![key("node3", 3)]).await;
    f.network.apply(false, vec![], &[], &[]).await;
    assert_eq!(f.plane.tunnels().peers.len(), 2);

    let renewed = f.network.renew_tunnel_key().await.expect("a new pair");
    assert_ne!(renewed, own);
    assert_eq!(f.plane.tunnels().key, Some(PublicKey(renewed)));

    f.network.apply(false, vec![], &["n1".into()], &[]).await;
    let tunnels = f.plane.tunnels();
    assert_eq!(tunnels.key, None, "the last encrypted network took the tunnels");
    assert!(tunnels.encrypted.is_empty());
}

#[tokio::test]
async fn recovery_adopts_the_namespace_a_held_tasks_process_holds() {
    let f = fixture(Duration::from_secs(1));
    f.network
        .apply(
            true,
            vec![view(
                "n1",
                vec![
                    endpoint("kept", "web", "node1", 10),
                    endpoint("gone", "web", "node1", 11),
                ],
            )],
            &[],
            &[],
        )
        .await;
    let held = vec![Arc::new(task_on("kept", "n1")), Arc::new(task_on("gone", "n1"))];
    // This test's own process stands for a container's; a pid no process holds for one that died.
    let pid = i64::from(std::process::id());
    let pids = [("kept".to_string(), pid), ("gone".to_string(), 1 << 30)].into();
    f.network.recover_adopting(&held, &pids).await;
    let netns = std::path::PathBuf::from(format!("/proc/{pid}/ns/net"));
    let state = f.plane.state();
    assert_eq!(state.vips[&netns].len(), 1, "re-adopted and its VIPs re-set");
    // Kept as it is when the namespace still has its interface; attached again when not.
    let has_eth0 = std::fs::read_to_string(format!("/proc/{pid}/net/dev"))
        .unwrap()
        .lines()
        .any(|l| l.trim_start().starts_with("eth0:"));
    assert_eq!(
        state
            .endpoints
            .contains_key(&(4097, "10.0.1.10".parse().unwrap())),
        !has_eth0
    );
    assert!(
        !state
            .endpoints
            .contains_key(&(4097, "10.0.1.11".parse().unwrap())),
        "a dead process is not adopted"
    );
    assert_eq!(state.vips.len(), 1);
}

#[tokio::test]
async fn an_unreachable_peers_endpoints_leave_the_vip_tables_and_come_back() {
    let f = fixture(Duration::from_secs(5));
    let v = view(
        "n1",
        vec![
            endpoint("t1", "web", "node1", 10),
            endpoint("t2", "web", "node2", 11),
            endpoint("t3", "web", "node3", 12),
        ],
    );
    f.network.apply(true, vec![v], &[], &[]).await;
    assert_eq!(
        *f.network.probe_peers.borrow(),
        ["192.168.0.2", "192.168.0.3"]
            .iter()
            .map(|a| a.parse().unwrap())
            .collect(),
        "the prober is given the other nodes' VTEPs"
    );
    let first = f.network.sandbox(&task_on("t1", "n1"), false).await.unwrap();
    let netns = first.netns.unwrap();
    let backends = |f: &Fixture, netns: &std::path::Path| -> Vec<String> {
        f.plane.state().vips[netns][0]
            .backends
            .iter()
            .map(|a| a.to_string())
            .collect()
    };
    assert_eq!(backends(&f, &netns), ["10.0.1.10", "10.0.1.11", "10.0.1.12"]);

    let lost: std::net::Ipv4Addr = "192.168.0.3".parse().unwrap();
    f.network.set_unreachable([lost].into()).await;
    assert_eq!(backends(&f, &netns), ["10.0.1.10", "10.0.1.11"]);
    let peers_before = f.plane.state().peers[&4097].len();
    assert_eq!(peers_before, 2, "FDB entries stay: only who serves changes");

    // A sandbox made meanwhile starts without the unreachable peer's endpoints.
    let grown = view(
        "n1",
        vec![
            endpoint("t1", "web", "node1", 10),
            endpoint("t2", "web", "node2", 11),
            endpoint("t3", "web", "node3", 12),
            endpoint("t4", "web", "node1", 13),
        ],
    );
    f.network.apply(true, vec![grown], &[], &[]).await;
    let second = f.network.sandbox(&task_on("t4", "n1"), false).await.unwrap();
    let second = second.netns.unwrap();
    assert_eq!(backends(&f, &second), ["10.0.1.10", "10.0.1.11", "10.0.1.13"]);

    f.network.set_unreachable(Default::default()).await;
    for netns in [&netns, &second] {
        assert_eq!(
            backends(&f, netns),
            ["10.0.1.10", "10.0.1.11", "10.0.1.12", "10.0.1.13"],
            "back at its first answer"
        );
    }
}

/// A second network's sandbox joined into a namespace another sandbox already holds (a running
/// container connected to one more network): `eth1`, no second default route, one VIP table
/// with both networks' services; releasing it leaves the first network's endpoint and VIPs.
#[tokio::test]
async fn a_second_sandbox_in_the_same_namespace_gets_the_next_interface_and_a_shared_vip_table() {
    let f = fixture(Duration::from_secs(1));
    let mut second = view("n2", vec![endpoint("t2", "db", "node1", 10)]);
    second.vni = 4098;
    for pool in &mut second.pools {
        pool.subnet.addr = std::net::Ipv4Addr::new(10, 0, 2, 0);
        pool.range.addr = std::net::Ipv4Addr::new(10, 0, 2, 0);
        pool.gateway = std::net::Ipv4Addr::new(10, 0, 2, 1);
    }
    second.endpoints[0].addr = std::net::Ipv4Addr::new(10, 0, 2, 10);
    second.services[0].service_id = "db".into();
    second.services[0].name = "db".into();
    second.services[0].vip = Some(std::net::Ipv4Addr::new(10, 0, 2, 2));
    f.network
        .apply(
            true,
            vec![view("n1", vec![endpoint("t1", "web", "node1", 10)]), second],
            &[],
            &[],
        )
        .await;
    f.network.sandbox(&task_on("t1", "n1"), true).await.unwrap();
    f.network.sandbox(&task_on("t2", "n2"), true).await.unwrap();
    f.network.join("t1", 4242).await.unwrap();
    f.network.join("t2", 4242).await.unwrap();

    let netns = std::path::PathBuf::from("/proc/4242/ns/net");
    let state = f.plane.state();
    let first = &state.endpoints[&(4097, "10.0.1.10".parse().unwrap())];
    let other = &state.endpoints[&(4098, "10.0.2.10".parse().unwrap())];
    assert_eq!((first.ifname.as_str(), &first.netns), ("eth0", &netns));
    assert_eq!((other.ifname.as_str(), &other.netns), ("eth1", &netns));
    let vips: Vec<String> = state.vips[&netns].iter().map(|v| v.vip.to_string()).collect();
    assert_eq!(vips, ["10.0.1.2", "10.0.2.2"], "one table for both networks");

    // A later apply keeps both networks' services in the shared table.
    f.network.apply(false, vec![], &[], &[]).await;
    assert_eq!(f.plane.state().vips[&netns].len(), 2);

    f.network.release("t2").await;
    let state = f.plane.state();
    assert!(
        state
            .endpoints
            .contains_key(&(4097, "10.0.1.10".parse().unwrap()))
    );
    assert!(
        !state
            .endpoints
            .contains_key(&(4098, "10.0.2.10".parse().unwrap()))
    );
    let vips: Vec<String> = state.vips[&netns].iter().map(|v| v.vip.to_string()).collect();
    assert_eq!(
        vips,
        ["10.0.1.2"],
        "the released network's services leave the table"
    );
}
