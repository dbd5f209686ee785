//! `shoal service ps SERVICE...`: the tasks of services, docker's table.

use api::Client;

use crate::cli::Console;
use crate::cli::filters::parse_filters;
use crate::cli::task_table::{self, TableOptions};

/// Flags of `service ps`.
#[derive(clap::Args, Debug)]
pub struct PsArgs {
    /// Filter output (`desired-state=running`, `node=beta`, `name=web.1`, …).
    #[arg(short, long, value_name = "KEY=VALUE")]
    filter: Vec<String>,
    /// Do not truncate output.
    #[arg(long)]
    no_trunc: bool,
    /// Do not map IDs to names.
    #[arg(long)]
    no_resolve: bool,
    /// Only display task IDs.
    #[arg(short, long)]
    quiet: bool,
    /// Format output: `table`, `json`, or a Go template (`{{.Name}} {{.CurrentState}}`).
    #[arg(long)]
    format: Option<String>,
    /// Service names, IDs or ID prefixes.
    #[arg(required = true, value_name = "SERVICE")]
    services: Vec<String>,
}

/// Prints the tasks of the services found, then fails if any was not.
pub async fn run(client: &Client, console: &mut Console, args: PsArgs) -> anyhow::Result<()> {
    let mut filters = parse_filters(&args.filter)?;
    let mut missing = Vec::new();
    let mut found = Vec::new();
    for key in &args.services {
        match crate::cli::lookup::service(client, key, false).await {
            Ok(service) => found.push(service.id),
            Err(e) if e.is_not_found() => missing.push(format!("no such service: {key}")),
            Err(e) => return Err(e.into()),
        }
    }
    if found.is_empty() {
        anyhow::bail!("{}", missing.join("\n"));
    }
    filters.insert("service".into(), found);
    let options = TableOptions {
        no_trunc: args.no_trunc || args.quiet,
        quiet: args.quiet,
        no_resolve: args.no_resolve,
    };
    task_table::print(client, console, &filters, options, args.format.as_deref()).await?;
    if !missing.is_empty() {
        anyhow::bail!("{}", missing.join("\n"));
    }
    Ok(())
}
