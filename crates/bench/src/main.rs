//! `shoal-bench`: benchmarks that write their results, with machine facts, into
//! BENCHMARKS.md. Each names its workload and is reproduced by one command.

mod cluster;
mod raft;
mod report;
mod scheduler;
mod scheduler_peer;

use clap::Parser;

#[derive(Parser)]
#[command(name = "shoal-bench", about = "shoal benchmarks")]
enum Bench {
    /// Raft write throughput and latency with 3 managers on loopback, and log bytes per write.
    Raft(raft::Args),
    /// Scheduler: SwarmKit's scheduler workloads, schedule + write-back to the in-memory store.
    Scheduler(scheduler::Args),
}

fn main() -> anyhow::Result<()> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("SHOAL_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .try_init();
    match Bench::parse() {
        Bench::Raft(args) => {
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            runtime.block_on(raft::run(args))
        }
        Bench::Scheduler(args) => scheduler::run(args),
    }
}
