//! `shoal service update [OPTIONS] SERVICE`: read the spec at its version, change what the
//! flags say, write it back (or ask for the previous spec with `--rollback`).

use std::io::Write as _;

use api::Client;
use api::model::{PlacementPreference, PortConfig, SpreadOver};

use super::container_flags::UpdateContainerFlags;
use super::spec_flags::SpecFlags;
use super::{WaitFlags, values};
use crate::cli::Console;

/// Flags of `service update`.
#[derive(clap::Args, Debug, Default, PartialEq)]
pub struct UpdateArgs {
    #[command(flatten)]
    spec: SpecFlags,
    /// Service image tag.
    #[arg(long)]
    image: Option<String>,
    /// Service command args, split as a shell does (`sh -c 'echo a b'`).
    #[arg(long, allow_hyphen_values = true)]
    args: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image.
    #[arg(long, value_name = "COMMAND")]
    entrypoint: Option<String>,
    /// Add or update an environment variable.
    #[arg(long, value_name = "KEY=VALUE")]
    env_add: Vec<String>,
    /// Remove an environment variable.
    #[arg(long, value_name = "KEY")]
    env_rm: Vec<String>,
    /// Add or update a service label.
    #[arg(long, value_name = "KEY=VALUE")]
    label_add: Vec<String>,
    /// Remove a label by its key.
    #[arg(long, value_name = "KEY")]
    label_rm: Vec<String>,
    /// Add or update a container label.
    #[arg(long, value_name = "KEY=VALUE")]
    container_label_add: Vec<String>,
    /// Remove a container label by its key.
    #[arg(long, value_name = "KEY")]
    container_label_rm: Vec<String>,
    /// Add or update a placement constraint.
    #[arg(long, value_name = "EXPR")]
    constraint_add: Vec<String>,
    /// Remove a constraint.
    #[arg(long, value_name = "EXPR")]
    constraint_rm: Vec<String>,
    /// Add a placement preference.
    #[arg(long, value_name = "PREF", value_parser = values::placement_pref)]
    placement_pref_add: Vec<String>,
    /// Remove a placement preference.
    #[arg(long, value_name = "PREF", value_parser = values::placement_pref)]
    placement_pref_rm: Vec<String>,
    /// Add or update a published port.
    #[arg(long, value_name = "PORT", value_parser = values::port)]
    publish_add: Vec<PortConfig>,
    /// Remove a published port by its target port (target[/protocol]).
    #[arg(long, value_name = "PORT")]
    publish_rm: Vec<String>,
    /// Force an update even if no changes require it.
    #[arg(long)]
    force: bool,
    /// Roll back to the previous specification.
    #[arg(long)]
    rollback: bool,
    #[command(flatten)]
    container: UpdateContainerFlags,
    #[command(flatten)]
    wait: WaitFlags,
    /// Service name, ID or ID prefix.
    #[arg(value_name = "SERVICE")]
    service: String,
}

impl UpdateArgs {
    /// True when a flag other than `--rollback`, `-d` and `-q` was given.
    fn changes_anything(&self) -> bool {
        let bare = UpdateArgs {
            rollback: self.rollback,
            wait: self.wait,
            service: self.service.clone(),
            ..Default::default()
        };
        *self != bare
    }
}

/// `KEY=value` entries with `adds` replacing entries of the same key and `removes` deleted.
fn merge_env(env: &mut Vec<String>, adds: &[String], removes: &[String]) {
    let key = |entry: &str| entry.split_once('=').map(|(k, _)| k).unwrap_or(entry).to_string();
    for add in adds {
        env.retain(|e| key(e) != key(add));
        env.push(add.clone());
    }
    env.retain(|e| !removes.contains(&key(e)));
}

fn merge_labels(
    labels: &mut std::collections::BTreeMap<String, String>,
    adds: &[String],
    removes: &[String],
) {
    for add in adds {
        let (key, value) = values::label(add);
        labels.insert(key, value);
    }
    for key in removes {
        labels.remove(key);
    }
}

/// Applies the flags to the spec read from the daemon; returns warnings to print.
fn apply(args: &UpdateArgs, spec: &mut api::model::ServiceSpec) -> anyhow::Result<Vec<String>> {
    args.spec.apply(spec)?;
    merge_labels(&mut spec.labels, &args.label_add, &args.label_rm);
    let task = &mut spec.task_template;
    if args.force {
        task.force_update += 1;
    }
    let container = task.container_spec.get_or_insert_with(Default::default);
    if let Some(image) = &args.image {
        container.image = image.clone();
    }
    if let Some(list) = &args.args {
        container.args = values::shell_words(list)?;
    }
    if let Some(entrypoint) = &args.entrypoint {
        container.command = values::shell_words(entrypoint)?;
    }
    merge_env(&mut container.env, &args.env_add, &args.env_rm);
    let warnings = args.container.apply(container)?;
    merge_labels(
        &mut container.labels,
        &args.container_label_add,
        &args.container_label_rm,
    );
    args.container.apply_generic(task)?;
    if !args.constraint_add.is_empty()
        || !args.constraint_rm.is_empty()
        || !args.placement_pref_add.is_empty()
        || !args.placement_pref_rm.is_empty()
    {
        let placement = task.placement.get_or_insert_with(Default::default);
        placement.constraints.retain(|c| !args.constraint_rm.contains(c));
        for c in &args.constraint_add {
            if !placement.constraints.contains(c) {
                placement.constraints.push(c.clone());
            }
        }
        placement.preferences.retain(|p| {
            !p.spread
                .as_ref()
                .is_some_and(|s| args.placement_pref_rm.contains(&s.spread_descriptor))
        });
        for d in &args.placement_pref_add {
            placement.preferences.push(PlacementPreference {
                spread: Some(SpreadOver {
                    spread_descriptor: d.clone(),
                }),
            });
        }
    }
    if !args.publish_add.is_empty() || !args.publish_rm.is_empty() {
        let endpoint = spec.endpoint_spec.get_or_insert_with(Default::default);
        for removed in &args.publish_rm {
            let (target, protocol) = removed.split_once('/').unwrap_or((removed, "tcp"));
            endpoint.ports.retain(|p| {
                !(p.target_port.to_string() == target && (p.protocol == protocol || p.protocol.is_empty()))
            });
        }
        for added in &args.publish_add {
            endpoint
                .ports
                .retain(|p| p.published_port == 0 || p.published_port != added.published_port);
            endpoint.ports.push(added.clone());
        }
    }
    Ok(warnings)
}

/// Updates the service, prints the name given, then waits for convergence unless detached.
pub async fn run(client: &Client, console: &mut Console, args: UpdateArgs) -> anyhow::Result<()> {
    if args.rollback && args.changes_anything() {
        anyhow::bail!("other flags may not be combined with --rollback");
    }
    let service = crate::cli::lookup::service(client, &args.service, false).await?;
    let mut spec = service.spec.clone();
    if !args.rollback {
        for warning in apply(&args, &mut spec)? {
            writeln!(console.err, "{warning}")?;
        }
    }
    let answer = client
        .service_update(&service.id, service.version.index, &spec, args.rollback)
        .await?;
    for warning in &answer.warnings {
        writeln!(console.err, "{warning}")?;
    }
    writeln!(console.out, "{}", args.service)?;
    args.wait.wait(client, console, &service.id).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_adds_replace_and_removes_delete() {
        let mut env = vec!["A=1".to_string(), "B=2".to_string()];
        merge_env(&mut env, &["A=3".into(), "C=4".into()], &["B".into()]);
        assert_eq!(env, ["A=3", "C=4"]);
    }
}
