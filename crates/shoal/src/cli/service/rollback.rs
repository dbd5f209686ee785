//! `shoal service rollback SERVICE`: back to the previous spec.

use std::io::Write as _;

use api::Client;

use super::WaitFlags;
use crate::cli::Console;

/// Flags of `service rollback`.
#[derive(clap::Args, Debug)]
pub struct RollbackArgs {
    #[command(flatten)]
    wait: WaitFlags,
    /// Service name, ID or ID prefix.
    #[arg(value_name = "SERVICE")]
    service: String,
}

/// Asks for the previous spec at the version read, prints the name, then waits.
pub async fn run(client: &Client, console: &mut Console, args: RollbackArgs) -> anyhow::Result<()> {
    let service = crate::cli::lookup::service(client, &args.service, false).await?;
    let answer = client
        .service_update(&service.id, service.version.index, &service.spec, true)
        .await?;
    for warning in &answer.warnings {
        writeln!(console.err, "{warning}")?;
    }
    writeln!(console.out, "{}", args.service)?;
    args.wait.wait(client, console, &service.id).await
}
