//! `shoal stack deploy -c FILE NAME`: what `docker stack deploy` does, from our compose
//! crate, plus `depends_on`:
//!
//! ```text
//! load file (.env, interpolation; warnings printed) ─► external objects must exist
//!   ─► networks made if missing ─► secrets/configs made (or their labels updated)
//!   ─► services in dependency order: wait for dependencies, then create or update
//!   ─► --prune: the stack's services no longer in the file removed
//! ```

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use api::Client;
use api::convert::service::spec_to_docker;

use super::objects::{self, Kind};
use super::{stack_filter, wait};
use crate::cli::Console;

/// Flags of `stack deploy`.
#[derive(clap::Args, Debug)]
pub struct DeployArgs {
    /// Path to a compose file; several are merged, later ones overriding (as docker's).
    #[arg(short = 'c', long = "compose-file", value_name = "FILE")]
    compose_file: Vec<PathBuf>,
    /// Path to a Distributed Application Bundle file (instead of a compose file).
    #[arg(long = "bundle-file", value_name = "FILE")]
    bundle_file: Option<PathBuf>,
    /// Remove services that are no longer referenced.
    #[arg(long)]
    prune: bool,
    /// How long to wait for a service's dependencies (seconds).
    #[arg(long = "wait-timeout", default_value_t = 300, value_name = "SECONDS")]
    wait_timeout: u64,
    /// Stack name.
    #[arg(value_name = "STACK")]
    name: String,
}

/// Deploys or updates the stack.
pub async fn run(client: &Client, console: &mut Console, args: DeployArgs) -> anyhow::Result<()> {
    let stack = match (&args.bundle_file, args.compose_file.as_slice()) {
        (Some(_), [_, ..]) => anyhow::bail!("you cannot specify both a bundle file and a compose file"),
        (Some(bundle), []) => compose::load_bundle_file(bundle, &args.name)?,
        (None, []) => anyhow::bail!(
            "please specify either a bundle file (with --bundle-file) or a compose file (with --compose-file)"
        ),
        (None, files) => {
            let env: BTreeMap<String, String> = std::env::vars().collect();
            compose::load_files(files, &args.name, env)?
        }
    };
    for warning in &stack.warnings {
        writeln!(console.err, "WARNING: {warning}")?;
    }

    for (kind, names) in [
        (Kind::Network, &stack.external_networks),
        (Kind::Secret, &stack.external_secrets),
        (Kind::Config, &stack.external_configs),
    ] {
        for name in names {
            if objects::find(client, kind, name).await?.is_none() {
                anyhow::bail!(
                    "{} {name:?} is declared as external, but could not be found; create it first",
                    kind.word()
                );
            }
        }
    }

    let existing = objects::list(client, Kind::Network, &stack_filter(&args.name)).await?;
    for net in &stack.networks {
        if existing.iter().any(|e| e.name() == net.name) {
            continue;
        }
        writeln!(console.out, "Creating network {}", net.name)?;
        objects::create_network(client, net).await?;
    }
    for (kind, items) in [
        (
            Kind::Secret,
            stack
                .secrets
                .iter()
                .map(|s| (&s.name, &s.labels, &s.data.0))
                .collect::<Vec<_>>(),
        ),
        (
            Kind::Config,
            stack
                .configs
                .iter()
                .map(|c| (&c.name, &c.labels, &c.data.0))
                .collect(),
        ),
    ] {
        for (name, labels, data) in items {
            let created = objects::put_payload(client, kind, name, labels, data).await?;
            let verb = if created { "Creating" } else { "Updating" };
            writeln!(console.out, "{verb} {} {name}", kind.word())?;
        }
    }

    let current = client.services(&stack_filter(&args.name), false).await?;
    let timeout = Duration::from_secs(args.wait_timeout);
    for service in &stack.services {
        let name = &service.spec.name;
        wait::dependencies(client, console, name, &service.depends_on, timeout).await?;
        let spec = spec_to_docker(&service.spec);
        match current.iter().find(|s| &s.spec.name == name) {
            Some(found) => {
                writeln!(console.out, "Updating service {name} (id: {})", found.id)?;
                let answer = client
                    .service_update(&found.id, found.version.index, &spec, false)
                    .await?;
                for warning in &answer.warnings {
                    writeln!(console.err, "{warning}")?;
                }
            }
            None => {
                writeln!(console.out, "Creating service {name}")?;
                let answer = client.service_create(&spec).await?;
                for warning in &answer.warnings {
                    writeln!(console.err, "{warning}")?;
                }
            }
        }
    }

    if args.prune {
        for old in &current {
            if !stack.services.iter().any(|s| s.spec.name == old.spec.name) {
                writeln!(console.out, "Removing service {}", old.spec.name)?;
                client.service_remove(&old.id).await?;
            }
        }
    }
    Ok(())
}
