//! `shoal service scale SERVICE=REPLICAS...`.

use std::io::Write as _;

use api::Client;

use crate::cli::Console;

/// Flags of `service scale`.
#[derive(clap::Args, Debug)]
pub struct ScaleArgs {
    /// Exit immediately instead of waiting for the services to converge.
    #[arg(short = 'd', long)]
    detach: bool,
    /// SERVICE=REPLICAS pairs.
    #[arg(required = true, value_name = "SERVICE=REPLICAS")]
    scales: Vec<String>,
}

/// Sets the replica count (or job completions) of one service at the version read.
async fn scale(client: &Client, key: &str, replicas: u64) -> anyhow::Result<(String, Vec<String>)> {
    let service = crate::cli::lookup::service(client, key, false).await?;
    let mut spec = service.spec.clone();
    if let Some(replicated) = spec.mode.replicated.as_mut() {
        replicated.replicas = Some(replicas);
    } else if let Some(job) = spec.mode.replicated_job.as_mut() {
        job.total_completions = Some(replicas);
    } else {
        anyhow::bail!("scale can only be used with replicated or replicated-job mode");
    }
    let answer = client
        .service_update(&service.id, service.version.index, &spec, false)
        .await?;
    Ok((service.id, answer.warnings))
}

/// Scales each service in turn, then waits for all of them; failures are reported at the end.
pub async fn run(client: &Client, console: &mut Console, args: ScaleArgs) -> anyhow::Result<()> {
    let mut pairs = Vec::new();
    for arg in &args.scales {
        match arg.split_once('=') {
            Some((key, value)) if !key.is_empty() && !value.is_empty() => pairs.push((key, value)),
            _ => anyhow::bail!("invalid scale specifier '{arg}': expected SERVICE=REPLICAS"),
        }
    }
    let mut errors = Vec::new();
    let mut scaled = Vec::new();
    for (key, value) in pairs {
        let Ok(replicas) = value.parse::<u64>() else {
            errors.push(format!("{key}: invalid replicas value {value}"));
            continue;
        };
        match scale(client, key, replicas).await {
            Ok((id, warnings)) => {
                for warning in warnings {
                    writeln!(console.err, "{warning}")?;
                }
                writeln!(console.out, "{key} scaled to {replicas}")?;
                scaled.push((key, id));
            }
            Err(e) => errors.push(format!("{key}: {e}")),
        }
    }
    if !args.detach {
        // Several waits in a row: a header says whose progress follows.
        let headers = scaled.len() > 1;
        for (key, id) in scaled {
            if headers {
                writeln!(console.out, "{key}:")?;
            }
            if let Err(e) = super::progress::wait(client, console, &id, false).await {
                errors.push(format!("{key}: {e}"));
            }
        }
    }
    if !errors.is_empty() {
        anyhow::bail!("{}", errors.join("\n"));
    }
    Ok(())
}
