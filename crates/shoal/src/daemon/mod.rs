//! The node daemon.

/// Flags of `shoal agent`.
#[derive(clap::Args)]
pub struct AgentArgs {}

/// Runs the daemon until interrupted.
pub async fn run(_args: AgentArgs) -> anyhow::Result<()> {
    Ok(())
}
