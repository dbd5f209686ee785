//! `shoal`: one binary for the node daemon (`shoal agent`) and a docker-like CLI that drives
//! any shoal (or dockerd) API endpoint.

mod cli;
mod daemon;

use clap::Parser;

/// Swarm-mode container orchestration.
#[derive(Parser)]
#[command(name = "shoal", version, about)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Run the node daemon.
    Agent(daemon::AgentArgs),
    #[command(flatten)]
    Cli(cli::Command),
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    match args.command {
        Command::Agent(agent) => runtime.block_on(daemon::run(agent)),
        Command::Cli(command) => runtime.block_on(cli::run(command)),
    }
}
