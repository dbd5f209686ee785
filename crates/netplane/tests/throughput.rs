//! TCP throughput over the overlay against the underlay, and through a VIP against the task's own
//! address: one stream for a few seconds per path, paths alternated so the machine's other load
//! falls on all alike. A measurement, not a check: `cargo test -p netplane --test throughput --
//! --ignored --nocapture` (root) prints a table for BENCHMARKS.md.

mod common;

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::{Path, PathBuf};

use common::{network, plane};
use netplane::testbed::Testbed;
use netplane::{EndpointSpec, Protocol, RemoteEndpoint, VipPort, VipService};

const SECONDS: f64 = 3.0;
const ROUNDS: usize = 3;
const SINK_PORT: u16 = 5201;
const VIP_PORT: u16 = 80;

/// Sends for `SECONDS` from `from` to `to` (a sink listening in `sink_netns` on `sink`) and returns Gbit/s
/// as the receiver counted it.
async fn measure(from: &Path, to: SocketAddrV4, sink_netns: &Path, sink: SocketAddrV4) -> f64 {
    let (bytes, elapsed) = common::stream_for(SECONDS, from, to, sink_netns, sink).await;
    bytes as f64 * 8.0 / elapsed.as_secs_f64() / 1e9
}

struct Path3 {
    name: &'static str,
    from: PathBuf,
    to: SocketAddrV4,
    sink_netns: PathBuf,
    sink: SocketAddrV4,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement of several seconds; run by hand for BENCHMARKS.md"]
async fn overlay_and_vip_throughput_against_the_underlay() {
    let bed = Testbed::new("npbw", 2, "192.168.77.0/24".parse().expect("subnet"))
        .await
        .expect("test bed");
    let planes: Vec<_> = (0..2).map(|host| plane(&bed, "bwx", host)).collect();
    let net = network(4401, 8, false);
    let mut tasks = Vec::new();
    for (host, plane) in planes.iter().enumerate() {
        plane.ensure_network(&net).await.expect("overlay");
        let netns = bed.netns(&format!("t{host}")).await.expect("netns");
        let address = Ipv4Addr::new(10, 77, 8, 10 + host as u8);
        let endpoint = EndpointSpec {
            netns: netns.clone(),
            ifname: "eth0".into(),
            address,
        };
        plane.attach(&net, &endpoint).await.expect("attach");
        tasks.push((netns, address));
    }
    for (host, plane) in planes.iter().enumerate() {
        let other = 1 - host;
        let peer = RemoteEndpoint::new(tasks[other].1, bed.host(other).address);
        plane.add_peers(net.vni, &[peer]).await.expect("peer");
    }
    let vip = Ipv4Addr::new(10, 77, 8, 250);
    let service = VipService {
        vip,
        ports: vec![VipPort {
            protocol: Protocol::Tcp,
            port: VIP_PORT,
            target: SINK_PORT,
        }],
        backends: vec![tasks[1].1],
    };
    planes[0].set_vips(&tasks[0].0, &[service]).await.expect("VIP");

    let host_sink = SocketAddrV4::new(bed.host(1).address, SINK_PORT);
    let task_sink = SocketAddrV4::new(tasks[1].1, SINK_PORT);
    let paths = [
        Path3 {
            name: "host → host (underlay veth + bridge)",
            from: bed.host(0).netns.clone(),
            to: host_sink,
            sink_netns: bed.host(1).netns.clone(),
            sink: host_sink,
        },
        Path3 {
            name: "task → task IP on another host (VXLAN)",
            from: tasks[0].0.clone(),
            to: task_sink,
            sink_netns: tasks[1].0.clone(),
            sink: task_sink,
        },
        Path3 {
            name: "task → VIP → task on another host (nft DNAT + VXLAN)",
            from: tasks[0].0.clone(),
            to: SocketAddrV4::new(vip, VIP_PORT),
            sink_netns: tasks[1].0.clone(),
            sink: task_sink,
        },
    ];
    let mut results = vec![Vec::new(); paths.len()];
    for _ in 0..ROUNDS {
        for (i, path) in paths.iter().enumerate() {
            results[i].push(measure(&path.from, path.to, &path.sink_netns, path.sink).await);
        }
    }
    let median = |values: &[f64]| {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        sorted[sorted.len() / 2]
    };
    let underlay = median(&results[0]);
    let direct = median(&results[1]);
    println!("| path | Gbit/s (median of {ROUNDS} × {SECONDS} s) | runs | ratio |");
    println!("|---|---:|---|---:|");
    for (i, path) in paths.iter().enumerate() {
        let runs: Vec<_> = results[i].iter().map(|gbps| format!("{gbps:.1}")).collect();
        let ratio = match i {
            0 => "—".to_owned(),
            1 => format!("{:.2}× underlay", median(&results[1]) / underlay),
            _ => format!("{:.2}× direct", median(&results[i]) / direct),
        };
        println!(
            "| {} | {:.1} | {} | {ratio} |",
            path.name,
            median(&results[i]),
            runs.join(", ")
        );
    }
    for gbps in results.iter().flatten() {
        assert!(*gbps > 0.0);
    }
}
