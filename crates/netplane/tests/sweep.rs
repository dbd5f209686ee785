//! A restarted agent sweeps what a crashed one left: overlay namespaces of networks it no longer
//! has, a VXLAN device stranded in the host namespace, and its VIP table and interfaces in a
//! task's namespace. Another plane's things (another tag) are left alone. Needs root.

mod common;

use std::net::Ipv4Addr;

use common::{network, plane};
use netplane::testbed::{self, Testbed};
use netplane::{EndpointSpec, Protocol, VipPort, VipService};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_agent_sweeps_what_a_crashed_one_left() {
    let bed = Testbed::new("npsw", 2, "192.168.77.0/24".parse().expect("subnet"))
        .await
        .expect("test bed");
    let host = &bed.host(0).netns;
    let net_kept = network(4301, 6, false);
    let net_gone = network(4302, 7, false);
    let task = bed.netns("task").await.expect("task netns");
    {
        // The agent before its crash: two networks, a task on one, a VIP table in the task.
        let crashed = plane(&bed, "swx", 0);
        crashed.ensure_network(&net_kept).await.expect("overlay kept");
        crashed.ensure_network(&net_gone).await.expect("overlay gone");
        let endpoint = EndpointSpec {
            netns: task.clone(),
            ifname: "eth0".into(),
            address: Ipv4Addr::new(10, 77, 7, 9),
        };
        crashed.attach(&net_gone, &endpoint).await.expect("attach");
        let second = EndpointSpec {
            ifname: "eth1".into(),
            address: Ipv4Addr::new(10, 77, 6, 9),
            ..endpoint.clone()
        };
        crashed
            .attach(&net_kept, &second)
            .await
            .expect("attach to the kept network");
        let service = VipService {
            vip: Ipv4Addr::new(10, 77, 7, 250),
            ports: vec![VipPort {
                protocol: Protocol::Tcp,
                port: 80,
                target: 80,
            }],
            backends: vec![Ipv4Addr::new(10, 77, 7, 9)],
        };
        crashed.set_vips(&task, &[service]).await.expect("VIPs");
    }
    // A create cut short between making the VXLAN device and moving it.
    let status = bed
        .command(0, "ip")
        .args([
            "link",
            "add",
            "shoal-vx0010ff",
            "type",
            "vxlan",
            "id",
            "4351",
            "dstport",
            "4789",
            "local",
        ])
        .arg(bed.host(0).address.to_string())
        .status()
        .expect("ip link add");
    assert!(status.success());
    // Another agent's overlay on the same machine (another host namespace: one VNI per host).
    let other = plane(&bed, "swy", 1);
    other.ensure_network(&net_gone).await.expect("other overlay");

    let restarted = plane(&bed, "swx", 0);
    let report = restarted.sweep(&[net_kept.vni]).await.expect("sweep");
    assert_eq!(report.namespaces, ["shoal-swx0-ov-4302"]);
    assert_eq!(report.links, ["shoal-vx0010ff"]);
    let sandbox = restarted.sweep_sandbox(&task).await.expect("sweep sandbox");
    assert_eq!(sandbox.tables, ["shoal-swx0"]);
    // eth0 went with its overlay; eth1's network is kept, but a sandbox sweep takes all of ours.
    assert_eq!(sandbox.links, ["eth1"]);

    assert_eq!(
        testbed::netns_names("shoal-swx0").expect("list"),
        ["shoal-swx0-ov-4301"]
    );
    assert_eq!(
        testbed::netns_names("shoal-swy1").expect("list"),
        ["shoal-swy1-ov-4302"]
    );
    assert!(testbed::nft_tables(&task).await.expect("tables").is_empty());
    assert_eq!(testbed::link_names(&task).await.expect("links"), ["lo"]);
    let host_links = testbed::link_names(host).await.expect("links");
    assert!(
        host_links.iter().all(|link| !link.starts_with("shoal-")),
        "{host_links:?}"
    );

    // A second sweep finds nothing; then everything goes.
    let again = restarted.sweep(&[net_kept.vni]).await.expect("sweep again");
    assert_eq!(again, netplane::SweepReport::default());
    restarted.sweep(&[]).await.expect("sweep all");
    other.sweep(&[]).await.expect("sweep other");
    assert!(testbed::netns_names("shoal-swx0").expect("list").is_empty());
    assert!(testbed::netns_names("shoal-swy1").expect("list").is_empty());
}
