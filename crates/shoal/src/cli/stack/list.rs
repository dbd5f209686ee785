//! `shoal stack ls`: the stacks the services' namespace labels name, with their service
//! counts (docker's `NAME  SERVICES` table).

use std::collections::BTreeMap;
use std::io::Write as _;

use api::Client;
use api::client::Filters;

use crate::cli::Console;
use crate::cli::output::table;

/// Flags of `stack ls`.
#[derive(clap::Args, Debug)]
pub struct ListArgs {
    /// Pretty-print stacks using a Go template (`{{.Name}}` and `{{.Services}}` only).
    #[arg(long)]
    format: Option<String>,
}

/// Lists stacks by name.
pub async fn run(client: &Client, console: &mut Console, args: ListArgs) -> anyhow::Result<()> {
    let mut filters = Filters::new();
    filters.insert("label".into(), vec![compose::NAMESPACE_LABEL.into()]);
    let services = client.services(&filters, false).await?;
    let mut stacks: BTreeMap<String, usize> = BTreeMap::new();
    for s in &services {
        if let Some(ns) = s.spec.labels.get(compose::NAMESPACE_LABEL) {
            *stacks.entry(ns.clone()).or_default() += 1;
        }
    }
    match args.format.as_deref() {
        None | Some("table") => {
            let mut rows = vec![vec!["NAME".to_string(), "SERVICES".to_string()]];
            rows.extend(stacks.iter().map(|(name, n)| vec![name.clone(), n.to_string()]));
            write!(console.out, "{}", table(&rows))?;
        }
        Some(template) => {
            for (name, n) in &stacks {
                let line = template
                    .replace("{{.Name}}", name)
                    .replace("{{.Services}}", &n.to_string());
                writeln!(console.out, "{line}")?;
            }
        }
    }
    Ok(())
}
