//! `shoal stack ps NAME`: the task table over the stack's tasks (tasks are filtered by
//! their service's labels, as Swarm does).

use api::Client;

use super::stack_filter;
use crate::cli::Console;
use crate::cli::filters::parse_filters;
use crate::cli::task_table::{self, TableOptions};

/// Flags of `stack ps`.
#[derive(clap::Args, Debug)]
pub struct PsArgs {
    /// Only display task IDs.
    #[arg(short, long)]
    quiet: bool,
    /// Do not truncate output.
    #[arg(long = "no-trunc")]
    no_trunc: bool,
    /// Do not map IDs to names.
    #[arg(long = "no-resolve")]
    no_resolve: bool,
    /// Filter output (`desired-state=running`, `node=…`, `name=…`).
    #[arg(short, long, value_name = "KEY=VALUE")]
    filter: Vec<String>,
    /// Format output with a Go template.
    #[arg(long)]
    format: Option<String>,
    /// Stack name.
    #[arg(value_name = "STACK")]
    name: String,
}

/// Prints the stack's tasks.
pub async fn run(client: &Client, console: &mut Console, args: PsArgs) -> anyhow::Result<()> {
    let mut filters = parse_filters(&args.filter)?;
    for (key, values) in stack_filter(&args.name) {
        filters.entry(key).or_default().extend(values);
    }
    if client.tasks(&filters).await?.is_empty() {
        anyhow::bail!("nothing found in stack: {}", args.name);
    }
    let options = TableOptions {
        no_trunc: args.no_trunc,
        quiet: args.quiet,
        no_resolve: args.no_resolve,
    };
    task_table::print(client, console, &filters, options, args.format.as_deref()).await
}
