//! `shoal-bench peer`: shoal against real Docker Swarm, in the same run, on the same private
//! network, through the same client.
//!
//! ```text
//!   Topology (8 netns + bridge netns)               dropped last: kills and deletes what is left
//!   ├─ Swarm: dockerd m1 m2 m3 on 10.77.0.1–3, worker w on .4  → form
//!   ├─ shoal: shoal agent m1 m2 m3 on 10.77.0.5–7, w on .8     → form
//!   ├─ node_update rows: Swarm, shoal, shoal, Swarm, … chunks  (background load hits both alike)
//!   ├─ kill_leader rounds: Swarm, shoal, Swarm, shoal, …
//!   └─ BENCHMARKS.md sections `raft-peer` and `failover-peer`
//! ```
//!
//! Every daemon is owned by a value whose `Drop` kills it, the namespaces by a [`Topology`]
//! whose `Drop` kills whatever is left inside them, and the files by a temporary directory; on
//! Ctrl-C the run's future is dropped, so the same clean-up happens then too.

pub mod api;
pub mod dockerd;
pub mod member;
pub mod netns;
mod report;
pub mod shoal_agent;
mod workload;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use dockerd::Dockerd;
use member::{Cluster, Member};
use netns::Topology;
use report::{Setup, Side};
use shoal_agent::ShoalAgent;
use workload::Writes;

/// Flags of `shoal-bench peer`.
#[derive(clap::Args)]
pub struct Args {
    /// Writes per write run.
    #[arg(long, default_value_t = 2000)]
    writes: usize,
    /// Client counts for the writes through the leader, comma separated.
    #[arg(long, default_value = "1,16")]
    concurrency: String,
    /// Slices each write run is cut into, alternating between the systems.
    #[arg(long, default_value_t = 4)]
    chunks: usize,
    /// Leader kills per system (Swarm takes 10–20 s a round).
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Skip the write runs.
    #[arg(long)]
    no_writes: bool,
    /// Skip the failover rounds.
    #[arg(long)]
    no_failover: bool,
    /// The shoal binary to run (build it with `cargo build --release`).
    #[arg(long, default_value = "target/release/shoal")]
    shoal: PathBuf,
    /// The dockerd binary (Debian's docker.io).
    #[arg(long, default_value = "dockerd")]
    dockerd: String,
    /// The docker CLI that forms both clusters (the first `docker` on PATH).
    #[arg(long, default_value = "docker")]
    docker: String,
    /// Report file to update.
    #[arg(long, default_value = "BENCHMARKS.md")]
    out: PathBuf,
}

/// The benchmark's binaries, found before anything is started.
struct Tools {
    shoal: PathBuf,
    dockerd: PathBuf,
    docker: PathBuf,
    dockerd_version: String,
}

pub fn resolve(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        Some(PathBuf::from(name)).filter(|p| p.is_file())
    } else {
        netns::which(name)
    }
}

fn preflight(args: &Args) -> anyhow::Result<Tools> {
    anyhow::ensure!(
        netns::is_root(),
        "`shoal-bench peer` makes network namespaces and runs dockerd: run it as root"
    );
    let shoal = std::fs::canonicalize(&args.shoal).map_err(|_| {
        anyhow::anyhow!(
            "{} not found: run `cargo build --release -p shoal` first",
            args.shoal.display()
        )
    })?;
    let dockerd = resolve(&args.dockerd).ok_or_else(|| {
        anyhow::anyhow!(
            "dockerd not found ({}): install Debian's docker.io (`apt-get install -y docker.io`)",
            args.dockerd
        )
    })?;
    let docker =
        resolve(&args.docker).ok_or_else(|| anyhow::anyhow!("docker CLI not found ({})", args.docker))?;
    for tool in ["containerd", "runc"] {
        anyhow::ensure!(
            netns::on_path(tool),
            "`{tool}` not found: dockerd needs it (install docker.io)"
        );
    }
    let dockerd_version = netns::run(Command::new(&dockerd).arg("--version"))?
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_string();
    Ok(Tools {
        shoal,
        dockerd,
        docker,
        dockerd_version,
    })
}

/// Runs both systems and writes the `raft-peer` and `failover-peer` sections.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let tools = preflight(&args)?;
    let levels: Vec<usize> = args
        .concurrency
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    anyhow::ensure!(
        !levels.is_empty(),
        "no client counts in --concurrency {:?}",
        args.concurrency
    );
    anyhow::ensure!(args.chunks > 0, "--chunks must be at least 1");
    let load_before = load_average();
    let topology = Topology::create(2 * HOSTS)?;
    let bench_nodes = levels.iter().copied().max().unwrap_or(1);

    eprintln!(
        "peer: Docker Swarm ({}) on hosts 1–{HOSTS}",
        tools.dockerd_version
    );
    let dockerd =
        |name: &str, host: usize| Dockerd::new(&tools.dockerd, name, topology.dir(), topology.ns_path(host));
    let mut swarm = start("swarm", &tools, &topology, 1, bench_nodes, dockerd).await?;
    eprintln!(
        "peer: shoal ({}) on hosts {}–{}",
        tools.shoal.display(),
        HOSTS + 1,
        2 * HOSTS
    );
    let agent =
        |name: &str, host: usize| ShoalAgent::new(&tools.shoal, name, topology.dir(), topology.ns_path(host));
    let mut shoal = start("shoal", &tools, &topology, HOSTS + 1, bench_nodes, agent).await?;

    let (mut swarm_side, mut shoal_side) = (Side::default(), Side::default());
    if !args.no_writes {
        let (a, b) = writes(&args, &levels, &swarm, &shoal).await?;
        (swarm_side.writes, shoal_side.writes) = (a, b);
    }
    if !args.no_failover {
        // Alternate rounds, so that the machine's background load falls on both alike.
        for round in 0..args.rounds {
            swarm_side
                .failover_ms
                .push(workload::kill_leader("swarm", &mut swarm, round).await?);
            shoal_side
                .failover_ms
                .push(workload::kill_leader("shoal", &mut shoal, round).await?);
        }
    }
    drop((swarm, shoal));

    let setup = Setup {
        dockerd_version: tools.dockerd_version.clone(),
        machine: format!(
            "{} Load average (1 min) at start / end: {load_before} / {} on {} cores.",
            crate::report::machine_facts(),
            load_average(),
            std::thread::available_parallelism().map_or(1, |n| n.get())
        ),
        writes: args.writes,
        chunks: args.chunks,
    };
    if !args.no_writes {
        let body = report::writes_section(&setup, &shoal_side, &swarm_side);
        crate::report::write_section(&args.out, "raft-peer", &body)?;
        println!("{body}");
    }
    if !args.no_failover {
        let body = report::failover_section(&setup, &shoal_side, &swarm_side);
        crate::report::write_section(&args.out, "failover-peer", &body)?;
        println!("{body}");
    }
    drop(topology);
    Ok(())
}

/// The 1-minute load average: how busy the shared machine was around the measurement.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

/// Namespaces per cluster: three managers and the worker that makes the benchmark's nodes.
const HOSTS: usize = 4;

/// Starts one system's daemons (`m1`–`m3` on hosts `first`…`first+2`, worker `w` on the next)
/// and forms the cluster.
async fn start<M: Member>(
    system: &str,
    tools: &Tools,
    topology: &Topology,
    first: usize,
    bench_nodes: usize,
    make: impl Fn(&str, usize) -> M,
) -> anyhow::Result<Cluster<M>> {
    let mut managers = Vec::new();
    for i in 0..3 {
        let mut m = make(&format!("m{}", i + 1), first + i);
        m.start().await?;
        managers.push(m);
    }
    let mut worker = make("w", first + 3);
    worker.start().await?;
    let addrs: Vec<String> = (0..3).map(|i| topology.addr(first + i)).collect();
    let cluster = Cluster::form(
        &tools.docker,
        managers,
        &addrs,
        worker,
        &topology.addr(first + 3),
        bench_nodes,
    )
    .await
    .map_err(|e| e.context(format!("forming the {system} cluster")))?;
    eprintln!("peer: {system}: 3 managers and {bench_nodes} down worker nodes");
    Ok(cluster)
}

/// The write rows (through the leader at each client count, then one client through a
/// follower), each made of `--chunks` alternating slices: Swarm, shoal, shoal, Swarm, …
async fn writes<A: Member, B: Member>(
    args: &Args,
    levels: &[usize],
    swarm: &Cluster<A>,
    shoal: &Cluster<B>,
) -> anyhow::Result<(Vec<Writes>, Vec<Writes>)> {
    let ends = |leader: usize, c: &[PathBuf]| (c[leader].clone(), c[(leader + 1) % c.len()].clone());
    let (swarm_leader, swarm_follower) =
        ends(swarm.settled(Duration::from_secs(60)).await?, &swarm.sockets());
    let (shoal_leader, shoal_follower) =
        ends(shoal.settled(Duration::from_secs(60)).await?, &shoal.sockets());
    // Warm-up: connections, caches, the first Raft entries.
    workload::node_update("leader", &swarm_leader, &swarm.bench_nodes, 1, 50).await?;
    workload::node_update("leader", &shoal_leader, &shoal.bench_nodes, 1, 50).await?;

    let mut rows: Vec<(&'static str, usize, &PathBuf, &PathBuf)> = levels
        .iter()
        .map(|&c| ("leader", c, &swarm_leader, &shoal_leader))
        .collect();
    rows.push(("follower", 1, &swarm_follower, &shoal_follower));
    let (mut swarm_rows, mut shoal_rows) = (Vec::new(), Vec::new());
    let per_chunk = (args.writes / args.chunks).max(1);
    for (path, clients, swarm_via, shoal_via) in rows {
        eprintln!(
            "peer: {} writes, {clients} client(s), via the {path}, in {} chunks",
            args.writes, args.chunks
        );
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for chunk in 0..args.chunks {
            let swarm_run = || workload::node_update(path, swarm_via, &swarm.bench_nodes, clients, per_chunk);
            let shoal_run = || workload::node_update(path, shoal_via, &shoal.bench_nodes, clients, per_chunk);
            if chunk % 2 == 0 {
                a.push(swarm_run().await?);
                b.push(shoal_run().await?);
            } else {
                b.push(shoal_run().await?);
                a.push(swarm_run().await?);
            }
        }
        let (a, b) = (Writes::merge(a), Writes::merge(b));
        for (system, w) in [("swarm", &a), ("shoal", &b)] {
            eprintln!(
                "peer:   {system}: {:.0} writes/s, p50 {:.2} ms, p99 {:.2} ms, {} conflicts",
                w.throughput(),
                w.latency(50.0),
                w.latency(99.0),
                w.conflicts
            );
        }
        swarm_rows.push(a);
        shoal_rows.push(b);
    }
    Ok((swarm_rows, shoal_rows))
}
