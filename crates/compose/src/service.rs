//! One compose service → a `types::ServiceSpec`, as the docker CLI's stack deploy converts
//! it: `entrypoint` is the container's command and `command` its arguments, the service's
//! key an alias on each of its networks, secrets under `/run/secrets/<key>` and configs at
//! `/<key>` unless given a target, mode 0444 and uid/gid 0 by default. Docker fields shoal
//! keeps as JSON (mounts, secrets, configs, init, capabilities, sysctls, hosts, DNS) go in
//! `ContainerSpec.extra` in Docker's shapes, where the daemon reads them.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use types::service::{
    ContainerSpec, Driver, EndpointSpec, FailureAction, HealthConfig, Limits, NetworkAttachment, Placement,
    PortConfig, Reservations, ResourceRequirements, RestartCondition, RestartPolicy, ServiceMode,
    ServiceSpec, TaskSpec, UpdateConfig, UpdateOrder,
};

use crate::convert::{labels, warn_rest};
use crate::env_file;
use crate::error::{Result, invalid};
use crate::model::{
    DependsOn, Deploy, DeployUpdate, FileRef, Healthcheck, Port, Service, ServiceNetworks, VolumeMount,
};
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
    pub volumes: BTreeMap<String, String>,
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
    named: &BTreeMap<String, String>,
    path: &str,
    options: &Options,
    warnings: &mut Vec<String>,
) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    for (i, v) in volumes.iter().enumerate() {
        let at = format!("{path}[{i}]");
        let source_of = |src: &str| -> Result<(&'static str, String)> {
            if src.starts_with('/') || src.starts_with('.') {
                let full = options.dir.join(src);
                Ok(("bind", full.display().to_string()))
            } else if src.starts_with('~') {
                Err(invalid(
                    &at,
                    "a path starting with ~ is not supported; give an absolute path",
                ))
            } else {
                let name = named
                    .get(src)
                    .ok_or_else(|| invalid(&at, format!("undefined volume {src:?}")))?;
                Ok(("volume", name.clone()))
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
                        let (kind, source) = source_of(src)?;
                        json!({"Type": kind, "Source": source, "Target": target, "ReadOnly": read_only})
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
                    "bind" | "volume" => match &l.source {
                        None if l.kind == "volume" => {
                            json!({"Type": "volume", "Target": l.target, "ReadOnly": read_only})
                        }
                        None => return Err(invalid(&at, "a bind mount needs a source")),
                        Some(src) => {
                            let (kind, source) = source_of(src)?;
                            if kind != l.kind {
                                return Err(invalid(
                                    &at,
                                    format!("source {src:?} does not fit type {}", l.kind),
                                ));
                            }
                            json!({"Type": kind, "Source": source, "Target": l.target, "ReadOnly": read_only})
                        }
                    },
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

fn mode(d: &Deploy, path: &str) -> Result<ServiceMode> {
    let replicas = d.replicas.map(|r| r.0);
    Ok(match d.mode.as_deref().unwrap_or("replicated") {
        "replicated" => ServiceMode::Replicated {
            replicas: replicas.unwrap_or(1),
        },
        "replicated-job" => ServiceMode::ReplicatedJob {
            max_concurrent: replicas.unwrap_or(1),
            total_completions: replicas.unwrap_or(1),
        },
        m @ ("global" | "global-job") => {
            if replicas.is_some() {
                return Err(invalid(
                    format!("{path}.replicas"),
                    "replicas can only be used with replicated mode",
                ));
            }
            if m == "global" {
                ServiceMode::Global
            } else {
                ServiceMode::GlobalJob
            }
        }
        other => {
            return Err(invalid(
                format!("{path}.mode"),
                format!("unknown mode {other:?} (replicated, global, replicated-job or global-job)"),
            ));
        }
    })
}

fn resources(d: &Deploy) -> ResourceRequirements {
    let Some(r) = &d.resources else {
        return ResourceRequirements::default();
    };
    let mut out = ResourceRequirements::default();
    if let Some(l) = &r.limits {
        out.limits = Limits {
            nano_cpus: l.cpus.map_or(0, |c| c.0),
            memory_bytes: l.memory.map_or(0, |m| m.0),
            pids: l.pids.map_or(0, |p| p.0 as i64),
        };
    }
    if let Some(l) = &r.reservations {
        out.reservations = Reservations {
            nano_cpus: l.cpus.map_or(0, |c| c.0),
            memory_bytes: l.memory.map_or(0, |m| m.0),
        };
    }
    out
}

fn restart(d: &Deploy, path: &str) -> Result<RestartPolicy> {
    let Some(r) = &d.restart_policy else {
        return Ok(RestartPolicy::default());
    };
    let condition = match r.condition.as_deref().unwrap_or("any") {
        "none" => RestartCondition::None,
        "on-failure" => RestartCondition::OnFailure,
        "any" => RestartCondition::Any,
        other => {
            return Err(invalid(
                format!("{path}.restart_policy.condition"),
                format!("unknown condition {other:?} (none, on-failure or any)"),
            ));
        }
    };
    Ok(RestartPolicy {
        condition,
        delay: r.delay.map(|n| n.0),
        max_attempts: r.max_attempts.map_or(0, |n| n.0),
        window: r.window.map(|n| n.0),
    })
}

fn placement(d: &Deploy, path: &str) -> Result<Placement> {
    let Some(p) = &d.placement else {
        return Ok(Placement::default());
    };
    let preferences = p
        .preferences
        .iter()
        .map(|pref| match (pref.get("spread"), pref.len()) {
            (Some(s), 1) => Ok(s.clone()),
            _ => Err(invalid(
                format!("{path}.placement.preferences"),
                "only {spread: <label>} preferences exist",
            )),
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Placement {
        constraints: p.constraints.0.clone(),
        preferences,
        max_replicas: p.max_replicas_per_node.map_or(0, |n| n.0),
        platforms: Vec::new(),
    })
}

fn update(u: &DeployUpdate, path: &str) -> Result<UpdateConfig> {
    let mut out = UpdateConfig::default();
    if let Some(p) = u.parallelism {
        out.parallelism = p.0;
    }
    if let Some(d) = u.delay {
        out.delay = d.0;
    }
    if let Some(m) = u.monitor {
        out.monitor = m.0;
    }
    if let Some(r) = u.max_failure_ratio {
        out.max_failure_ratio = r;
    }
    if let Some(a) = &u.failure_action {
        out.failure_action = match a.as_str() {
            "pause" => FailureAction::Pause,
            "continue" => FailureAction::Continue,
            "rollback" => FailureAction::Rollback,
            other => {
                return Err(invalid(
                    format!("{path}.failure_action"),
                    format!("unknown action {other:?} (pause, continue or rollback)"),
                ));
            }
        };
    }
    if let Some(o) = &u.order {
        out.order = match o.as_str() {
            "stop-first" => UpdateOrder::StopFirst,
            "start-first" => UpdateOrder::StartFirst,
            other => {
                return Err(invalid(
                    format!("{path}.order"),
                    format!("unknown order {other:?} (stop-first or start-first)"),
                ));
            }
        };
    }
    Ok(out)
}

/// One `ports:` entry (a short range gives several).
fn ports(p: &Port, path: &str, warnings: &mut Vec<String>) -> Result<Vec<PortConfig>> {
    match p {
        Port::Long(l) => {
            warn_rest(path, &l.rest, warnings);
            let target = l.target.ok_or_else(|| invalid(path, "a port needs a target"))?.0;
            let published = match &l.published {
                None | Some(Value::Null) => 0,
                Some(v) => number(v)
                    .ok_or_else(|| invalid(path, format!("published port {v} is not a port number")))?,
            };
            Ok(vec![PortConfig {
                name: l.name.clone().unwrap_or_default(),
                protocol: l.protocol.clone().unwrap_or_else(|| "tcp".into()),
                target_port: port_number(target, path)?,
                published_port: port_number(published, path)?,
                publish_mode: l.mode.clone().unwrap_or_else(|| "ingress".into()),
            }])
        }
        Port::Short(v) => {
            let text = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                other => return Err(invalid(path, format!("expected a port, found {other}"))),
            };
            short_port(&text, path)
        }
    }
}

fn number(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn port_number(n: u64, path: &str) -> Result<u32> {
    u16::try_from(n)
        .map(u32::from)
        .map_err(|_| invalid(path, format!("port {n} is out of range")))
}

/// `[published:]target[/protocol]`, either side a range `a-b`.
fn short_port(text: &str, path: &str) -> Result<Vec<PortConfig>> {
    let (spec, protocol) = text.split_once('/').unwrap_or((text, "tcp"));
    let parts: Vec<&str> = spec.split(':').collect();
    let (published, target) = match parts.as_slice() {
        [t] => (None, *t),
        [p, t] => (Some(*p), *t),
        _ => {
            return Err(invalid(
                path,
                format!(
                    "{text:?}: a host address is not supported by swarm services; use [published:]target[/protocol]"
                ),
            ));
        }
    };
    let range = |r: &str| -> Result<(u64, u64)> {
        let bad = || invalid(path, format!("{text:?}: {r:?} is not a port or a range"));
        let (a, b) = r.split_once('-').unwrap_or((r, r));
        let a: u64 = a.parse().map_err(|_| bad())?;
        let b: u64 = b.parse().map_err(|_| bad())?;
        if a > b { Err(bad()) } else { Ok((a, b)) }
    };
    let (t0, t1) = range(target)?;
    let published = published.map(range).transpose()?;
    if let Some((p0, p1)) = published
        && p1 - p0 != t1 - t0
    {
        return Err(invalid(
            path,
            format!("{text:?}: the published and target ranges differ in length"),
        ));
    }
    (0..=t1 - t0)
        .map(|i| {
            Ok(PortConfig {
                name: String::new(),
                protocol: protocol.to_string(),
                target_port: port_number(t0 + i, path)?,
                published_port: port_number(published.map_or(0, |(p0, _)| p0 + i), path)?,
                publish_mode: "ingress".into(),
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
                    other => {
                        return Err(invalid(
                            format!("{at}.condition"),
                            format!(
                                "condition {other:?} is not supported (service_started or service_healthy)"
                            ),
                        ));
                    }
                };
                Ok((s, condition))
            })
            .collect(),
    }
}
