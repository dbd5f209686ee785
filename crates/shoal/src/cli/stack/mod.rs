//! `shoal stack deploy|ls|services|ps|rm`: stacks from compose files on machines without the
//! docker CLI. The compose work is the `compose` crate's; these files make, list and remove
//! what a stack is made of through the Docker API, found by the `com.docker.stack.namespace`
//! label as the docker CLI finds them, so either CLI manages a stack the other deployed.
//!
//! `depends_on` is honoured here, in the CLI (Swarm ignores it): `deploy` creates or updates
//! services in dependency order and, before each, waits until every service it depends on
//! runs all its tasks (`service_healthy`: a task with a health check reports running only
//! once healthy, and the file must give the dependency one). See `wait.rs`.

mod deploy;
mod list;
mod objects;
mod ps;
mod remove;
mod services;
mod wait;

use api::Client;

use super::{Connection, Console};

/// `shoal stack` and its connection flags.
#[derive(clap::Args)]
pub struct StackArgs {
    #[command(flatten)]
    pub connection: Connection,
    #[command(subcommand)]
    command: StackCommand,
}

/// Stack subcommands.
#[derive(clap::Subcommand)]
enum StackCommand {
    /// Deploy a new stack or update an existing stack.
    #[command(alias = "up")]
    Deploy(deploy::DeployArgs),
    /// List stacks.
    #[command(alias = "list")]
    Ls(list::ListArgs),
    /// List the services in the stack.
    Services(services::ServicesArgs),
    /// List the tasks in the stack.
    Ps(ps::PsArgs),
    /// Remove one or more stacks.
    #[command(aliases = ["remove", "down"])]
    Rm(remove::RemoveArgs),
}

/// Runs one stack subcommand.
pub async fn run(args: StackArgs, client: &Client, console: &mut Console) -> anyhow::Result<()> {
    match args.command {
        StackCommand::Deploy(a) => deploy::run(client, console, a).await,
        StackCommand::Ls(a) => list::run(client, console, a).await,
        StackCommand::Services(a) => services::run(client, console, a).await,
        StackCommand::Ps(a) => ps::run(client, console, a).await,
        StackCommand::Rm(a) => remove::run(client, console, a).await,
    }
}

/// The filters selecting what stack `name` made.
pub(crate) fn stack_filter(name: &str) -> api::client::Filters {
    let mut filters = api::client::Filters::new();
    filters.insert(
        "label".into(),
        vec![format!("{}={name}", compose::NAMESPACE_LABEL)],
    );
    filters
}
