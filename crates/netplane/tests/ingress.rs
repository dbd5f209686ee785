//! The routing mesh on the kernel: a published port reaches a task through the host and its
//! ingress sandbox, from another host and from the node itself, even when another plane's host
//! link (the same /30: every node's link has it) was left in the host namespace first, as a dev
//! cluster killed with its sandbox still pinned leaves it. Needs root.

mod common;

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{EchoServer, ask, network, plane};
use netplane::testbed::Testbed;
use netplane::{EndpointSpec, MeshPort, Protocol, PublishMode};

fn ip(netns: &Path, args: &[&str]) {
    let out = Command::new("nsenter")
        .arg(format!("--net={}", netns.display()))
        .arg("ip")
        .args(args)
        .output()
        .expect("ip");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
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
    let port = MeshPort {
        protocol: Protocol::Tcp,
        published: 8080,
        target: 80,
        mode: PublishMode::Ingress,
        local: vec![task_address],
        remote: vec![],
        route_return: false,
    };
    plane.set_mesh(sandbox, &[port]).await.expect("mesh");

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
