//! `shoal node update`: availability, role and labels, written at the version read.

use std::io::Write as _;

use api::Client;

use crate::cli::Console;

use super::{resolve, warn_if_even_managers};

/// Flags of `node update`.
#[derive(clap::Args, Debug)]
pub struct UpdateArgs {
    /// Availability of the node (active, pause, drain).
    #[arg(long)]
    availability: Option<String>,
    /// Role of the node (worker, manager).
    #[arg(long)]
    role: Option<String>,
    /// Add or update a node label (`key=value` or `key`; repeatable).
    #[arg(long, value_name = "LABEL")]
    label_add: Vec<String>,
    /// Remove a node label if it exists (repeatable).
    #[arg(long, value_name = "KEY")]
    label_rm: Vec<String>,
    /// Node ID, name or ID prefix (`self` for this node).
    #[arg(value_name = "NODE")]
    node: String,
}

/// Updates one node and prints its reference.
pub async fn run(client: &Client, console: &mut Console, args: UpdateArgs) -> anyhow::Result<()> {
    let id = resolve(client, &args.node).await?;
    let node = crate::cli::lookup::node(client, &id).await?;
    let mut spec = node.spec.clone();
    if let Some(availability) = &args.availability {
        spec.availability = availability.clone();
    }
    if let Some(role) = &args.role {
        spec.role = role.clone();
    }
    for label in &args.label_add {
        let (key, value) = label.split_once('=').unwrap_or((label.as_str(), ""));
        spec.labels.insert(key.to_string(), value.to_string());
    }
    for key in &args.label_rm {
        if spec.labels.remove(key).is_none() {
            anyhow::bail!("key {key} doesn't exist in node's labels");
        }
    }
    client.node_update(&node.id, node.version.index, &spec).await?;
    writeln!(console.out, "{}", args.node)?;
    if spec.role != node.spec.role {
        warn_if_even_managers(client, console).await?;
    }
    Ok(())
}
