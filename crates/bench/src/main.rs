//! `shoal-bench`: benchmarks that write their results, with machine facts, into
//! BENCHMARKS.md. Each names its workload and is reproduced by one command.

// Benchmarks measure real elapsed time, so they read the real clock directly.
#![allow(clippy::disallowed_methods)]
#![allow(unsafe_code)]

mod agents;
mod allocator;
mod containers;
mod e2e;
mod failover;
mod netview;
mod peer;
mod raft;
mod report;
mod scheduler;
mod scheduler_peer;

use clap::Parser;

// The allocator the shoal daemon runs with (see crates/shoal/src/main.rs), so that the
// in-process benchmarks (scheduler, store) measure the code as a leader runs it.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "shoal-bench", about = "shoal benchmarks")]
enum Bench {
    /// Raft write throughput and latency with 3 managers on loopback, and log bytes per write.
    Raft(raft::Args),
    /// Leader failover time: kill -9 the leader of 3 agent processes, time until a write lands.
    Failover(failover::Args),
    /// Allocator: 100k task attachments allocated and released on one network.
    Allocator(allocator::Args),
    /// Scheduler: SwarmKit's scheduler workloads, schedule + write-back to the in-memory store.
    Scheduler(scheduler::Args),
    /// End to end: `service create --replicas N` on hollow nodes until every task runs.
    E2e(e2e::Args),
    /// Endpoint distribution: network views to 1,000 simulated nodes on one overlay.
    Netview(netview::Args),
    /// shoal against real Docker Swarm (dockerd) in the same run: API writes and leader failover.
    Peer(peer::Args),
    /// Task start latency: the oci and process executors vs `docker run --rm` and `runc run`.
    Start(containers::start::Args),
    /// `service create --replicas 50`, scale to 100, on 5 hosts: shoal (oci, docker) vs Docker Swarm.
    Replicas(containers::replicas::Args),
    /// Node memory idle and with 100 tasks: shoal agent (oci) vs dockerd + containerd.
    Rss(containers::rss::Args),
    /// Pull + unpack of a 100 MiB image from a loopback registry vs `docker pull`.
    Pull(containers::pull::Args),
    /// Routing mesh paths vs direct, and encrypted vs plain overlay streams, on 3 hosts.
    Mesh(containers::mesh::Args),
}

/// Runs `run` until it ends or Ctrl-C; on Ctrl-C the future is dropped, and with it every
/// daemon, namespace and directory it owns.
fn interruptible(run: impl std::future::Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    runtime()?.block_on(async {
        tokio::select! {
            r = run => r,
            _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted; daemons and namespaces removed")),
        }
    })
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build()
}

fn main() -> anyhow::Result<()> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SHOAL_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .try_init();
    match Bench::parse() {
        Bench::Raft(args) => runtime()?.block_on(raft::run(args)),
        Bench::Failover(args) => runtime()?.block_on(failover::run(args)),
        Bench::Scheduler(args) => scheduler::run(args),
        Bench::Allocator(args) => allocator::run(args),
        Bench::E2e(args) => runtime()?.block_on(e2e::run(args)),
        Bench::Netview(args) => netview::run(args),
        // On Ctrl-C the run's future is dropped, and with it every daemon and namespace.
        Bench::Peer(args) => runtime()?.block_on(async {
            tokio::select! {
                r = peer::run(args) => r,
                _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted; daemons and namespaces removed")),
            }
        }),
        Bench::Start(args) => {
            // Before any thread exists: the executors' overlay mounts stay in this process's
            // own mount namespace and vanish with it.
            containers::start::private_mounts()?;
            interruptible(containers::start::run(args))
        }
        Bench::Replicas(args) => interruptible(containers::replicas::run(args)),
        Bench::Rss(args) => interruptible(containers::rss::run(args)),
        Bench::Pull(args) => interruptible(containers::pull::run(args)),
        Bench::Mesh(args) => interruptible(containers::mesh::run(args)),
    }
}
