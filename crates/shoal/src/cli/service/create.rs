//! `shoal service create [OPTIONS] IMAGE [COMMAND] [ARG...]`.

use std::io::Write as _;

use api::Client;
use api::model::{
    ContainerSpec, EndpointSpec, NetworkAttachmentConfig, Placement, PlacementPreference, PortConfig,
};
use api::model::{ServiceSpec, SpreadOver};

use super::container_flags::CreateContainerFlags;
use super::spec_flags::SpecFlags;
use super::{WaitFlags, values};
use crate::cli::Console;

/// Flags of `service create`; everything after IMAGE is the command and its arguments.
#[derive(clap::Args, Debug)]
pub struct CreateArgs {
    /// Service name.
    #[arg(long)]
    name: Option<String>,
    /// Service mode: replicated, global, replicated-job or global-job.
    #[arg(long, default_value = "replicated")]
    mode: String,
    #[command(flatten)]
    spec: SpecFlags,
    /// Set environment variables (KEY=value).
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// Service labels (key=value).
    #[arg(short = 'l', long = "label", value_name = "KEY=VALUE")]
    labels: Vec<String>,
    /// Container labels (key=value).
    #[arg(long = "container-label", value_name = "KEY=VALUE")]
    container_labels: Vec<String>,
    /// Placement constraints (e.g. node.role==worker).
    #[arg(long = "constraint", value_name = "EXPR")]
    constraints: Vec<String>,
    /// Placement preferences (spread=<label>).
    #[arg(long = "placement-pref", value_name = "PREF", value_parser = values::placement_pref)]
    placement_prefs: Vec<String>,
    /// Publish a port ([published:]target[/protocol] or published=…,target=…,mode=…).
    #[arg(short = 'p', long = "publish", value_name = "PORT", value_parser = values::port)]
    publish: Vec<PortConfig>,
    /// Network attachments.
    #[arg(long = "network", value_name = "NETWORK")]
    networks: Vec<String>,
    /// Overwrite the default ENTRYPOINT of the image.
    #[arg(long, value_name = "COMMAND")]
    entrypoint: Option<String>,
    #[command(flatten)]
    container: CreateContainerFlags,
    #[command(flatten)]
    wait: WaitFlags,
    /// Image to run.
    #[arg(value_name = "IMAGE")]
    image: String,
    /// Command and arguments.
    #[arg(value_name = "ARG", trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

/// The spec the flags describe, and warnings about flags that have nothing to do.
fn spec(args: &CreateArgs) -> anyhow::Result<(ServiceSpec, Vec<String>)> {
    let mut spec = ServiceSpec {
        name: args.name.clone().unwrap_or_default(),
        labels: args.labels.iter().map(|l| values::label(l)).collect(),
        mode: values::mode(&args.mode, args.spec.replicas, args.spec.max_concurrent)?,
        ..Default::default()
    };
    let task = &mut spec.task_template;
    task.container_spec = Some(ContainerSpec {
        image: args.image.clone(),
        args: args.args.clone(),
        command: match &args.entrypoint {
            Some(entrypoint) => values::shell_words(entrypoint)?,
            None => Vec::new(),
        },
        env: args.env.clone(),
        labels: args.container_labels.iter().map(|l| values::label(l)).collect(),
        ..Default::default()
    });
    let warnings = match task.container_spec.as_mut() {
        Some(container) => args.container.apply(container)?,
        None => Vec::new(),
    };
    task.placement = Some(Placement {
        constraints: args.constraints.clone(),
        preferences: args
            .placement_prefs
            .iter()
            .map(|d| PlacementPreference {
                spread: Some(SpreadOver {
                    spread_descriptor: d.clone(),
                }),
            })
            .collect(),
        ..Default::default()
    });
    task.networks = args
        .networks
        .iter()
        .map(|n| NetworkAttachmentConfig {
            target: n.clone(),
            ..Default::default()
        })
        .collect();
    spec.endpoint_spec = Some(EndpointSpec {
        mode: "vip".into(),
        ports: args.publish.clone(),
    });
    args.spec.apply(&mut spec)?;
    args.container.apply_generic(&mut spec.task_template)?;
    Ok((spec, warnings))
}

/// Creates the service, prints its ID, then waits for it to converge unless detached.
pub async fn run(client: &Client, console: &mut Console, args: CreateArgs) -> anyhow::Result<()> {
    let (spec, warnings) = spec(&args)?;
    for warning in &warnings {
        writeln!(console.err, "{warning}")?;
    }
    let created = client.service_create(&spec).await?;
    for warning in &created.warnings {
        writeln!(console.err, "{warning}")?;
    }
    writeln!(console.out, "{}", created.id)?;
    args.wait.wait(client, console, &created.id).await
}
