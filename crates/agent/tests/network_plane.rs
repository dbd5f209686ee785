//! The agent's network layer over the real data plane, on two simulated hosts (network
//! namespaces on a switch of their own): both nodes get the same view, each makes its task's
//! sandbox; the two task namespaces ping each other across the VXLAN overlay, the VIP answers,
//! and the resolver answers `tasks.<service>`. A layer dropped without cleanup (an agent killed)
//! is swept by the next one. Needs root.

use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use agent::network::{KernelNamespaces, NetworkConfig, NodeNetwork};
use hickory_proto::op::{Message, MessageType, OpCode, Query};
use hickory_proto::rr::{Name, RData, RecordType};
use netplane::dns::{HostResolvConf, Upstreams};
use netplane::testbed::{self, Testbed};
use netplane::{DEFAULT_NETNS_DIR, Plane, PlaneConfig};
use types::{EndpointView, NetworkAttachment, NetworkView, Pool, ServiceView, Subnet, Task, TaskSpec};

const SUBNET: [u8; 3] = [10, 0, 93];

fn ip(last: u8) -> Ipv4Addr {
    Ipv4Addr::new(SUBNET[0], SUBNET[1], SUBNET[2], last)
}

fn network_layer(bed: &Testbed, i: usize, tag: &str, sandboxes: &Path) -> Arc<NodeNetwork> {
    let host = bed.host(i);
    let plane = Plane::new(PlaneConfig {
        tag: tag.into(),
        host_netns: host.netns.clone(),
        netns_dir: PathBuf::from(DEFAULT_NETNS_DIR),
        underlay: host.address,
        vxlan_port: netplane::DEFAULT_VXLAN_PORT,
    })
    .expect("plane");
    NodeNetwork::new(
        NetworkConfig {
            node_id: format!("node{i}"),
            tag: tag.into(),
            sandboxes: sandboxes.to_owned(),
            host_resolv: HostResolvConf::default(),
            dns_port: 53,
            attach_deadline: Duration::from_secs(10),
        },
        Arc::new(plane),
        Arc::new(KernelNamespaces::new(DEFAULT_NETNS_DIR)),
        Upstreams::new(vec![], host.netns.clone()),
    )
}

fn endpoint(task: &str, node: usize, vtep: Ipv4Addr, last: u8) -> EndpointView {
    EndpointView {
        task_id: task.into(),
        task_name: format!("web.{node}.{task}"),
        service_id: "websvc".into(),
        node_id: format!("node{node}"),
        vtep,
        addr: ip(last),
        aliases: vec![],
        serving: true,
    }
}

fn view(vtep0: Ipv4Addr, vtep1: Ipv4Addr) -> NetworkView {
    let subnet = Subnet {
        addr: ip(0),
        prefix: 24,
    };
    NetworkView {
        network_id: "net93".into(),
        name: "front".into(),
        vni: 4093,
        pools: vec![Pool {
            subnet,
            range: subnet,
            gateway: ip(1),
            aux: Default::default(),
        }],
        internal: false,
        ingress: false,
        mtu: None,
        encrypted: false,
        endpoints: vec![endpoint("taska", 0, vtep0, 10), endpoint("taskb", 1, vtep1, 11)],
        services: vec![ServiceView {
            service_id: "websvc".into(),
            name: "web".into(),
            vip: Some(ip(2)),
            aliases: vec![],
            ports: vec![],
            route_return: false,
            route_return_ports: Vec::new(),
        }],
    }
}

fn task(id: &str) -> Task {
    types::testing::task(id)
        .service("websvc", "web")
        .node("node0")
        .spec(TaskSpec {
            networks: vec![NetworkAttachment {
                target: "front".into(),
                ..NetworkAttachment::default()
            }],
            ..TaskSpec::default()
        })
        .build()
}

/// Polls `ping -c1` from `netns` to `to` until it answers or 10 s pass.
async fn pings(netns: &Path, to: Ipv4Addr) -> bool {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while tokio::time::Instant::now() < deadline {
        let status = tokio::process::Command::new("nsenter")
            .arg(format!("--net={}", netns.display()))
            .args(["--", "busybox", "ping", "-c1", "-W1"])
            .arg(to.to_string())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .await
            .expect("run ping");
        if status.success() {
            return true;
        }
    }
    false
}

/// The A answers for `name` from the resolver at `server`, asked from inside `netns`.
async fn resolve(netns: &Path, server: Ipv4Addr, name: &str) -> Vec<Ipv4Addr> {
    let mut message = Message::new(0x4242, MessageType::Query, OpCode::Query);
    message.metadata.recursion_desired = true;
    message.add_query(Query::query(Name::from_ascii(name).expect("name"), RecordType::A));
    let packet = message.to_vec().expect("encode");
    let reply = netplane::run_in_netns(netns, move || {
        let io = |source| netplane::Error::Io {
            what: "DNS client",
            source,
        };
        let socket = UdpSocket::bind("0.0.0.0:0").map_err(io)?;
        socket
            .set_read_timeout(Some(Duration::from_secs(3)))
            .map_err(io)?;
        socket.connect(SocketAddrV4::new(server, 53)).map_err(io)?;
        socket.send(&packet).map_err(io)?;
        let mut buffer = vec![0u8; 4096];
        let n = socket.recv(&mut buffer).map_err(io)?;
        buffer.truncate(n);
        Ok(buffer)
    })
    .await
    .expect("DNS answer");
    let reply = Message::from_vec(&reply).expect("parse answer");
    let mut addresses: Vec<Ipv4Addr> = reply
        .answers
        .iter()
        .filter_map(|record| match &record.data {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .collect();
    addresses.sort();
    addresses
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_tasks_ping_each_other_and_resolve_their_service() {
    let bed = Testbed::new("nagp", 2, "192.168.93.0/24".parse().expect("subnet"))
        .await
        .expect("test bed");
    bed.adopt("shoal-nagp0-");
    bed.adopt("shoal-nagp1-");
    let files = tempfile::tempdir().expect("tempdir");
    let node0 = network_layer(&bed, 0, "nagp0", &files.path().join("n0"));
    let node1 = network_layer(&bed, 1, "nagp1", &files.path().join("n1"));
    let both = view(bed.host(0).address, bed.host(1).address);
    node0.apply(true, vec![both.clone()], &[], &[]).await;
    node1.apply(true, vec![both], &[], &[]).await;

    let a = node0.sandbox(&task("taska"), false).await.expect("sandbox a");
    let b = node1.sandbox(&task("taskb"), false).await.expect("sandbox b");
    let (a_ns, b_ns) = (
        a.netns.clone().expect("netns a"),
        b.netns.clone().expect("netns b"),
    );
    assert!(pings(&a_ns, ip(11)).await, "a reaches b across the overlay");
    assert!(pings(&b_ns, ip(10)).await, "b reaches a");
    assert!(
        pings(&a_ns, ip(2)).await,
        "the VIP forwards (every port and ICMP) to a backend"
    );
    assert_eq!(resolve(&a_ns, ip(1), "tasks.web").await, vec![ip(10), ip(11)]);
    assert_eq!(resolve(&b_ns, ip(1), "web").await, vec![ip(2)]);
    let resolv = std::fs::read_to_string(a.resolv_conf.expect("resolv.conf")).expect("read");
    assert!(resolv.contains(&format!("nameserver {}\n", ip(1))), "{resolv}");

    node0.release("taska").await;
    node1.release("taskb").await;
    node0.apply(true, vec![], &[], &[]).await;
    node1.apply(true, vec![], &[], &[]).await;
    assert_eq!(
        testbed::netns_names("shoal-nagp").expect("list"),
        Vec::<String>::new(),
        "tasks' and overlays' namespaces are gone"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_layer_sweeps_what_a_killed_one_left() {
    let bed = Testbed::new("nagr", 1, "192.168.94.0/24".parse().expect("subnet"))
        .await
        .expect("test bed");
    bed.adopt("shoal-nagr0-");
    let files = tempfile::tempdir().expect("tempdir");
    let v = view(bed.host(0).address, Ipv4Addr::new(192, 168, 94, 9));
    {
        // The first agent makes a sandbox, then "dies": nothing is released.
        let first = network_layer(&bed, 0, "nagr0", files.path());
        first.apply(true, vec![v.clone()], &[], &[]).await;
        let sandbox = first.sandbox(&task("taska"), false).await.expect("sandbox");
        let netns = sandbox.netns.expect("netns");
        let tables = testbed::nft_tables(&netns).await.expect("tables");
        assert!(tables.contains(&"shoal-nagr0".to_string()), "{tables:?}");
    }
    assert_eq!(testbed::netns_names("shoal-nagr0-").expect("list").len(), 2);

    // The next agent is told the task is gone: everything of its tag goes.
    let second = network_layer(&bed, 0, "nagr0", files.path());
    second.apply(true, vec![], &[], &[]).await;
    second.recover(&[]).await;
    assert_eq!(
        testbed::netns_names("shoal-nagr0-").expect("list"),
        Vec::<String>::new()
    );
    assert!(
        std::fs::read_dir(files.path()).expect("dir").next().is_none(),
        "sandbox files gone"
    );
    let links = testbed::link_names(&bed.host(0).netns).await.expect("links");
    assert!(links.iter().all(|l| !l.starts_with("shoal-")), "{links:?}");
}
