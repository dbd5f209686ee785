//! `shoal swarm update`: read the spec, change the flags given, write it back at its version.

use std::io::Write as _;

use api::Client;

use crate::cli::Console;

use super::spec_flags::SpecFlags;
use super::unlock::print_unlock_command;

/// Flags of `swarm update`.
#[derive(clap::Args, Debug)]
pub struct UpdateArgs {
    #[command(flatten)]
    spec: SpecFlags,
}

/// Updates the swarm's settings.
pub async fn run(client: &Client, console: &mut Console, args: UpdateArgs) -> anyhow::Result<()> {
    if args.spec.is_empty() {
        anyhow::bail!("nothing to update: give at least one setting (see --help)");
    }
    let swarm = client.swarm_inspect().await?;
    let mut spec = swarm.cluster.spec;
    let locked_before = spec.encryption_config.auto_lock_managers;
    args.spec.apply(&mut spec);
    client
        .swarm_update(swarm.cluster.version.index, &spec, false, false)
        .await?;
    writeln!(console.out, "Swarm updated.")?;
    if spec.encryption_config.auto_lock_managers && !locked_before {
        let key = client.swarm_unlock_key().await?;
        print_unlock_command(console, &key)?;
    }
    Ok(())
}
