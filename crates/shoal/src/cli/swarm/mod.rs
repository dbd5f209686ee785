//! `shoal swarm …`: init, join, leave, join-token, update, unlock, unlock-key.

mod init;
mod join;
mod join_token;
mod leave;
mod spec_flags;
mod unlock;
mod update;

use api::Client;

use super::{Connection, Console};

/// `shoal swarm` and its connection flags.
#[derive(clap::Args)]
pub struct SwarmArgs {
    #[command(flatten)]
    pub connection: Connection,
    #[command(subcommand)]
    command: SwarmCommand,
}

/// Swarm subcommands.
#[derive(clap::Subcommand)]
enum SwarmCommand {
    /// Initialize a swarm with this node as its first manager.
    Init(init::InitArgs),
    /// Join a swarm as a node.
    Join(join::JoinArgs),
    /// Leave the swarm.
    Leave(leave::LeaveArgs),
    /// Manage join tokens.
    JoinToken(join_token::JoinTokenArgs),
    /// Update the swarm.
    Update(update::UpdateArgs),
    /// Unlock a manager that restarted locked (reads the key from stdin).
    Unlock,
    /// Manage the unlock key.
    UnlockKey(unlock::UnlockKeyArgs),
}

/// Runs one swarm subcommand.
pub async fn run(args: SwarmArgs, client: &Client, console: &mut Console) -> anyhow::Result<()> {
    match args.command {
        SwarmCommand::Init(a) => init::run(client, console, a).await,
        SwarmCommand::Join(a) => join::run(client, console, a).await,
        SwarmCommand::Leave(a) => leave::run(client, console, a).await,
        SwarmCommand::JoinToken(a) => join_token::run(client, console, a).await,
        SwarmCommand::Update(a) => update::run(client, console, a).await,
        SwarmCommand::Unlock => unlock::unlock(client, console).await,
        SwarmCommand::UnlockKey(a) => unlock::unlock_key(client, console, a).await,
    }
}

/// Checks an `--availability` value the way the docker CLI does, before any request.
fn check_availability(value: &str) -> anyhow::Result<String> {
    let lower = value.to_ascii_lowercase();
    match lower.as_str() {
        "active" | "pause" | "drain" => Ok(lower),
        _ => anyhow::bail!("invalid availability {value:?}, only active, pause and drain are supported"),
    }
}
