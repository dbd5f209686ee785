//! `shoal-bench rss`: a node's memory, idle and with 100 running tasks: one `shoal agent
//! --executor oci` beside one dockerd (+ its containerd), both single-node swarms, in the
//! same run.
//!
//! ```text
//!   host 1: shoal agent (oci), `swarm init`, bb:1 imported      host 2: dockerd, the same
//!   idle window → RSS/PSS of the daemon(s)
//!   service of 100 × `/bin/sleep 3600` → all running → idle window →
//!     daemon(s) | per-task supervisors (task-shim / containerd-shim) | the containers' processes
//!   → BENCHMARKS.md section `node-rss`
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::procs::{self, Memory};
use super::service;
use crate::peer::dockerd::Dockerd;
use crate::peer::member::{Member, docker};
use crate::peer::netns::Topology;
use crate::peer::shoal_agent::ShoalAgent;

/// Flags of `shoal-bench rss`.
#[derive(clap::Args)]
pub struct Args {
    /// Tasks in the loaded measurement.
    #[arg(long, default_value_t = 100)]
    tasks: u64,
    /// Seconds each system idles before a measurement.
    #[arg(long, default_value_t = 10)]
    idle: u64,
    /// The shoal binary (release build).
    #[arg(long, default_value = "target/release/shoal")]
    shoal: PathBuf,
    /// The dockerd binary (Debian's docker.io).
    #[arg(long, default_value = "dockerd")]
    dockerd: String,
    /// The docker CLI.
    #[arg(long, default_value = "docker")]
    docker: String,
    /// Report file to update.
    #[arg(long, default_value = "BENCHMARKS.md")]
    out: PathBuf,
}

/// Memory of one node, split by role.
#[derive(Default, Clone, Copy)]
struct Node {
    daemons: Memory,
    shims: Memory,
    tasks: Memory,
}

/// Splits the daemon at `pid` and its descendants into daemon, supervisors and tasks.
fn measure(pid: u32) -> Node {
    let (mut daemons, mut shims, mut tasks) = (vec![pid], Vec::new(), Vec::new());
    for p in procs::descendants(pid) {
        let (comm, cmd) = (procs::comm(p), procs::cmdline(p));
        if cmd.contains("task-shim") || comm.starts_with("containerd-shim") {
            shims.push(p);
        } else if comm == "containerd" || comm == "dockerd" || comm == "shoal" {
            daemons.push(p);
        } else {
            tasks.push(p);
        }
    }
    Node {
        daemons: Memory::sum(daemons),
        shims: Memory::sum(shims),
        tasks: Memory::sum(tasks),
    }
}

/// Idle, then loaded, measurements of one single-node swarm.
#[allow(clippy::too_many_arguments)] // one call per system, each argument a different fact
async fn node<M: Member>(
    system: &str,
    member: &mut M,
    pid: impl Fn(&M) -> Option<u32>,
    containers: service::Containers,
    addr: &str,
    cli: &Path,
    tar: &Path,
    args: &Args,
) -> anyhow::Result<(Node, Node)> {
    member.start().await?;
    let socket = member.socket().to_path_buf();
    docker(
        cli,
        &socket,
        &[
            "swarm",
            "init",
            "--advertise-addr",
            addr,
            "--listen-addr",
            &format!("{addr}:2377"),
        ],
    )
    .await?;
    docker(cli, &socket, &["import", &tar.to_string_lossy(), "bb:1"]).await?;
    let pid = pid(member).ok_or_else(|| anyhow::anyhow!("{system}: daemon PID not found"))?;
    // A measurement window, not a synchronisation: the daemon settles after start-up.
    tokio::time::sleep(Duration::from_secs(args.idle)).await;
    let idle = measure(pid);
    let id = service::create(&socket, "rss", args.tasks).await?;
    service::wait_running(&socket, &id, args.tasks as usize, Duration::from_secs(600)).await?;
    tokio::time::sleep(Duration::from_secs(args.idle)).await;
    let loaded = measure(pid);
    eprintln!(
        "rss: {system}: idle {:.1} MiB, with {} tasks {:.1} MiB + supervisors {:.1} MiB",
        idle.daemons.rss_mib(),
        args.tasks,
        loaded.daemons.rss_mib(),
        loaded.shims.rss_mib()
    );
    if !service::remove(&socket, &id, Duration::from_secs(120)).await? {
        eprintln!("rss: {system}: tasks still listed 120 s after removal; going on");
    }
    if !service::drained(&[containers], Duration::from_secs(120)).await {
        eprintln!("rss: {system}: containers still there 120 s after removal; going on");
    }
    Ok((idle, loaded))
}

/// Measures both nodes and writes the `node-rss` section.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let dockerd = super::tool(&args.dockerd, "install Debian's docker.io")?;
    let cli = super::tool(&args.docker, "the docker CLI is needed")?;
    let shoal = super::shoal_binary(&args.shoal)?;
    let load_before = procs::load_average();
    let topology = Topology::create(2)?;
    let tar = super::busybox_tar(topology.dir())?;

    let mut agent = ShoalAgent::new(&shoal, "r1", topology.dir(), topology.ns_path(1)).with_oci();
    let containers = service::Containers::Shoal(agent.containers_dir());
    let ours = node(
        "shoal",
        &mut agent,
        ShoalAgent::pid,
        containers,
        &topology.addr(1),
        &cli,
        &tar,
        &args,
    )
    .await?;
    drop(agent);
    let mut d = Dockerd::new(&dockerd, "r2", topology.dir(), topology.ns_path(2)).for_containers();
    let containers = service::Containers::Dockerd(d.socket().to_path_buf());
    let peer = node(
        "dockerd",
        &mut d,
        Dockerd::pid,
        containers,
        &topology.addr(2),
        &cli,
        &tar,
        &args,
    )
    .await?;
    drop(d);
    drop(topology);

    let body = section(&args, ours, peer, &super::dockerd_version(&dockerd), &load_before);
    crate::report::write_section(&args.out, "node-rss", &body)?;
    println!("{body}");
    Ok(())
}

fn section(args: &Args, ours: (Node, Node), peer: (Node, Node), version: &str, load_before: &str) -> String {
    let n = args.tasks;
    let mut b = format!("## Node memory: `node-rss/oci/0_and_{n}_tasks`\n\n");
    b.push_str(&format!(
        "One `shoal agent --executor oci` (the build named below) and one dockerd from Debian's docker.io ({version}), each\n\
         in a network namespace and PID namespace of its own, each a single-node swarm (`swarm init`) with the\n\
         busybox-static image imported as `bb:1`. Idle: {idle} s after start-up and `swarm init`. Loaded: a service of\n\
         {n} × `/bin/sleep 3600`, all running, then {idle} s. Memory is read from /proc: RSS (`VmRSS`, shared pages\n\
         counted in every process) and PSS (`Pss` of smaps_rollup, shared pages divided among their users). Rows: the\n\
         daemon processes (shoal: the agent; Docker: dockerd + containerd), the per-task supervisors (shoal's\n\
         `task-shim`; Docker's `containerd-shim-runc-v2`), and the tasks' own processes.\n\n\
         Reproduce (root; Debian's `docker.io`, `busybox-static`): `cargo build --release -p shoal -p bench &&\n\
         target/release/shoal-bench rss`\n\n",
        idle = args.idle
    ));
    b.push_str("| node | processes | shoal RSS (MiB) | shoal PSS (MiB) | Docker RSS (MiB) | Docker PSS (MiB) | RSS ratio Docker ÷ shoal |\n|---|---|---:|---:|---:|---:|---:|\n");
    let row = |b: &mut String, label: &str, what: &str, a: Memory, p: Memory| {
        b.push_str(&format!(
            "| {label} | {what} ({} / {}) | **{:.1}** | {:.1} | {:.1} | {:.1} | **{}** |\n",
            a.count,
            p.count,
            a.rss_mib(),
            a.pss_mib(),
            p.rss_mib(),
            p.pss_mib(),
            super::ratio(p.rss_mib(), a.rss_mib())
        ));
    };
    row(
        &mut b,
        "idle, 0 tasks",
        "daemon(s)",
        ours.0.daemons,
        peer.0.daemons,
    );
    row(
        &mut b,
        &format!("{n} tasks"),
        "daemon(s)",
        ours.1.daemons,
        peer.1.daemons,
    );
    row(
        &mut b,
        &format!("{n} tasks"),
        "task supervisors, summed",
        ours.1.shims,
        peer.1.shims,
    );
    row(
        &mut b,
        &format!("{n} tasks"),
        "task processes, summed",
        ours.1.tasks,
        peer.1.tasks,
    );
    b.push_str("\nProcess counts are shoal / Docker.\n\n");
    b.push_str(&super::machine_line(load_before, Some(&args.shoal)));
    b.push('\n');
    b
}
