//! `shoal node rm`: remove each node, report every failure, fail if any.

use std::io::Write as _;

use api::Client;

use crate::cli::Console;

/// Flags of `node rm`.
#[derive(clap::Args, Debug)]
pub struct RemoveArgs {
    /// Remove a node that is not down (it may still hold tasks).
    #[arg(short, long)]
    force: bool,
    /// Node IDs, names or ID prefixes.
    #[arg(required = true, value_name = "NODE")]
    nodes: Vec<String>,
}

/// Removes the nodes, printing each one removed.
pub async fn run(client: &Client, console: &mut Console, args: RemoveArgs) -> anyhow::Result<()> {
    let mut failures = Vec::new();
    for key in &args.nodes {
        match client.node_remove(key, args.force).await {
            Ok(()) => writeln!(console.out, "{key}")?,
            Err(e) => failures.push(crate::cli::lookup::explain_node(client, key, e).await.to_string()),
        }
    }
    if !failures.is_empty() {
        anyhow::bail!("{}", failures.join("\n"));
    }
    Ok(())
}
