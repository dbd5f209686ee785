//! `shoal swarm leave`.

use std::io::Write as _;

use api::Client;

use crate::cli::Console;

/// Flags of `swarm leave`.
#[derive(clap::Args, Debug)]
pub struct LeaveArgs {
    /// Leave even if this breaks the swarm's quorum.
    #[arg(short, long)]
    force: bool,
}

/// Leaves the swarm.
pub async fn run(client: &Client, console: &mut Console, args: LeaveArgs) -> anyhow::Result<()> {
    client.swarm_leave(args.force).await?;
    writeln!(console.out, "Node left the swarm.")?;
    Ok(())
}
