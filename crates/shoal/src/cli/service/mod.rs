//! `shoal service …`: create, ls, ps, inspect, scale, update, rollback, logs, rm — the docker
//! CLI's service commands over the Docker API, one verb per file.

mod container_flags;
mod create;
mod generic;
mod inspect;
mod list;
mod logs;
mod mount;
mod progress;
mod ps;
mod remove;
mod rollback;
mod scale;
mod spec_flags;
mod update;
mod values;

use api::Client;

use super::{Connection, Console};

pub(crate) use list::render_table as render_service_table;

/// `shoal service` and its connection flags.
#[derive(clap::Args)]
pub struct ServiceArgs {
    #[command(flatten)]
    pub connection: Connection,
    #[command(subcommand)]
    command: ServiceCommand,
}

/// Service subcommands.
#[derive(clap::Subcommand)]
enum ServiceCommand {
    /// Create a new service.
    Create(Box<create::CreateArgs>),
    /// List services.
    #[command(alias = "list")]
    Ls(list::ListArgs),
    /// List the tasks of one or more services.
    Ps(ps::PsArgs),
    /// Display detailed information on one or more services.
    Inspect(inspect::InspectArgs),
    /// Scale one or more replicated services.
    Scale(scale::ScaleArgs),
    /// Update a service.
    Update(Box<update::UpdateArgs>),
    /// Revert changes to a service's configuration.
    Rollback(rollback::RollbackArgs),
    /// Fetch the logs of a service or task.
    Logs(logs::LogsArgs),
    /// Remove one or more services.
    #[command(alias = "remove")]
    Rm(remove::RemoveArgs),
}

/// Runs one service subcommand.
pub async fn run(args: ServiceArgs, client: &Client, console: &mut Console) -> anyhow::Result<()> {
    match args.command {
        ServiceCommand::Create(a) => create::run(client, console, *a).await,
        ServiceCommand::Ls(a) => list::run(client, console, a).await,
        ServiceCommand::Ps(a) => ps::run(client, console, a).await,
        ServiceCommand::Inspect(a) => inspect::run(client, console, a).await,
        ServiceCommand::Scale(a) => scale::run(client, console, a).await,
        ServiceCommand::Update(a) => update::run(client, console, *a).await,
        ServiceCommand::Rollback(a) => rollback::run(client, console, a).await,
        ServiceCommand::Logs(a) => logs::run(client, console, a).await,
        ServiceCommand::Rm(a) => remove::run(client, console, a).await,
    }
}

/// `-d`/`--detach` and `-q`/`--quiet`: whether to wait for convergence, and how loudly.
#[derive(clap::Args, Debug, Default, Clone, Copy, PartialEq)]
pub struct WaitFlags {
    /// Exit immediately instead of waiting for the service to converge.
    #[arg(short = 'd', long)]
    detach: bool,
    /// Suppress progress output.
    #[arg(short = 'q', long)]
    quiet: bool,
}

impl WaitFlags {
    /// Waits for `service` to converge unless detached.
    async fn wait(&self, client: &api::Client, console: &mut Console, service: &str) -> anyhow::Result<()> {
        if self.detach {
            Ok(())
        } else {
            progress::wait(client, console, service, self.quiet).await
        }
    }
}
