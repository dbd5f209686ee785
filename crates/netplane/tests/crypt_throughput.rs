//! TCP throughput over an encrypted overlay (userspace WireGuard) against a plain one, between
//! two simulated hosts, with the CPU time the test process (sender, receiver, tunnel loop and their kernel work) used, so the cost of the userspace
//! path reads as Gbit/s per busy core. Paths alternate so other load falls on both alike. A
//! measurement, not a check: `cargo test -p netplane --test crypt_throughput -- --ignored
//! --nocapture` (root) prints a table for BENCHMARKS.md.

mod common;

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::{Path, PathBuf};

use common::{network, plane};
use netplane::crypt::PrivateKey;
use netplane::testbed::Testbed;
use netplane::{EndpointSpec, RemoteEndpoint};

const SECONDS: f64 = 3.0;
const ROUNDS: usize = 3;
const SINK_PORT: u16 = 5201;

/// This process's CPU time in clock ticks (user + system, `/proc/self/stat` fields 14 and 15):
/// sender, receiver and tunnel loop all run here, and the kernel's work for their system calls
/// (TCP, VXLAN, TUN, UDP) is charged to it, while the machine's other load is not.
fn cpu_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("/proc/self/stat");
    // The command name may hold spaces: fields are counted after its closing parenthesis.
    let rest = &stat[stat.rfind(')').expect("stat format") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime")
}

/// Clock ticks per second (`_SC_CLK_TCK`, 100 on Linux).
const TICKS_PER_SECOND: f64 = 100.0;

/// Sends for `SECONDS` from `from` to `to` and returns (Gbit/s as the receiver counted, busy cores).
async fn measure(from: &Path, to: SocketAddrV4, sink_netns: &Path) -> (f64, f64) {
    let ticks_before = cpu_ticks();
    let (bytes, elapsed) = common::stream_for(SECONDS, from, to, sink_netns, to).await;
    let busy_cores = (cpu_ticks() - ticks_before) as f64 / TICKS_PER_SECOND / elapsed.as_secs_f64();
    (bytes as f64 * 8.0 / elapsed.as_secs_f64() / 1e9, busy_cores)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement of several seconds; run by hand for BENCHMARKS.md"]
async fn encrypted_overlay_throughput_against_the_plain_overlay() {
    let bed = Testbed::new("npwb", 2, "192.168.96.0/24".parse().expect("subnet"))
        .await
        .expect("test bed");
    let planes: Vec<_> = (0..2).map(|host| plane(&bed, "wbx", host)).collect();
    let keys: Vec<_> = (0..2).map(|_| PrivateKey::generate().expect("key")).collect();
    let tunnels = common::paired_tunnels(&bed, &planes, &keys).await;
    let mut paths: Vec<(&str, PathBuf, SocketAddrV4, PathBuf)> = Vec::new();
    for (encrypted, third, name) in [
        (false, 11u8, "plain overlay (VXLAN)"),
        (true, 12, "encrypted overlay (VXLAN in WireGuard)"),
    ] {
        let net = network(4400 + u32::from(third), third, false);
        let mut tasks = Vec::new();
        for (host, plane) in planes.iter().enumerate() {
            if encrypted {
                plane.ensure_encrypted_network(&net).await.expect("overlay");
            } else {
                plane.ensure_network(&net).await.expect("overlay");
            }
            let netns = bed.netns(&format!("t{third}-{host}")).await.expect("netns");
            let address = Ipv4Addr::new(10, 77, third, 10 + host as u8);
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
        paths.push((
            name,
            tasks[0].0.clone(),
            SocketAddrV4::new(tasks[1].1, SINK_PORT),
            tasks[1].0.clone(),
        ));
    }
    let mut results = vec![Vec::new(); paths.len()];
    for _ in 0..ROUNDS {
        for (i, (_, from, to, sink)) in paths.iter().enumerate() {
            results[i].push(measure(from, *to, sink).await);
        }
    }
    let median = |values: &[(f64, f64)], pick: fn(&(f64, f64)) -> f64| {
        let mut sorted: Vec<f64> = values.iter().map(pick).collect();
        sorted.sort_by(f64::total_cmp);
        sorted[sorted.len() / 2]
    };
    println!(
        "| path | Gbit/s (median of {ROUNDS} × {SECONDS} s) | busy cores | Gbit/s per busy core | runs (Gbit/s) |"
    );
    println!("|---|---:|---:|---:|---|");
    let mut per_core = Vec::new();
    for (i, (name, ..)) in paths.iter().enumerate() {
        let gbps = median(&results[i], |run| run.0);
        let cores = median(&results[i], |run| run.1);
        let efficiency = median(&results[i], |run| run.0 / run.1.max(0.01));
        per_core.push((gbps, efficiency));
        let runs: Vec<_> = results[i].iter().map(|run| format!("{:.2}", run.0)).collect();
        println!(
            "| {name} | {gbps:.2} | {cores:.2} | {efficiency:.2} | {} |",
            runs.join(", ")
        );
    }
    println!(
        "encrypted ÷ plain: throughput {:.3}×, per busy core {:.3}×",
        per_core[1].0 / per_core[0].0,
        per_core[1].1 / per_core[0].1
    );
    for run in results.iter().flatten() {
        assert!(run.0 > 0.0);
    }
    for tunnel in tunnels {
        tunnel.stop().await.expect("stop");
    }
}
