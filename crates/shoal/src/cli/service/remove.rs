//! `shoal service rm SERVICE...`.

use std::io::Write as _;

use api::Client;

use crate::cli::Console;

/// Flags of `service rm`.
#[derive(clap::Args, Debug)]
pub struct RemoveArgs {
    /// Service names, IDs or ID prefixes.
    #[arg(required = true, value_name = "SERVICE")]
    services: Vec<String>,
}

/// Removes each service, printing the ones removed; failures are reported at the end.
pub async fn run(client: &Client, console: &mut Console, args: RemoveArgs) -> anyhow::Result<()> {
    let mut errors = Vec::new();
    for key in &args.services {
        match client.service_remove(key).await {
            Ok(()) => writeln!(console.out, "{key}")?,
            Err(e) => errors.push(
                crate::cli::lookup::explain_service(client, key, e)
                    .await
                    .to_string(),
            ),
        }
    }
    if !errors.is_empty() {
        anyhow::bail!("{}", errors.join("\n"));
    }
    Ok(())
}
