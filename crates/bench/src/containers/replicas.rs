//! `shoal-bench replicas`: `service create --replicas 50` until every task runs, then scale
//! 50 → 100, on 5 hosts, shoal with its oci executor and with its docker executor beside
//! Docker Swarm in the same run.
//!
//! ```text
//!   Topology (3 × 5 netns + bridge netns)
//!   ├─ Swarm: dockerd on 10.77.0.1–5: `swarm init` on .1, the others join as workers
//!   ├─ shoal oci: `shoal agent --executor oci` on 10.77.0.6–10, formed the same way
//!   ├─ shoal docker: on 10.77.0.11–15 a dockerd each (no swarm) and `shoal agent --executor
//!   │    docker` driving it, formed the same way
//!   ├─ every daemon: `docker import bb.tar bb:1` (busybox-static), so no task pulls
//!   ├─ rounds, rotating which system goes first:
//!   │    create 50 × `/bin/sleep 3600` → all running; scale to 100 → all running; remove
//!   └─ BENCHMARKS.md section `replicas-peer`
//! ```

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::cluster::form;
use super::{procs, service};
use crate::peer::dockerd::Dockerd;
use crate::peer::member::Member;
use crate::peer::netns::Topology;
use crate::peer::shoal_agent::ShoalAgent;
use crate::report::percentile;

/// Flags of `shoal-bench replicas`.
#[derive(clap::Args)]
pub struct Args {
    /// Hosts per system (one manager, the rest workers).
    #[arg(long, default_value_t = 5)]
    hosts: usize,
    /// Replicas created.
    #[arg(long, default_value_t = 50)]
    replicas: u64,
    /// Replicas scaled to.
    #[arg(long, default_value_t = 100)]
    scale_to: u64,
    /// Rounds per system (alternating which goes first).
    #[arg(long, default_value_t = 2)]
    rounds: usize,
    /// The shoal binary (release build).
    #[arg(long, default_value = "target/release/shoal")]
    shoal: PathBuf,
    /// The dockerd binary (Debian's docker.io).
    #[arg(long, default_value = "dockerd")]
    dockerd: String,
    /// The docker CLI (forms both clusters, imports the image).
    #[arg(long, default_value = "docker")]
    docker: String,
    /// Report file to update.
    #[arg(long, default_value = "BENCHMARKS.md")]
    out: PathBuf,
    /// Run only Swarm and shoal with the docker executor (a quicker look at that executor;
    /// the report is printed, BENCHMARKS.md is left alone as its table needs all three).
    #[arg(long)]
    docker_only: bool,
}

/// How long one step may take before the run fails.
const LIMIT: Duration = Duration::from_secs(300);

/// Times of one round (s).
#[derive(Default, Clone)]
struct Round {
    create: f64,
    scale: f64,
}

/// One round on one system: create → all running, scale → all running, remove.
async fn round(
    system: &str,
    socket: &Path,
    nodes: &[service::Containers],
    args: &Args,
    i: usize,
) -> anyhow::Result<Round> {
    let name = format!("bench{i}");
    let t0 = Instant::now();
    let id = service::create(socket, &name, args.replicas).await?;
    service::wait_running(socket, &id, args.replicas as usize, LIMIT)
        .await
        .map_err(|e| e.context(format!("{system}: create --replicas {}", args.replicas)))?;
    let create = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    service::scale(socket, &id, args.scale_to).await?;
    service::wait_running(socket, &id, args.scale_to as usize, LIMIT)
        .await
        .map_err(|e| e.context(format!("{system}: scale to {}", args.scale_to)))?;
    let scale = t1.elapsed().as_secs_f64();
    eprintln!("replicas: {system} round {i}: create {create:.2} s, scale {scale:.2} s");
    if !service::remove(socket, &id, Duration::from_secs(120)).await? {
        eprintln!("replicas: {system}: tasks of {name} still listed 120 s after removal; going on");
    }
    if !service::drained(nodes, Duration::from_secs(120)).await {
        eprintln!("replicas: {system}: containers of {name} still there 120 s after removal; going on");
    }
    Ok(Round { create, scale })
}

/// Runs the three systems and writes the `replicas-peer` section.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let dockerd = super::tool(&args.dockerd, "install Debian's docker.io")?;
    let cli = super::tool(&args.docker, "the docker CLI is needed")?;
    let shoal = super::shoal_binary(&args.shoal)?;
    anyhow::ensure!(
        args.hosts >= 1 && args.rounds >= 1,
        "--hosts and --rounds must be at least 1"
    );
    let load_before = procs::load_average();
    let topology = Topology::create(3 * args.hosts)?;
    let tar = super::busybox_tar(topology.dir())?;
    let h = args.hosts;

    eprintln!("replicas: Docker Swarm on hosts 1–{h}");
    let mut swarm: Vec<Dockerd> = (1..=h)
        .map(|i| {
            Dockerd::new(&dockerd, &format!("s{i}"), topology.dir(), topology.ns_path(i)).for_containers()
        })
        .collect();
    let addrs: Vec<String> = (1..=h).map(|i| topology.addr(i)).collect();
    let swarm_socket = form(&cli, &mut swarm, &addrs, &tar)
        .await
        .map_err(|e| e.context("forming the Swarm cluster"))?;
    let mut agents: Vec<ShoalAgent> = Vec::new();
    let mut shoal_socket = PathBuf::new();
    if !args.docker_only {
        eprintln!("replicas: shoal (oci) on hosts {}–{}", h + 1, 2 * h);
        agents = (h + 1..=2 * h)
            .map(|i| {
                ShoalAgent::new(
                    &shoal,
                    &format!("a{}", i - h),
                    topology.dir(),
                    topology.ns_path(i),
                )
                .with_oci()
            })
            .collect();
        let addrs: Vec<String> = (h + 1..=2 * h).map(|i| topology.addr(i)).collect();
        shoal_socket = form(&cli, &mut agents, &addrs, &tar)
            .await
            .map_err(|e| e.context("forming the shoal cluster"))?;
    }

    eprintln!(
        "replicas: shoal (docker executor) on hosts {}–{}",
        2 * h + 1,
        3 * h
    );
    // Each host's dockerd first: the agent's API proxies `docker import` to it.
    let mut engines: Vec<Dockerd> = (2 * h + 1..=3 * h)
        .map(|i| {
            Dockerd::new(
                &dockerd,
                &format!("e{}", i - 2 * h),
                topology.dir(),
                topology.ns_path(i),
            )
            .for_containers()
        })
        .collect();
    for e in engines.iter_mut() {
        e.start().await?;
    }
    let mut docker_agents: Vec<ShoalAgent> = (2 * h + 1..=3 * h)
        .zip(&engines)
        .map(|(i, e)| {
            ShoalAgent::new(
                &shoal,
                &format!("d{}", i - 2 * h),
                topology.dir(),
                topology.ns_path(i),
            )
            .with_docker(e.socket())
        })
        .collect();
    let addrs: Vec<String> = (2 * h + 1..=3 * h).map(|i| topology.addr(i)).collect();
    let docker_socket = form(&cli, &mut docker_agents, &addrs, &tar)
        .await
        .map_err(|e| e.context("forming the shoal cluster with the docker executor"))?;

    let swarm_nodes: Vec<_> = swarm
        .iter()
        .map(|d| service::Containers::Dockerd(d.socket().to_path_buf()))
        .collect();
    let shoal_nodes: Vec<_> = agents
        .iter()
        .map(|a| service::Containers::Shoal(a.containers_dir()))
        .collect();
    let docker_nodes: Vec<_> = engines
        .iter()
        .map(|e| service::Containers::Dockerd(e.socket().to_path_buf()))
        .collect();
    let systems = [
        ("swarm", &swarm_socket, &swarm_nodes),
        ("shoal", &shoal_socket, &shoal_nodes),
        ("shoal-docker", &docker_socket, &docker_nodes),
    ];
    let mut rounds: [Vec<Round>; 3] = Default::default();
    for i in 0..args.rounds {
        // Each round starts with the next system, so none always runs on a fresh machine.
        for k in 0..systems.len() {
            let s = (i + k) % systems.len();
            let (name, socket, nodes) = systems[s];
            if args.docker_only && name == "shoal" {
                continue;
            }
            rounds[s].push(round(name, socket, nodes, &args, i).await?);
        }
    }
    let [peer, ours, docker_rounds] = rounds;
    let version = super::dockerd_version(&dockerd);
    // The agents before the dockerds they drive.
    drop((swarm, agents, docker_agents));
    drop(engines);
    drop(topology);

    if args.docker_only {
        let list = |v: &[Round]| {
            v.iter()
                .map(|r| format!("create {:.2} s, scale {:.2} s", r.create, r.scale))
                .collect::<Vec<_>>()
                .join("; ")
        };
        println!(
            "swarm: {}\nshoal docker executor: {}",
            list(&peer),
            list(&docker_rounds)
        );
        return Ok(());
    }
    let body = section(&args, &ours, &docker_rounds, &peer, &version, &load_before);
    crate::report::write_section(&args.out, "replicas-peer", &body)?;
    println!("{body}");
    Ok(())
}

fn median(v: impl Iterator<Item = f64>) -> f64 {
    let mut s: Vec<f64> = v.collect();
    s.sort_by(|a, b| a.total_cmp(b));
    percentile(&s, 50.0)
}

fn section(
    args: &Args,
    ours: &[Round],
    docker: &[Round],
    peer: &[Round],
    version: &str,
    load_before: &str,
) -> String {
    let (r, s, h) = (args.replicas, args.scale_to, args.hosts);
    let mut b = format!("## Replicas vs Docker Swarm: `replicas-peer/{h}_hosts/create_{r}_scale_{s}`\n\n");
    b.push_str(&format!(
        "Three clusters run side by side in one run, each host a network namespace of its own on one bridge (as in\n\
         `raft-peer`): Docker Swarm from Debian's docker.io ({version}) on {h} dockerds; shoal on {h} `shoal agent\n\
         --executor oci` processes; and shoal on {h} `shoal agent --executor docker` processes, each driving a dockerd\n\
         of the same docker.io in its own namespace (not in swarm mode; the engine shoal's docker executor runs\n\
         containers on). shoal is the build named below; each cluster is formed with the stock docker CLI (`swarm init`\n\
         on the first, the others `swarm join` as workers, so every host runs tasks). Every daemon runs as PID 1 of a\n\
         PID namespace of its own with private mounts (the docker-executor agents beside their dockerd, which holds\n\
         their containers). Every daemon has the image already: `docker import` of a busybox-static rootfs as `bb:1`\n\
         (through the docker-executor agents' API, which hands images to their dockerd); the dockerds run with\n\
         `DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1`, so Swarm's executor does not try a registry before each task\n\
         (shoal's executors pull only a missing image).\n\n\
         Workload, through the same API client for all three: `POST /services/create` of {r} replicas of\n\
         `/bin/sleep 3600` (no networks, restart condition none), then the time until `GET /tasks` (polled every\n\
         50 ms) shows all {r} running; then `POST /services/ID/update` to {s} replicas and the time until {s} run.\n\
         The service is removed (and its containers gone) before the next system's turn; {} round(s) per system,\n\
         each round starting with the next system. Ratios are Swarm ÷ shoal: above 1× means shoal is faster.\n\n\
         Reproduce (root; Debian's `docker.io`, `busybox-static`, `iproute2`, `util-linux`): `cargo build --release\n\
         -p shoal -p bench && target/release/shoal-bench replicas`\n\n",
        ours.len()
    ));
    b.push_str(
        "| step | shoal executor | shoal median (s) | Swarm median (s) | ratio | shoal rounds (s) | Swarm rounds (s) |\n\
         |---|---|---:|---:|---:|---|---|\n",
    );
    let list = |v: &[Round], f: fn(&Round) -> f64| {
        v.iter()
            .map(|x| format!("{:.2}", f(x)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    for (step, f) in [
        (
            format!("create {r} → all running"),
            (|x: &Round| x.create) as fn(&Round) -> f64,
        ),
        (format!("scale {r} → {s} → all running"), |x: &Round| x.scale),
    ] {
        let p = median(peer.iter().map(f));
        for (executor, rounds) in [("oci", ours), ("docker", docker)] {
            let a = median(rounds.iter().map(f));
            b.push_str(&format!(
                "| {step} | `{executor}` | **{a:.2}** | {p:.2} | **{}** | {} | {} |\n",
                super::ratio(p, a),
                list(rounds, f),
                list(peer, f)
            ));
        }
    }
    b.push_str("\nTarget: ≥ 2× faster than Swarm on both steps.\n\n");
    b.push_str(&super::machine_line(load_before, Some(&args.shoal)));
    b.push('\n');
    b
}
