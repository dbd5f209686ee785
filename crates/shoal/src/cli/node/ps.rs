//! `shoal node ps [NODE...]`: the tasks on nodes (this node by default), docker's table.

use api::Client;

use super::resolve;
use crate::cli::Console;
use crate::cli::filters::parse_filters;
use crate::cli::task_table::{self, TableOptions};

/// Flags of `node ps`.
#[derive(clap::Args, Debug)]
pub struct PsArgs {
    /// Filter output (`desired-state=running`, `name=web`, …).
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
    /// Node IDs, names or ID prefixes (default `self`).
    #[arg(value_name = "NODE")]
    nodes: Vec<String>,
}

/// Prints the tasks of every node found, then fails if any node was not.
pub async fn run(client: &Client, console: &mut Console, args: PsArgs) -> anyhow::Result<()> {
    let mut filters = parse_filters(&args.filter)?;
    let keys = if args.nodes.is_empty() {
        vec!["self".to_string()]
    } else {
        args.nodes.clone()
    };
    let mut ids = Vec::new();
    let mut errors = Vec::new();
    for key in &keys {
        let id = match resolve(client, key).await {
            Ok(id) => id,
            Err(e) => {
                errors.push(e.to_string());
                continue;
            }
        };
        match crate::cli::lookup::node(client, &id).await {
            Ok(node) => ids.push(node.id),
            Err(e) => errors.push(e.to_string()),
        }
    }
    if !ids.is_empty() {
        filters.insert("node".into(), ids);
        let options = TableOptions {
            no_trunc: args.no_trunc || args.quiet,
            quiet: args.quiet,
            no_resolve: args.no_resolve,
        };
        task_table::print(client, console, &filters, options, args.format.as_deref()).await?;
    }
    if !errors.is_empty() {
        anyhow::bail!("{}", errors.join("\n"));
    }
    Ok(())
}
