//! `shoal stack rm NAME…`: the stack's services, then its secrets, configs and networks, all
//! found by the namespace label (the order the docker CLI uses; a network still held by a
//! going task is waited for by the daemon).

use std::io::Write as _;

use api::Client;

use super::objects::{self, Kind};
use super::stack_filter;
use crate::cli::Console;

/// Flags of `stack rm`.
#[derive(clap::Args, Debug)]
pub struct RemoveArgs {
    /// Stacks to remove.
    #[arg(value_name = "STACK", required = true)]
    names: Vec<String>,
}

/// Removes each stack; the first failure is reported after trying everything.
pub async fn run(client: &Client, console: &mut Console, args: RemoveArgs) -> anyhow::Result<()> {
    let mut failed = Vec::new();
    for name in &args.names {
        let filter = stack_filter(name);
        let mut services = client.services(&filter, false).await?;
        services.sort_by(|a, b| a.spec.name.cmp(&b.spec.name));
        let secrets = objects::list(client, Kind::Secret, &filter).await?;
        let configs = objects::list(client, Kind::Config, &filter).await?;
        let networks = objects::list(client, Kind::Network, &filter).await?;
        if services.is_empty() && secrets.is_empty() && configs.is_empty() && networks.is_empty() {
            writeln!(console.err, "Nothing found in stack: {name}")?;
            continue;
        }
        for s in &services {
            writeln!(console.out, "Removing service {}", s.spec.name)?;
            if let Err(e) = client.service_remove(&s.id).await {
                writeln!(console.err, "Failed to remove service {}: {e}", s.id)?;
                failed.push(name.clone());
            }
        }
        for (kind, items) in [
            (Kind::Secret, &secrets),
            (Kind::Config, &configs),
            (Kind::Network, &networks),
        ] {
            for item in items {
                writeln!(console.out, "Removing {} {}", kind.word(), item.name())?;
                if let Err(e) = objects::remove(client, kind, &item.id).await {
                    writeln!(console.err, "Failed to remove {} {}: {e}", kind.word(), item.id)?;
                    failed.push(name.clone());
                }
            }
        }
    }
    failed.dedup();
    if failed.is_empty() {
        Ok(())
    } else {
        anyhow::bail!(
            "failed to remove some resources from stack: {}",
            failed.join(", ")
        )
    }
}
