//! `shoal node promote` and `shoal node demote`: change the role at the version read.

use std::io::Write as _;

use api::Client;

use crate::cli::Console;
use types::Role;

use super::warn_if_even_managers;

/// Arguments of `node promote` / `node demote`.
#[derive(clap::Args, Debug)]
pub struct RoleArgs {
    /// Node IDs, names or ID prefixes.
    #[arg(required = true, value_name = "NODE")]
    nodes: Vec<String>,
}

/// Moves each node to `role`, then warns if the manager count became even.
pub async fn run(client: &Client, console: &mut Console, args: RoleArgs, role: Role) -> anyhow::Result<()> {
    let mut changed = false;
    for key in &args.nodes {
        let node = crate::cli::lookup::node(client, key).await?;
        if node.spec.role == role.as_str() {
            match role {
                Role::Manager => writeln!(console.out, "Node {} is already a manager.", node.id)?,
                Role::Worker => writeln!(console.out, "Node {} is already a worker.", node.id)?,
            }
            continue;
        }
        let mut spec = node.spec.clone();
        spec.role = role.as_str().to_string();
        client.node_update(&node.id, node.version.index, &spec).await?;
        changed = true;
        match role {
            Role::Manager => writeln!(console.out, "Node {key} promoted to a manager in the swarm.")?,
            Role::Worker => writeln!(console.out, "Manager {key} demoted in the swarm.")?,
        }
    }
    if changed {
        warn_if_even_managers(client, console).await?;
    }
    Ok(())
}
