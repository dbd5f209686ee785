//! `shoal swarm leave`.

use api::Client;

/// Flags of `swarm leave`.
#[derive(clap::Args, Debug)]
pub struct LeaveArgs {
    /// Leave even if this breaks the swarm's quorum.
    #[arg(short, long)]
    force: bool,
}

/// Leaves the swarm.
pub async fn run(client: &Client, args: LeaveArgs) -> anyhow::Result<()> {
    client.swarm_leave(args.force).await?;
    println!("Node left the swarm.");
    Ok(())
}
