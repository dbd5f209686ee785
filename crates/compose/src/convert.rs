//! The parsed file → a [`Stack`]: names prefixed with the stack (`<stack>_<key>`) unless the
//! object is external or named, the namespace label on everything made, a `default` overlay
//! network for services that name none, the payloads of secrets and configs read, and the
//! services in dependency order. Service fields are in `service.rs`.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;
use types::{ConfigSpec, IpamConfig, NetworkSpec, SecretData, SecretSpec};

use crate::error::{Result, invalid};
use crate::model::{External, File, Payload};
use crate::order::dependency_order;
use crate::service::{self, Names};
use crate::stack::Stack;
use crate::{NAMESPACE_LABEL, Options, ignored_warning, read_bounded};

/// Largest secret (Swarm's limit).
const MAX_SECRET: usize = 500 * 1024;
/// Largest config (Swarm's limit).
const MAX_CONFIG: usize = 1000 * 1024;

/// Builds the stack.
pub fn stack(
    file: File,
    options: &Options,
    vars: &BTreeMap<String, String>,
    mut warnings: Vec<String>,
) -> Result<Stack> {
    let ns = options.namespace.as_str();
    let mut out = Stack {
        namespace: ns.to_string(),
        ..Default::default()
    };
    let mut names = Names::default();

    // Networks: those declared, plus `default` when a service names none.
    let mut networks = file.networks;
    let needs_default = file.services.values().any(|s| s.networks.is_none());
    if needs_default {
        networks.entry("default".into()).or_default();
    }
    for (key, net) in networks {
        let path = format!("networks.{key}");
        if let Some(name) = external_name(&net.external, net.name.as_deref(), &key, &path)? {
            names.networks.insert(key, name.clone());
            out.external_networks.push(name);
            continue;
        }
        let name = net.name.clone().unwrap_or_else(|| format!("{ns}_{key}"));
        let driver = net.driver.clone().unwrap_or_else(|| "overlay".into());
        if driver != "overlay" {
            return Err(invalid(
                format!("{path}.driver"),
                format!("driver {driver:?} is not supported; stacks make overlay networks"),
            ));
        }
        let mut ipam = Vec::new();
        if let Some(i) = &net.ipam {
            if let Some(d) = i.driver.as_deref().filter(|d| *d != "default") {
                return Err(invalid(
                    format!("{path}.ipam.driver"),
                    format!("IPAM driver {d:?} is not supported"),
                ));
            }
            for entry in &i.config {
                ipam.push(IpamConfig {
                    subnet: entry.subnet.clone().unwrap_or_default(),
                    ip_range: entry.ip_range.clone().unwrap_or_default(),
                    gateway: entry.gateway.clone().unwrap_or_default(),
                    aux_addresses: BTreeMap::new(),
                });
            }
        }
        out.networks.push(NetworkSpec {
            name: name.clone(),
            labels: labels(&net.labels.0, ns),
            driver,
            options: net
                .driver_opts
                .0
                .iter()
                .map(|(k, v)| (k.clone(), v.clone().unwrap_or_default()))
                .collect(),
            attachable: net.attachable.is_some_and(|f| f.0),
            internal: net.internal.is_some_and(|f| f.0),
            ingress: false,
            ipam,
        });
        names.networks.insert(key, name);
    }

    for (key, payload) in file.secrets {
        let path = format!("secrets.{key}");
        match made(&payload, &key, &path, ns, options, vars, MAX_SECRET)? {
            Made::External(name) => {
                names.secrets.insert(key, name.clone());
                out.external_secrets.push(name);
            }
            Made::New { name, labels, data } => {
                names.secrets.insert(key, name.clone());
                out.secrets.push(SecretSpec { name, labels, data });
            }
        }
    }
    for (key, payload) in file.configs {
        let path = format!("configs.{key}");
        match made(&payload, &key, &path, ns, options, vars, MAX_CONFIG)? {
            Made::External(name) => {
                names.configs.insert(key, name.clone());
                out.external_configs.push(name);
            }
            Made::New { name, labels, data } => {
                names.configs.insert(key, name.clone());
                out.configs.push(ConfigSpec { name, labels, data });
            }
        }
    }
    for (key, volume) in file.volumes {
        let path = format!("volumes.{key}");
        warn_rest(&path, &volume.rest, &mut warnings);
        let named = match external_name(&volume.external, volume.name.as_deref(), &key, &path)? {
            // Made elsewhere: mounts carry no options for it (as `docker stack deploy`).
            Some(name) => service::NamedVolume { name, options: None },
            None => service::NamedVolume {
                name: volume.name.clone().unwrap_or_else(|| format!("{ns}_{key}")),
                options: Some(volume_options(&volume, ns)),
            },
        };
        names.volumes.insert(key, named);
    }

    let mut deps = BTreeMap::new();
    let mut services = BTreeMap::new();
    for (key, svc) in file.services {
        let built = service::build(&key, svc, ns, &names, options, vars, &mut warnings)?;
        deps.insert(
            key.clone(),
            built.depends_on.iter().map(|d| d.0.clone()).collect::<Vec<_>>(),
        );
        services.insert(key, built);
    }
    check_health_dependencies(&services)?;
    for key in dependency_order(&deps)? {
        let Some(built) = services.remove(&key) else {
            continue;
        };
        out.services.push(built.into_stack_service(ns));
    }
    out.warnings = warnings;
    Ok(out)
}

/// Conditions a dependency can never meet, which would wait forever: `service_healthy` on a
/// service without a health check, `service_completed_successfully` on one whose tasks are
/// started again whenever they end (restart condition `any`, Swarm's default).
fn check_health_dependencies(services: &BTreeMap<String, service::Built>) -> Result<()> {
    for (key, s) in services {
        for (dep, condition) in &s.depends_on {
            let Some(target) = services.get(dep) else { continue };
            if *condition == crate::Condition::Healthy && !target.has_healthcheck() {
                return Err(invalid(
                    format!("services.{key}.depends_on.{dep}"),
                    format!("condition service_healthy, but service {dep:?} has no healthcheck"),
                ));
            }
            if *condition == crate::Condition::CompletedSuccessfully && !target.can_complete() {
                return Err(invalid(
                    format!("services.{key}.depends_on.{dep}"),
                    format!(
                        "condition service_completed_successfully, but service {dep:?} never completes: \
                         Swarm restarts its tasks on any exit (set its deploy.restart_policy.condition to \
                         none or on-failure, or make it a replicated-job)"
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// The `VolumeOptions` of every mount of a volume the stack makes: its labels with the stack's,
/// and its driver and options when given (nodes refuse all but a bare `local`, never drop them).
fn volume_options(v: &crate::model::Volume, ns: &str) -> Value {
    let mut options = serde_json::json!({ "Labels": labels(&v.labels.0, ns) });
    if v.driver.is_some() || v.driver_opts.is_some() {
        options["DriverConfig"] = serde_json::json!({
            "Name": v.driver.clone().unwrap_or_default(),
            "Options": v.driver_opts.clone().unwrap_or_default(),
        });
    }
    options
}

/// The stack label added to `labels`.
pub fn labels(given: &BTreeMap<String, Option<String>>, ns: &str) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = given
        .iter()
        .map(|(k, v)| (k.clone(), v.clone().unwrap_or_default()))
        .collect();
    out.insert(NAMESPACE_LABEL.into(), ns.into());
    out
}

/// The real name of an external object, or `None` when the stack makes it.
fn external_name(
    external: &Option<External>,
    name: Option<&str>,
    key: &str,
    path: &str,
) -> Result<Option<String>> {
    match external {
        None => Ok(None),
        Some(External::Flag(f)) if !f.0 => Ok(None),
        Some(External::Flag(_)) => Ok(Some(name.unwrap_or(key).to_string())),
        Some(External::Named { name: ext }) => match name {
            Some(n) if n != ext => Err(invalid(path, "external.name and name disagree")),
            _ => Ok(Some(ext.clone())),
        },
    }
}

enum Made {
    External(String),
    New {
        name: String,
        labels: BTreeMap<String, String>,
        data: SecretData,
    },
}

/// A secret's or config's name and payload.
fn made(
    p: &Payload,
    key: &str,
    path: &str,
    ns: &str,
    options: &Options,
    vars: &BTreeMap<String, String>,
    limit: usize,
) -> Result<Made> {
    if let Some(name) = external_name(&p.external, p.name.as_deref(), key, path)? {
        return Ok(Made::External(name));
    }
    if let Some(driver) = &p.template_driver {
        return Err(invalid(
            format!("{path}.template_driver"),
            format!("templating ({driver}) is not supported"),
        ));
    }
    let sources = [p.file.is_some(), p.environment.is_some(), p.content.is_some()];
    if sources.iter().filter(|s| **s).count() != 1 {
        return Err(invalid(
            path,
            "exactly one of file, environment, content or external is needed",
        ));
    }
    let data = if let Some(file) = &p.file {
        read_bounded(&options.dir.join(file), limit)?
    } else if let Some(var) = &p.environment {
        vars.get(var)
            .ok_or_else(|| {
                invalid(
                    format!("{path}.environment"),
                    format!("variable {var} is not set"),
                )
            })?
            .clone()
            .into_bytes()
    } else {
        p.content.clone().unwrap_or_default().into_bytes()
    };
    if data.len() > limit {
        return Err(invalid(path, format!("larger than {limit} bytes")));
    }
    Ok(Made::New {
        name: p.name.clone().unwrap_or_else(|| format!("{ns}_{key}")),
        labels: labels(&p.labels.0, ns),
        data: SecretData(data),
    })
}

/// Warnings for the keys collected by a struct's `rest` (other than `x-` ones).
pub fn warn_rest(path: &str, rest: &BTreeMap<String, Value>, warnings: &mut Vec<String>) {
    let mut seen = BTreeSet::new();
    for k in rest.keys().filter(|k| !k.starts_with("x-")) {
        if seen.insert(k) {
            warnings.push(ignored_warning(&format!("{path}.{k}")));
        }
    }
}
