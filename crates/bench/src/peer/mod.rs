//! `shoal-bench peer`: shoal against real Docker Swarm, in the same run, on the same private
//! network, through the same client.
//!
//! ```text
//!   Topology (4 netns + bridge netns)                      dropped last: kills and deletes all
//!   ├─ Swarm:  dockerd m1 m2 m3 (+ worker w) → form → node_update → kill_leader → drop (kill -9)
//!   └─ shoal:  shoal agent m1 m2 m3 (+ w)   → form → node_update → kill_leader → drop (kill -9)
//!   → BENCHMARKS.md sections `raft-peer` and `failover-peer`
//! ```
//!
//! Every daemon is owned by a value whose `Drop` kills it, the namespaces by a [`Topology`]
//! whose `Drop` kills whatever is left inside them, and the files by a temporary directory; on
//! Ctrl-C the run's future is dropped, so the same clean-up happens then too.

mod api;
mod dockerd;
mod member;
pub mod netns;
mod report;
mod shoal_agent;
mod workload;

use std::path::PathBuf;
use std::process::Command;

use dockerd::Dockerd;
use member::{Cluster, Member};
use netns::Topology;
use report::{Setup, Side};
use shoal_agent::ShoalAgent;

/// Flags of `shoal-bench peer`.
#[derive(clap::Args)]
pub struct Args {
    /// Writes per write run.
    #[arg(long, default_value_t = 1000)]
    writes: usize,
    /// Client counts for the writes through the leader, comma separated.
    #[arg(long, default_value = "1,16")]
    concurrency: String,
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

fn resolve(name: &str) -> Option<PathBuf> {
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
    let topology = Topology::create(4)?;
    let bench_nodes = levels.iter().copied().max().unwrap_or(1);

    eprintln!("peer: Docker Swarm ({})", tools.dockerd_version);
    let dockerd =
        |name: &str, host: usize| Dockerd::new(&tools.dockerd, name, topology.dir(), topology.ns_path(host));
    let swarm = measure("swarm", &args, &tools, &topology, &levels, bench_nodes, dockerd).await?;

    eprintln!("peer: shoal ({})", tools.shoal.display());
    let agent =
        |name: &str, host: usize| ShoalAgent::new(&tools.shoal, name, topology.dir(), topology.ns_path(host));
    let shoal = measure("shoal", &args, &tools, &topology, &levels, bench_nodes, agent).await?;

    let setup = Setup {
        dockerd_version: tools.dockerd_version.clone(),
        machine: crate::report::machine_facts(),
        writes: args.writes,
    };
    if !args.no_writes {
        let body = report::writes_section(&setup, &shoal, &swarm);
        crate::report::write_section(&args.out, "raft-peer", &body)?;
        println!("{body}");
    }
    if !args.no_failover {
        let body = report::failover_section(&setup, &shoal, &swarm);
        crate::report::write_section(&args.out, "failover-peer", &body)?;
        println!("{body}");
    }
    drop(topology);
    Ok(())
}

/// Starts one system's daemons (`m1`–`m3` on hosts 1–3, worker `w` on host 4), forms the
/// cluster, runs the workloads and kills the daemons again.
async fn measure<M: Member>(
    system: &str,
    args: &Args,
    tools: &Tools,
    topology: &Topology,
    levels: &[usize],
    bench_nodes: usize,
    make: impl Fn(&str, usize) -> M,
) -> anyhow::Result<Side> {
    let mut managers = Vec::new();
    for i in 1..=3 {
        let mut m = make(&format!("m{i}"), i);
        m.start().await?;
        managers.push(m);
    }
    let mut worker = make("w", topology.hosts());
    worker.start().await?;
    let addrs: Vec<String> = (1..=3).map(|i| topology.addr(i)).collect();
    let mut cluster = Cluster::form(
        &tools.docker,
        managers,
        &addrs,
        worker,
        &topology.addr(topology.hosts()),
        bench_nodes,
    )
    .await?;

    let mut writes = Vec::new();
    if !args.no_writes {
        let leader = cluster.settled(std::time::Duration::from_secs(60)).await?;
        let follower = (leader + 1) % cluster.managers.len();
        let via = |i: usize| cluster.managers[i].socket().to_path_buf();
        // Warm-up: connections, caches, the first Raft entries.
        workload::node_update("leader", &via(leader), &cluster.bench_nodes, 1, 50).await?;
        for &clients in levels {
            eprintln!(
                "peer: {system}: {} writes, {clients} client(s), via the leader",
                args.writes
            );
            writes.push(
                workload::node_update("leader", &via(leader), &cluster.bench_nodes, clients, args.writes)
                    .await?,
            );
        }
        eprintln!("peer: {system}: {} writes, 1 client, via a follower", args.writes);
        writes.push(
            workload::node_update("follower", &via(follower), &cluster.bench_nodes, 1, args.writes).await?,
        );
        for w in &writes {
            eprintln!(
                "peer: {system}:   {} ×{}: {:.0} writes/s, p50 {:.2} ms, p99 {:.2} ms, {} conflicts",
                w.path,
                w.concurrency,
                w.throughput(),
                w.latency(50.0),
                w.latency(99.0),
                w.conflicts
            );
        }
    }
    let failover_ms = if args.no_failover {
        Vec::new()
    } else {
        workload::kill_leader(system, &mut cluster, args.rounds).await?
    };
    drop(cluster);
    Ok(Side { writes, failover_ms })
}
