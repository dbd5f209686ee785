//! `shoal node …`: ls, inspect, ps, promote, demote, update, rm.

mod inspect;
mod list;
mod ps;
mod remove;
mod role;
mod update;

use std::io::Write as _;

use api::Client;

use api::client::Filters;

use super::{Connection, Console};

/// `shoal node` and its connection flags.
#[derive(clap::Args)]
pub struct NodeArgs {
    #[command(flatten)]
    pub connection: Connection,
    #[command(subcommand)]
    command: NodeCommand,
}

/// Node subcommands.
#[derive(clap::Subcommand)]
enum NodeCommand {
    /// List nodes in the swarm.
    #[command(alias = "list")]
    Ls(list::ListArgs),
    /// Display detailed information on one or more nodes.
    Inspect(inspect::InspectArgs),
    /// List tasks running on one or more nodes (this node by default).
    Ps(ps::PsArgs),
    /// Promote one or more nodes to manager in the swarm.
    Promote(role::RoleArgs),
    /// Demote one or more nodes from manager in the swarm.
    Demote(role::RoleArgs),
    /// Update a node.
    Update(update::UpdateArgs),
    /// Remove one or more nodes from the swarm.
    #[command(alias = "remove")]
    Rm(remove::RemoveArgs),
}

/// Runs one node subcommand.
pub async fn run(args: NodeArgs, client: &Client, console: &mut Console) -> anyhow::Result<()> {
    match args.command {
        NodeCommand::Ls(a) => list::run(client, console, a).await,
        NodeCommand::Inspect(a) => inspect::run(client, console, a).await,
        NodeCommand::Ps(a) => ps::run(client, console, a).await,
        NodeCommand::Promote(a) => role::run(client, console, a, types::Role::Manager).await,
        NodeCommand::Demote(a) => role::run(client, console, a, types::Role::Worker).await,
        NodeCommand::Update(a) => update::run(client, console, a).await,
        NodeCommand::Rm(a) => remove::run(client, console, a).await,
    }
}

/// `self` means the node this daemon runs on, as in `docker node inspect self`.
async fn resolve(client: &Client, key: &str) -> anyhow::Result<String> {
    if key != "self" {
        return Ok(key.to_string());
    }
    let info = client.info().await?;
    if info.swarm.node_id.is_empty() {
        anyhow::bail!("this node is not part of a swarm");
    }
    Ok(info.swarm.node_id)
}

/// Warns on stderr when the swarm now has an even number of managers: Raft then tolerates
/// no more failures than with one manager fewer.
async fn warn_if_even_managers(client: &Client, console: &mut Console) -> anyhow::Result<()> {
    let filters = Filters::from([("role".to_string(), vec!["manager".to_string()])]);
    let managers = client.nodes(&filters).await?.len();
    if let Some(warning) = even_managers_warning(managers) {
        writeln!(console.err, "{warning}")?;
    }
    Ok(())
}

/// The warning for `managers` managers, if that number is even.
fn even_managers_warning(managers: usize) -> Option<String> {
    (managers > 0 && managers.is_multiple_of(2)).then(|| {
        let tolerated = (managers - 1) / 2;
        format!(
            "WARNING: the swarm now has {managers} managers. An even number of managers tolerates no more \
             failures ({tolerated}) than {} would; prefer an odd number of managers.",
            managers - 1
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warns_only_for_even_counts() {
        assert_eq!(even_managers_warning(1), None);
        assert_eq!(even_managers_warning(3), None);
        let two = even_managers_warning(2).unwrap_or_default();
        assert!(two.starts_with("WARNING: the swarm now has 2 managers."), "{two}");
        assert!(two.contains("failures (0) than 1 would"), "{two}");
        assert!(
            even_managers_warning(4)
                .unwrap_or_default()
                .contains("failures (1) than 3 would")
        );
    }
}
