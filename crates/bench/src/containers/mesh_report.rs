//! The `mesh` section of BENCHMARKS.md: what `shoal-bench mesh` measured, as tables with
//! the medians, every round's value and the ratios the targets are stated in.

use super::mesh::{Args, Path3, Results};
use crate::report::percentile;

/// Median of `v` (0 when empty).
fn median(v: impl Iterator<Item = f64>) -> f64 {
    let mut s: Vec<f64> = v.collect();
    s.sort_by(|a, b| a.total_cmp(b));
    percentile(&s, 50.0)
}

fn list(v: impl Iterator<Item = f64>, digits: usize) -> String {
    v.map(|x| format!("{x:.digits$}")).collect::<Vec<_>>().join(", ")
}

/// `a ÷ b` with two decimals, or `–`.
fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 {
        format!("{:.2}", a / b)
    } else {
        "–".into()
    }
}

/// The section's Markdown.
pub fn section(args: &Args, r: &Results, load_before: &str) -> String {
    let rounds = args.rounds;
    let mut b = String::from("## Routing mesh and encrypted overlays: `mesh/3_hosts`\n\n");
    b.push_str(
        "Three hosts, each a network namespace on one bridge (as in `replicas-peer`), each running `shoal agent\n\
         --executor oci` (the build named below), formed with the stock docker CLI; every service is created with\n\
         `docker service create` and `docker network create`, so the data plane measured is the one shoal sets up.\n\
         Host 1 runs every server task (busybox, `bb:1`), host 2 none, and the clients are threads of the benchmark\n\
         in host 3's namespace: \"another host\" sends to host 2's published port (the task is on host 1; host 2\n\
         forwards the connection across the underlay to host 1's port, SNATed to its own address), \"the\n\
         receiving host\" to host 1's; \"direct to the task\" is the same task image published in host mode on\n\
         host 1 (Swarm's way around the mesh: the client crosses the underlay once, to the task's own host, and no\n\
         balancing happens elsewhere) — the target's \"direct\"; \"underlay\" is the same busybox server run by the\n\
         benchmark in host 1's own namespace (no container, no NAT: what the wire alone gives); \"in-host\" connects\n\
         from host 1's ingress sandbox to the task's ingress address (no NAT, no host hop, no underlay: a bound no\n\
         cross-host path reaches). Route-return is the label\n\
         `com.shoal.mesh.client-address=route-return` on a second service (no SNAT; the task's replies go back\n\
         through the receiving host by conntrack mark and policy route, so the task sees the client's address).\n\
         Paths take turns: each round starts with the next one.\n\n",
    );
    b.push_str(&format!(
        "Reproduce (root; Debian's `docker.io` CLI, `busybox-static`, `iproute2`, `util-linux`): `cargo build --release\n\
         -p shoal -p bench && target/release/shoal-bench mesh` ({rounds} rounds, {} requests per path and round,\n\
         {} MiB streams).\n\n",
        args.requests, args.stream_mib
    ));

    b.push_str("### Connections: `mesh/3_hosts/http10_sequential`\n\n");
    b.push_str(&format!(
        "busybox `httpd` answering its host name; {} HTTP/1.0 requests in sequence per path and round, each on a\n\
         connection of its own (connect → request → server's close). Connections per second: median of the rounds;\n\
         p50 / p99: over every request of every round.\n\n",
        args.requests
    ));
    b.push_str(
        "| path | conn/s (median) | rounds (conn/s) | p50 | p99 | ÷ direct to the task | ÷ underlay |\n\
         |---|---:|---|---:|---:|---:|---:|\n",
    );
    let direct_rate = median(rate_of(r, Path3::HostMode));
    let underlay_rate = median(rate_of(r, Path3::Underlay));
    for path in Path3::ALL {
        let mut all: Vec<f64> = r
            .requests
            .get(&path)
            .into_iter()
            .flatten()
            .flat_map(|q| q.latencies.iter().copied())
            .collect();
        all.sort_by(|a, b| a.total_cmp(b));
        let m = median(rate_of(r, path));
        b.push_str(&format!(
            "| {} | **{m:.0}** | {} | {:.2} ms | {:.2} ms | {} | {} |\n",
            path.label(),
            list(rate_of(r, path), 0),
            percentile(&all, 50.0) * 1e3,
            percentile(&all, 99.0) * 1e3,
            ratio(m, direct_rate),
            ratio(m, underlay_rate)
        ));
    }

    b.push_str(&format!(
        "\n### Throughput: `mesh/3_hosts/1_stream_{}MiB`\n\n",
        args.stream_mib
    ));
    b.push_str(&format!(
        "The task is busybox `nc -ll -p 80 -e dd of=/dev/null bs=1M`; one TCP stream of {} MiB per path and round,\n\
         timed from the first write to the sink's close. The data plane is all kernel here (nft, veth, bridge,\n\
         VXLAN for route-return).\n\n",
        args.stream_mib
    ));
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    b.push_str(&format!(
        "Machine CPU per GiB is the busy time of all cores (user, system, interrupts) while the stream ran,\n\
         wherever the kernel did the path's work (the sender's core, the sink's, ksoftirqd); cores busy is\n\
         that time over the stream's wall time (of {cores} cores here): near the core count, the path is\n\
         CPU-bound and its throughput is what the machine's cores give for its cost per byte.\n\n"
    ));
    b.push_str("| path | Gbit/s (median) | rounds (Gbit/s) | ÷ direct to the task | ÷ underlay | machine CPU s per GiB (median) | ÷ direct | cores busy (median) |\n|---|---:|---|---:|---:|---:|---:|---:|\n");
    let streams = |path| r.streams.get(&path).into_iter().flatten();
    let per_gib = |path| median(streams(path).map(|s| s.machine_cpu_per_gib()));
    let busy = |path| median(streams(path).map(|s| s.cores_busy()));
    let direct_cost = per_gib(Path3::HostMode);
    let gbit = |path| streams(path).map(|s| s.gbit).collect::<Vec<_>>();
    let direct = median(gbit(Path3::HostMode).into_iter());
    let underlay = median(gbit(Path3::Underlay).into_iter());
    let mut worst: Option<f64> = None;
    for path in Path3::ALL {
        let m = median(gbit(path).into_iter());
        if path.is_default_mesh() && direct > 0.0 {
            worst = Some(worst.map_or(m / direct, |w: f64| w.min(m / direct)));
        }
        let cost = per_gib(path);
        b.push_str(&format!(
            "| {} | **{m:.2}** | {} | {} | {} | {cost:.2} | {} | {:.2} |\n",
            path.label(),
            list(gbit(path).into_iter(), 2),
            ratio(m, direct),
            ratio(m, underlay),
            ratio(cost, direct_cost),
            busy(path)
        ));
    }
    if let Some(w) = worst {
        let verdict = if w >= 0.9 { "met" } else { "not met" };
        b.push_str(&format!(
            "\nTarget mesh ≥ 0.9× direct to the task (throughput, medians; the mesh as every published port has it, \
             so not the route-return opt-in): {verdict} on this run (lowest of those paths {w:.2}×).\n"
        ));
    }

    b.push_str(&overlay(args, r));
    // The plain overlay's stream is the VXLAN hop without any NAT or host-namespace hop; the
    // route-return path is the direct path's hops plus that one, so this ratio caps it.
    let plain = median(r.overlay[1].iter().map(|(s, _)| s.gbit));
    if plain > 0.0 && direct > 0.0 {
        b.push_str(&format!(
            "Plain overlay stream ÷ direct to the task (same run): **{}**. That stream crosses the VXLAN hop \
             without NAT or a host-namespace hop; the route-return path to a task on another host is the direct \
             path's hops plus that VXLAN hop, so on this machine it stays under this ratio. The default mesh \
             forwards such connections across the underlay instead, without VXLAN.\n\n",
            ratio(plain, direct)
        ));
    }
    b.push_str(&super::machine_line(load_before, Some(&args.shoal)));
    b.push('\n');
    b
}

/// The overlay streams' table alone, with the machine line (`--overlay-only`).
pub fn overlay_only(args: &Args, r: &Results, load_before: &str) -> String {
    let mut b = overlay(args, r);
    b.push_str(&super::machine_line(load_before, Some(&args.shoal)));
    b.push('\n');
    b
}

/// The subsection of the encrypted and the plain overlay's streams.
fn overlay(args: &Args, r: &Results) -> String {
    let mut b = String::new();
    b.push_str(&format!(
        "\n### Encrypted vs plain overlay: `mesh/3_hosts/overlay_1_stream_{}MiB`\n\n",
        args.stream_mib
    ));
    b.push_str(
        "Two overlays made with `docker network create -d overlay`, one with `--opt encrypted`; on each a sink task on\n\
         host 1 and a client task on host 2; the benchmark's sender thread joins the client task's namespace and sends\n\
         one stream to the sink's overlay address. On the encrypted network the VXLAN packets go through the\n\
         agents' userspace WireGuard tunnels (boringtun over a TUN device; this kernel has neither ESP nor\n\
         WireGuard). The agents' CPU time (both ends; read from `/proc/PID/stat` around each stream) is the\n\
         userspace path's cost together with the kernel work its system calls run inline: a UDP GSO send carries\n\
         a run of sealed packets across the underlay, and a GSO send over loopback a run of opened ones into the\n\
         VXLAN socket, whose GRO merges them before bridge, veth and TCP receive up to the sink's socket; the\n\
         TUN device still gives one packet per read. The figure grows when softirq work runs in the agents'\n\
         context rather than in ksoftirqd, as on an idle machine. The sender's is its own thread's (system\n\
         calls and the softirq work they run).\n\n",
    );
    b.push_str(
        "| network | Gbit/s (median) | rounds (Gbit/s) | agents' CPU s per GiB | sender's CPU s per GiB | Gbit per CPU second (agents + sender) |\n\
         |---|---:|---|---:|---:|---:|\n",
    );
    let gib = args.stream_mib as f64 / 1024.0;
    let mut medians = [0.0; 2];
    for (i, name) in ["encrypted (`--opt encrypted`)", "plain"].into_iter().enumerate() {
        let runs = &r.overlay[i];
        let m = median(runs.iter().map(|(s, _)| s.gbit));
        medians[i] = m;
        let agents = median(runs.iter().map(|(_, a)| a / gib));
        let sender = median(runs.iter().map(|(s, _)| s.sender_cpu / gib));
        let per_cpu = if agents + sender > 0.0 {
            format!("{:.2}", 8.0 * 1.073_741_824 / (agents + sender))
        } else {
            "–".into()
        };
        b.push_str(&format!(
            "| {name} | **{m:.2}** | {} | {agents:.2} | {sender:.2} | {per_cpu} |\n",
            list(runs.iter().map(|(s, _)| s.gbit), 2)
        ));
    }
    b.push_str(&format!(
        "\nEncrypted ÷ plain throughput (medians): **{}**.\n\n",
        ratio(medians[0], medians[1])
    ));
    b
}

fn rate_of(r: &Results, path: Path3) -> impl Iterator<Item = f64> + '_ {
    r.requests.get(&path).into_iter().flatten().map(|q| q.per_second)
}
