//! `shoal stack services NAME`: `service ls` over the stack's services.

use std::io::Write as _;

use api::Client;

use super::stack_filter;
use crate::cli::Console;
use crate::cli::filters::parse_filters;
use crate::cli::output::{natural_cmp, short_id};

/// Flags of `stack services`.
#[derive(clap::Args, Debug)]
pub struct ServicesArgs {
    /// Only display IDs.
    #[arg(short, long)]
    quiet: bool,
    /// Filter output (`name=…`, `mode=…`, `label=…`).
    #[arg(short, long, value_name = "KEY=VALUE")]
    filter: Vec<String>,
    /// Stack name.
    #[arg(value_name = "STACK")]
    name: String,
}

/// Lists the stack's services.
pub async fn run(client: &Client, console: &mut Console, args: ServicesArgs) -> anyhow::Result<()> {
    let mut filters = parse_filters(&args.filter)?;
    for (key, values) in stack_filter(&args.name) {
        filters.entry(key).or_default().extend(values);
    }
    let mut services = client.services(&filters, !args.quiet).await?;
    if services.is_empty() {
        writeln!(console.err, "Nothing found in stack: {}", args.name)?;
        return Ok(());
    }
    services.sort_by(|a, b| natural_cmp(&a.spec.name, &b.spec.name));
    if args.quiet {
        for s in &services {
            writeln!(console.out, "{}", short_id(&s.id))?;
        }
        return Ok(());
    }
    write!(
        console.out,
        "{}",
        crate::cli::service::render_service_table(&services)
    )?;
    Ok(())
}
