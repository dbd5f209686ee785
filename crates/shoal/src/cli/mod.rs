//! The docker-like CLI (`shoal swarm …`, `shoal node …`), speaking the Docker Engine API.

/// CLI commands.
#[derive(clap::Subcommand)]
pub enum Command {}

/// Runs one CLI command.
pub async fn run(command: Command) -> anyhow::Result<()> {
    match command {}
}
