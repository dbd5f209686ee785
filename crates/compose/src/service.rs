//! One compose service → a `types::ServiceSpec`, as the docker CLI's stack deploy converts
//! it: `entrypoint` is the container's command and `command` its arguments, the service's
//! key an alias on each of its networks, secrets under `/run/secrets/<key>` and configs at
//! `/<key>` unless given a target, mode 0444 and uid/gid 0 by default. Docker fields shoal
//! keeps as JSON (mounts, secrets, configs, init, capabilities, sysctls, hosts, DNS) go in
//! `ContainerSpec.extra` in Docker's shapes, where the daemon reads them.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use types::service::{
    ContainerSpec, Driver, EndpointSpec, HealthConfig, NetworkAttachment, ServiceSpec, TaskSpec,
};

use crate::convert::{labels, warn_rest};
use crate::deploy::{mode, placement, resources, restart, update};
use crate::env_file;
use crate::error::{Result, invalid};
use crate::model::{DependsOn, FileRef, Healthcheck, Service, ServiceNetworks, VolumeMount};
use crate::ports::ports;
use crate::stack::{Condition, Dependency, StackService};
use crate::{IMAGE_LABEL, Options, read_bounded};

/// Keys of the file's top-level objects → the names they have in the cluster.
#[derive(Debug, Default)]
pub struct Names {
    /// Networks.
    pub networks: BTreeMap<String, String>,
    /// Secrets.
    pub secrets: BTreeMap<String, String>,
    /// Configs.
    pub configs: BTreeMap<String, String>,
    /// Named volumes.
    pub volumes: BTreeMap<String, NamedVolume>,
}

/// A named volume as its mounts name it.
#[derive(Debug, Clone, Default)]
pub struct NamedVolume {
    /// Its real name.
    pub name: String,
    /// The mounts' `VolumeOptions` (labels, driver) when the stack makes it.
    pub options: Option<Value>,
}

/// A converted service and the keys of the services it waits for.
#[derive(Debug)]
pub struct Built {
    key: String,
    spec: ServiceSpec,
    /// (service key, condition).
    pub depends_on: Vec<(String, Condition)>,
}

impl Built {
    /// Whether the file gives it a health check (what `service_healthy` waits for).
    pub fn has_healthcheck(&self) -> bool {
        self.spec
            .task
            .container
            .healthcheck
            .as_ref()
            .is_some_and(|h| h.test.first().is_some_and(|t| t != "NONE"))
    }

    /// Whether its tasks can end for good with exit 0: a job, or a service whose restart
    /// condition is `none` or `on-failure` (with `any`, Swarm starts every ended task again).
    pub fn can_complete(&self) -> bool {
        matches!(
            self.spec.mode,
            types::service::ServiceMode::ReplicatedJob { .. } | types::service::ServiceMode::GlobalJob
        ) || self.spec.task.restart.condition != types::service::RestartCondition::Any
    }

    /// The stack's view of it, dependencies named as in the cluster.
    pub fn into_stack_service(self, ns: &str) -> StackService {
        StackService {
            depends_on: self
                .depends_on
                .into_iter()
                .map(|(key, condition)| Dependency {
                    service: format!("{ns}_{key}"),
                    condition,
                })
                .collect(),
            key: self.key,
            spec: self.spec,
        }
    }
}

/// Builds service `key`.
pub fn build(
    key: &str,
    svc: Service,
    ns: &str,
    names: &Names,
    options: &Options,
    vars: &BTreeMap<String, String>,
    warnings: &mut Vec<String>,
) -> Result<Built> {
    let path = format!("services.{key}");
    let image = svc
        .image
        .clone()
        .filter(|i| !i.is_empty())
        .ok_or_else(|| invalid(&path, "an image is needed (stacks do not build images)"))?;
    let mut extra = Map::new();

    let env = environment(&svc, &path, options, vars)?;
    let container = ContainerSpec {
        image: image.clone(),
        labels: labels(&svc.labels.0, ns),
        command: svc.entrypoint.map(|w| w.0).unwrap_or_default(),
        args: svc.command.map(|w| w.0).unwrap_or_default(),
        hostname: svc.hostname.unwrap_or_default(),
        env,
        dir: svc.working_dir.unwrap_or_default(),
        user: svc.user.unwrap_or_default(),
        stop_signal: svc.stop_signal.unwrap_or_default(),
        stop_grace_period: svc.stop_grace_period.map(|n| n.0),
        healthcheck: svc.healthcheck.map(|h| healthcheck(h, &path)).transpose()?,
        tty: svc.tty.is_some_and(|f| f.0),
        open_stdin: svc.stdin_open.is_some_and(|f| f.0),
        extra: String::new(),
    };

    let secrets = file_refs(
        &svc.secrets,
        &names.secrets,
        &format!("{path}.secrets"),
        "secret",
        warnings,
    )?;
    if !secrets.is_empty() {
        extra.insert("Secrets".into(), Value::Array(secrets));
    }
    let configs = file_refs(
        &svc.configs,
        &names.configs,
        &format!("{path}.configs"),
        "config",
        warnings,
    )?;
    if !configs.is_empty() {
        extra.insert("Configs".into(), Value::Array(configs));
    }
    let mounts = mounts(
        &svc.volumes,
        &names.volumes,
        &format!("{path}.volumes"),
        options,
        warnings,
    )?;
    if !mounts.is_empty() {
        extra.insert("Mounts".into(), Value::Array(mounts));
    }
    if let Some(init) = svc.init {
        extra.insert("Init".into(), json!(init.0));
    }
    if svc.read_only.is_some_and(|f| f.0) {
        extra.insert("ReadOnly".into(), json!(true));
    }
    if !svc.cap_add.is_empty() {
        extra.insert("CapabilityAdd".into(), json!(svc.cap_add));
    }
    if !svc.cap_drop.is_empty() {
        extra.insert("CapabilityDrop".into(), json!(svc.cap_drop));
    }
    if !svc.sysctls.0.is_empty() {
        let map: BTreeMap<&String, String> = svc
            .sysctls
            .0
            .iter()
            .map(|(k, v)| (k, v.clone().unwrap_or_default()))
            .collect();
        extra.insert("Sysctls".into(), json!(map));
    }
    if !svc.extra_hosts.0.is_empty() {
        extra.insert("Hosts".into(), json!(hosts(&svc.extra_hosts.0, &path)?));
    }
    if !svc.dns.0.is_empty() || !svc.dns_search.0.is_empty() {
        extra.insert(
            "DNSConfig".into(),
            json!({"Nameservers": svc.dns.0, "Search": svc.dns_search.0}),
        );
    }
    let mut container = container;
    if !extra.is_empty() {
        container.extra = Value::Object(extra).to_string();
    }

    let networks = attachments(key, svc.networks, &names.networks, &path, warnings)?;
    let deploy = svc.deploy.unwrap_or_default();
    let dpath = format!("{path}.deploy");
    let mode = mode(&deploy, &dpath)?;
    let mut service_labels = labels(&deploy.labels.0, ns);
    service_labels.insert(IMAGE_LABEL.into(), image);
    let ports = svc
        .ports
        .iter()
        .map(|p| ports(p, &format!("{path}.ports"), warnings))
        .collect::<Result<Vec<_>>>()?
        .concat();
    let endpoint = (!ports.is_empty() || deploy.endpoint_mode.is_some()).then(|| EndpointSpec {
        mode: deploy.endpoint_mode.clone().unwrap_or_else(|| "vip".into()),
        ports,
    });

    let task = TaskSpec {
        container,
        resources: resources(&deploy),
        restart: restart(&deploy, &dpath)?,
        placement: placement(&deploy, &dpath)?,
        networks,
        log_driver: svc.logging.and_then(|l| {
            l.driver.map(|name| Driver {
                name,
                options: l
                    .options
                    .0
                    .into_iter()
                    .map(|(k, v)| (k, v.unwrap_or_default()))
                    .collect(),
            })
        }),
        ..Default::default()
    };
    let spec = ServiceSpec {
        name: format!("{ns}_{key}"),
        labels: service_labels,
        task: task.into(),
        mode,
        update: deploy
            .update_config
            .as_ref()
            .map(|u| update(u, &format!("{dpath}.update_config")))
            .transpose()?,
        rollback: deploy
            .rollback_config
            .as_ref()
            .map(|u| update(u, &format!("{dpath}.rollback_config")))
            .transpose()?,
        endpoint,
    };
    Ok(Built {
        key: key.to_string(),
        spec,
        depends_on: depends_on(svc.depends_on, &path, warnings)?,
    })
}

/// `env_file`s in order, then `environment`; a key without a value takes the variable's.
fn environment(
    svc: &Service,
    path: &str,
    options: &Options,
    vars: &BTreeMap<String, String>,
) -> Result<Vec<String>> {
    let mut env: BTreeMap<String, Option<String>> = BTreeMap::new();
    for file in &svc.env_file.0 {
        let full = options.dir.join(file);
        let text = read_bounded(&full, env_file::MAX_LEN)?;
        let parsed = env_file::parse(&String::from_utf8_lossy(&text), &full.display().to_string())?;
        env.extend(parsed.into_iter().map(|(k, v)| (k, Some(v))));
    }
    env.extend(svc.environment.0.clone());
    let _ = path;
    Ok(env
        .into_iter()
        .map(|(k, v)| match v.or_else(|| vars.get(&k).cloned()) {
            Some(v) => format!("{k}={v}"),
            None => k,
        })
        .collect())
}

fn healthcheck(h: Healthcheck, path: &str) -> Result<HealthConfig> {
    let path = format!("{path}.healthcheck");
    let test = if h.disable.is_some_and(|f| f.0) {
        vec!["NONE".to_string()]
    } else {
        match h.test {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(s)) => vec!["CMD-SHELL".to_string(), s],
            Some(Value::Array(items)) => items
                .iter()
                .map(|i| i.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| invalid(format!("{path}.test"), "expected a list of strings"))?,
            Some(other) => {
                return Err(invalid(
                    format!("{path}.test"),
                    format!("expected a string or a list, found {other}"),
                ));
            }
        }
    };
    Ok(HealthConfig {
        test,
        interval: h.interval.map_or(0, |n| n.0),
        timeout: h.timeout.map_or(0, |n| n.0),
        retries: h.retries.map_or(0, |n| n.0),
        start_period: h.start_period.map_or(0, |n| n.0),
        start_interval: h.start_interval.map_or(0, |n| n.0),
    })
}

/// Secret or config references in Docker's JSON (`SecretName`/`ConfigName` + `File`).
fn file_refs(
    refs: &[FileRef],
    names: &BTreeMap<String, String>,
    path: &str,
    what: &str,
    warnings: &mut Vec<String>,
) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    for (i, r) in refs.iter().enumerate() {
        let (source, target, uid, gid, mode) = match r {
            FileRef::Short(s) => (s.as_str(), None, None, None, None),
            FileRef::Long(l) => {
                warn_rest(&format!("{path}[{i}]"), &l.rest, warnings);
                (
                    l.source.as_str(),
                    l.target.clone(),
                    l.uid.clone(),
                    l.gid.clone(),
                    l.mode.map(|m| m.0),
                )
            }
        };
        let name = names
            .get(source)
            .ok_or_else(|| invalid(format!("{path}[{i}]"), format!("undefined {what} {source:?}")))?;
        let target = target.unwrap_or_else(|| {
            if what == "config" {
                format!("/{source}")
            } else {
                source.to_string()
            }
        });
        let mode = mode.unwrap_or(0o444);
        if mode > 0o7777 {
            return Err(invalid(
                format!("{path}[{i}].mode"),
                format!("mode {mode:o} is not a file mode"),
            ));
        }
        let file = json!({
            "Name": target,
            "UID": uid.unwrap_or_else(|| "0".into()),
            "GID": gid.unwrap_or_else(|| "0".into()),
            "Mode": mode,
        });
        out.push(if what == "config" {
            json!({"File": file, "ConfigName": name})
        } else {
            json!({"File": file, "SecretName": name})
        });
    }
    Ok(out)
}

/// Mounts in Docker's JSON.
fn mounts(
    volumes: &[VolumeMount],
    named: &BTreeMap<String, NamedVolume>,
    path: &str,
    options: &Options,
    warnings: &mut Vec<String>,
) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    for (i, v) in volumes.iter().enumerate() {
        let at = format!("{path}[{i}]");
        // The mount's type, source, and a volume's options.
        let source_of = |src: &str| -> Result<(&'static str, String, Option<Value>)> {
            if src.starts_with('/') || src.starts_with('.') {
                let full = options.dir.join(src);
                Ok(("bind", full.display().to_string(), None))
            } else if src.starts_with('~') {
                Err(invalid(
                    &at,
                    "a path starting with ~ is not supported; give an absolute path",
                ))
            } else {
                let volume = named
                    .get(src)
                    .ok_or_else(|| invalid(&at, format!("undefined volume {src:?}")))?;
                Ok(("volume", volume.name.clone(), volume.options.clone()))
            }
        };
        let mount = match v {
            VolumeMount::Short(s) => {
                let parts: Vec<&str> = s.split(':').collect();
                match parts.as_slice() {
                    [target] => json!({"Type": "volume", "Target": target}),
                    [src, target] | [src, target, _] => {
                        let read_only = match parts.get(2) {
                            None | Some(&"rw") => false,
                            Some(&"ro") => true,
                            Some(other) => {
                                return Err(invalid(
                                    &at,
                                    format!("mount option {other:?} is not supported (ro or rw)"),
                                ));
                            }
                        };
                        let (kind, source, volume) = source_of(src)?;
                        let mut m =
                            json!({"Type": kind, "Source": source, "Target": target, "ReadOnly": read_only});
                        if let Some(volume) = volume {
                            m["VolumeOptions"] = volume;
                        }
                        m
                    }
                    _ => {
                        return Err(invalid(
                            &at,
                            format!("expected [source:]target[:ro], found {s:?}"),
                        ));
                    }
                }
            }
            VolumeMount::Long(l) => {
                warn_rest(&at, &l.rest, warnings);
                let read_only = l.read_only.is_some_and(|f| f.0);
                match l.kind.as_str() {
                    "tmpfs" => {
                        let mut m = json!({"Type": "tmpfs", "Target": l.target, "ReadOnly": read_only});
                        if let Some(t) = &l.tmpfs {
                            warn_rest(&format!("{at}.tmpfs"), &t.rest, warnings);
                            if let Some(size) = t.size {
                                m["TmpfsOptions"] = json!({"SizeBytes": size.0});
                            }
                        }
                        m
                    }
                    "bind" | "volume" => {
                        let nocopy = match &l.volume {
                            Some(v) if l.kind == "volume" => {
                                warn_rest(&format!("{at}.volume"), &v.rest, warnings);
                                v.nocopy.as_ref().is_some_and(|f| f.0)
                            }
                            Some(_) => return Err(invalid(&at, "volume options on a bind mount")),
                            None => false,
                        };
                        let (kind, source, volume) = match &l.source {
                            None if l.kind == "volume" => ("volume", None, None),
                            None => return Err(invalid(&at, "a bind mount needs a source")),
                            Some(src) => {
                                let (kind, source, volume) = source_of(src)?;
                                if kind != l.kind {
                                    return Err(invalid(
                                        &at,
                                        format!("source {src:?} does not fit type {}", l.kind),
                                    ));
                                }
                                (kind, Some(source), volume)
                            }
                        };
                        let mut m = json!({"Type": kind, "Target": l.target, "ReadOnly": read_only});
                        if let Some(source) = source {
                            m["Source"] = source.into();
                        }
                        if kind == "volume" && (volume.is_some() || nocopy) {
                            let mut v = volume.unwrap_or_else(|| json!({}));
                            if nocopy {
                                v["NoCopy"] = true.into();
                            }
                            m["VolumeOptions"] = v;
                        }
                        m
                    }
                    other => {
                        return Err(invalid(
                            &at,
                            format!("mount type {other:?} is not supported (bind, volume or tmpfs)"),
                        ));
                    }
                }
            }
        };
        out.push(mount);
    }
    Ok(out)
}

/// `extra_hosts` as Docker's `Hosts` lines (`IP host`).
fn hosts(given: &BTreeMap<String, Option<String>>, path: &str) -> Result<Vec<String>> {
    given
        .iter()
        .map(|(k, v)| {
            let (host, ip) = match v {
                Some(ip) => (k.as_str(), ip.as_str()),
                None => k.split_once(':').ok_or_else(|| {
                    invalid(
                        format!("{path}.extra_hosts"),
                        format!("expected host:ip, found {k:?}"),
                    )
                })?,
            };
            Ok(format!("{ip} {host}"))
        })
        .collect()
}

fn attachments(
    key: &str,
    given: Option<ServiceNetworks>,
    names: &BTreeMap<String, String>,
    path: &str,
    warnings: &mut Vec<String>,
) -> Result<Vec<NetworkAttachment>> {
    let list: Vec<(String, Vec<String>)> = match given {
        None => vec![("default".into(), Vec::new())],
        Some(ServiceNetworks::List(l)) => l.into_iter().map(|n| (n, Vec::new())).collect(),
        Some(ServiceNetworks::Map(m)) => m
            .into_iter()
            .map(|(n, opts)| {
                let opts = opts.unwrap_or_default();
                warn_rest(&format!("{path}.networks.{n}"), &opts.rest, warnings);
                (n, opts.aliases)
            })
            .collect(),
    };
    list.into_iter()
        .map(|(net, mut aliases)| {
            let target = names
                .get(&net)
                .ok_or_else(|| invalid(format!("{path}.networks"), format!("undefined network {net:?}")))?;
            aliases.push(key.to_string());
            Ok(NetworkAttachment {
                target: target.clone(),
                aliases,
                driver_opts: BTreeMap::new(),
            })
        })
        .collect()
}

fn depends_on(
    d: Option<DependsOn>,
    path: &str,
    warnings: &mut Vec<String>,
) -> Result<Vec<(String, Condition)>> {
    let Some(d) = d else { return Ok(Vec::new()) };
    match d {
        DependsOn::List(l) => Ok(l.into_iter().map(|s| (s, Condition::Started)).collect()),
        DependsOn::Map(m) => m
            .into_iter()
            .map(|(s, dep)| {
                let at = format!("{path}.depends_on.{s}");
                warn_rest(&at, &dep.rest, warnings);
                let condition = match dep.condition.as_deref().unwrap_or("service_started") {
                    "service_started" => Condition::Started,
                    "service_healthy" => Condition::Healthy,
                    "service_completed_successfully" => Condition::CompletedSuccessfully,
                    other => {
                        return Err(invalid(
                            format!("{at}.condition"),
                            format!(
                                "condition {other:?} is not supported (service_started, service_healthy or service_completed_successfully)"
                            ),
                        ));
                    }
                };
                Ok((s, condition))
            })
            .collect(),
    }
}
