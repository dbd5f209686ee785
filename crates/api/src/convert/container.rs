//! Task containers into Docker's container JSON (`docker ps`, `inspect`, `stats`), and the
//! container rules of dockerd the edge applies itself: name/ID resolution and `ps` filters.

use std::collections::BTreeMap;

use serde_json::Value;
use types::Timestamp;

use super::filters::{FilterArgs, parse, validate};
use super::time::rfc3339;
use crate::containers::{ContainerStats, ContainerStatus, ContainerView};
use crate::error::{Error, Result};
use crate::model::container as model;

/// Go's zero time, which dockerd shows for a start or exit that has not happened.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// `docker ps` filter keys shoal applies.
const FILTER_KEYS: &[&str] = &[
    "id", "name", "label", "status", "ancestor", "before", "since", "exited", "health", "is-task",
];

/// Filter keys dockerd has that need networks, volumes or ports shoal's task containers do
/// not have yet: refused by name rather than ignored.
const UNSUPPORTED_FILTER_KEYS: &[&str] = &["network", "volume", "publish", "expose", "isolation"];

/// dockerd's container states, as the `status` filter accepts them.
const STATUSES: &[&str] = &[
    "created",
    "restarting",
    "running",
    "removing",
    "paused",
    "exited",
    "dead",
];

/// The container `key` names, by dockerd's rules: the full ID, then the name (with or
/// without the leading slash), then a unique ID prefix.
pub fn resolve<'a>(views: &'a [ContainerView], key: &str) -> Result<&'a ContainerView> {
    // A task ID does not name its container, as in dockerd: `docker inspect <task id>` tries
    // containers first and must fall through to the task.
    if let Some(v) = views.iter().find(|v| v.id == key) {
        return Ok(v);
    }
    let name = key.strip_prefix('/').unwrap_or(key);
    if let Some(v) = views.iter().find(|v| v.name() == name) {
        return Ok(v);
    }
    let mut matches = views.iter().filter(|v| !key.is_empty() && v.id.starts_with(key));
    match (matches.next(), matches.next()) {
        (Some(v), None) => Ok(v),
        (Some(_), Some(_)) => Err(Error::Backend(rules::Error::InvalidArgument(format!(
            "multiple IDs found with provided prefix: {key}"
        )))),
        _ => Err(no_such_container(key)),
    }
}

/// dockerd's 404 for a container it does not have.
pub fn no_such_container(key: &str) -> Error {
    Error::Backend(rules::Error::NotFound(format!(
        "No such container: {}",
        types::excerpt(key)
    )))
}

/// The query of `GET /containers/json`, parsed.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// `all`: stopped containers too.
    pub all: bool,
    /// `limit`: the newest N (implies all).
    pub limit: Option<usize>,
    /// `filters`.
    pub filters: FilterArgs,
}

/// Parses the filters of `GET /containers/json` with dockerd's checks and messages.
pub fn list_filters(text: &str) -> Result<FilterArgs> {
    let args = parse(text)?;
    if let Some(key) = args
        .keys()
        .find(|k| UNSUPPORTED_FILTER_KEYS.contains(&k.as_str()))
    {
        return Err(Error::Backend(rules::Error::Unimplemented(format!(
            "the container filter '{key}' is not supported by shoal (task containers have no networks, volumes or published ports of their own yet)"
        ))));
    }
    validate(&args, FILTER_KEYS)?;
    for value in args.get("status").into_iter().flatten() {
        if !STATUSES.contains(&value.as_str()) {
            return Err(Error::BadRequest(format!("invalid filter 'status={value}'")));
        }
    }
    for value in args.get("health").into_iter().flatten() {
        if !matches!(value.as_str(), "starting" | "healthy" | "unhealthy" | "none") {
            return Err(Error::BadRequest(format!(
                "Unrecognised filter value for health: {value}"
            )));
        }
    }
    for value in args.get("exited").into_iter().flatten() {
        if value.parse::<i64>().is_err() {
            return Err(Error::BadRequest(format!("invalid filter 'exited={value}'")));
        }
    }
    for value in args.get("is-task").into_iter().flatten() {
        if !matches!(value.as_str(), "true" | "false") {
            return Err(Error::BadRequest(format!("Invalid filter 'is-task={value}'")));
        }
    }
    Ok(args)
}

/// The containers `GET /containers/json` lists, newest first, as dockerd selects them.
pub fn select(mut views: Vec<ContainerView>, query: &ListQuery) -> Result<Vec<ContainerView>> {
    let f = &query.filters;
    let created_of = |key: &str| resolve(&views, key).map(|v| (v.task.meta.created_at, v.id.clone()));
    let before: Vec<(Timestamp, String)> = f
        .get("before")
        .into_iter()
        .flatten()
        .map(|k| created_of(k))
        .collect::<Result<_>>()?;
    let since: Vec<(Timestamp, String)> = f
        .get("since")
        .into_iter()
        .flatten()
        .map(|k| created_of(k))
        .collect::<Result<_>>()?;
    // As dockerd: stopped containers are listed with -a, a limit, before/since or a status.
    let all = query.all
        || query.limit.is_some()
        || !before.is_empty()
        || !since.is_empty()
        || f.contains_key("status")
        || f.contains_key("exited");
    views.retain(|v| {
        (all || v.status == ContainerStatus::Running)
            && any_or_empty(f, "id", |id| v.id.starts_with(id))
            && any_or_empty(f, "name", |n| name_matches(n, &v.name()))
            && all_labels(f, &labels(v))
            && any_or_empty(f, "status", |s| s == v.status.as_str())
            && any_or_empty(f, "ancestor", |a| ancestor_matches(a, v))
            && any_or_empty(f, "exited", |e| {
                v.status == ContainerStatus::Exited && e.parse::<i64>().ok() == Some(v.exit_code)
            })
            && any_or_empty(f, "health", |h| h == v.health.as_deref().unwrap_or("none"))
            && any_or_empty(f, "is-task", |t| t == "true")
            && before
                .iter()
                .all(|(at, id)| v.task.meta.created_at < *at && v.id != *id)
            && since
                .iter()
                .all(|(at, id)| v.task.meta.created_at > *at && v.id != *id)
    });
    views.sort_by(|a, b| {
        b.task
            .meta
            .created_at
            .cmp(&a.task.meta.created_at)
            .then_with(|| a.id.cmp(&b.id))
    });
    if let Some(n) = query.limit {
        views.truncate(n);
    }
    Ok(views)
}

fn any_or_empty(f: &FilterArgs, key: &str, pred: impl Fn(&str) -> bool) -> bool {
    match f.get(key) {
        None => true,
        Some(values) => values.is_empty() || values.iter().any(|v| pred(v)),
    }
}

fn all_labels(f: &FilterArgs, labels: &BTreeMap<String, String>) -> bool {
    f.get("label")
        .into_iter()
        .flatten()
        .all(|want| match want.split_once('=') {
            Some((k, v)) => labels.get(k).is_some_and(|have| have == v),
            None => labels.contains_key(want.as_str()),
        })
}

/// dockerd matches `name` as a regular expression against `/<name>`; shoal takes the common
/// forms: a substring, with `^` and `$` anchors.
fn name_matches(pattern: &str, name: &str) -> bool {
    let full = format!("/{name}");
    let (start, rest) = match pattern.strip_prefix('^') {
        Some(rest) => (true, rest),
        None => (false, pattern),
    };
    let (end, core) = match rest.strip_suffix('$') {
        Some(core) => (true, core),
        None => (false, rest),
    };
    let candidates = [full.as_str(), name];
    candidates.iter().any(|text| match (start, end) {
        (true, true) => *text == core,
        (true, false) => text.starts_with(core),
        (false, true) => text.ends_with(core),
        (false, false) => text.contains(core),
    })
}

/// `ancestor=`: the image as named, its repository (any tag), or its ID (or an ID prefix).
fn ancestor_matches(wanted: &str, v: &ContainerView) -> bool {
    let image = &v.task.spec.container.image;
    let without_digest = image.split('@').next().unwrap_or(image);
    let repo = match without_digest.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => repo,
        _ => without_digest,
    };
    let hex = wanted.strip_prefix("sha256:").unwrap_or(wanted);
    image == wanted
        || without_digest == wanted
        || repo == wanted
        || (!v.image_id.is_empty()
            && hex.len() >= 4
            && v.image_id
                .strip_prefix("sha256:")
                .unwrap_or(&v.image_id)
                .starts_with(hex))
}

/// The labels Swarm gives a task's container: the ContainerSpec's, then its own.
pub fn labels(v: &ContainerView) -> BTreeMap<String, String> {
    let t = &v.task;
    let mut labels = t.spec.container.labels.clone();
    // A standalone container (`docker run`) has only the labels it was created with.
    if crate::containers::is_standalone(t) {
        return labels;
    }
    for (k, value) in [
        ("com.docker.swarm.node.id", t.node_id.clone()),
        ("com.docker.swarm.service.id", t.service_id.clone()),
        ("com.docker.swarm.service.name", t.service_name.clone()),
        ("com.docker.swarm.task", String::new()),
        ("com.docker.swarm.task.id", t.id.clone()),
        ("com.docker.swarm.task.name", t.name()),
    ] {
        labels.insert(k.to_owned(), value);
    }
    labels
}

/// One line of `docker ps`.
pub fn summary(v: &ContainerView) -> model::ContainerSummary {
    model::ContainerSummary {
        id: v.id.clone(),
        names: vec![format!("/{}", v.name())],
        image: v.task.spec.container.image.clone(),
        image_id: v.image_id.clone(),
        command: v.argv.join(" "),
        created: v.task.meta.created_at.parts().0,
        ports: Vec::new(),
        labels: labels(v),
        state: v.status.as_str().to_owned(),
        status: status_text(v),
        host_config: model::SummaryHostConfig {
            network_mode: "default".into(),
        },
        network_settings: model::SummaryNetworks::default(),
        mounts: mounts(v),
        size_rw: None,
        size_root_fs: None,
    }
}

/// dockerd's `Status` column: `Up 5 minutes (healthy)`, `Exited (0) 3 seconds ago`, `Created`.
pub fn status_text(v: &ContainerView) -> String {
    let since = |at: Option<Timestamp>| {
        let nanos = at.map(|at| v.read_at.0.saturating_sub(at.0)).unwrap_or(0);
        human_duration(nanos.max(0) / 1_000_000_000)
    };
    match v.status {
        ContainerStatus::Created => "Created".into(),
        ContainerStatus::Running => {
            let health = match v.health.as_deref() {
                Some("starting") => " (health: starting)",
                Some("healthy") => " (healthy)",
                Some("unhealthy") => " (unhealthy)",
                _ => "",
            };
            format!("Up {}{health}", since(v.started_at))
        }
        ContainerStatus::Exited => format!("Exited ({}) {} ago", v.exit_code, since(v.finished_at)),
    }
}

/// Go's `units.HumanDuration` of a number of seconds.
pub fn human_duration(seconds: i64) -> String {
    let minutes = seconds / 60;
    // Hours round to the nearest, as Go's `int(d.Hours() + 0.5)`.
    let hours = (seconds + 1800) / 3600;
    match () {
        _ if seconds < 1 => "Less than a second".into(),
        _ if seconds == 1 => "1 second".into(),
        _ if seconds < 60 => format!("{seconds} seconds"),
        _ if minutes == 1 => "About a minute".into(),
        _ if minutes < 60 => format!("{minutes} minutes"),
        _ if hours == 1 => "About an hour".into(),
        _ if hours < 48 => format!("{hours} hours"),
        _ if hours < 24 * 7 * 2 => format!("{} days", hours / 24),
        _ if hours < 24 * 30 * 2 => format!("{} weeks", hours / 24 / 7),
        _ if hours < 24 * 365 * 2 => format!("{} months", hours / 24 / 30),
        _ => format!("{} years", seconds / 3600 / 24 / 365),
    }
}

/// The ContainerSpec fields kept as Docker JSON (`extra`), read for what inspect shows.
fn extra(v: &ContainerView) -> serde_json::Map<String, Value> {
    match serde_json::from_str::<Value>(&v.task.spec.container.extra) {
        Ok(Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    }
}

fn mounts(v: &ContainerView) -> Vec<model::MountPoint> {
    let extra = extra(v);
    let Some(Value::Array(list)) = extra.get("Mounts") else {
        return Vec::new();
    };
    list.iter()
        .map(|m| {
            let text = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
            let kind = match text("Type") {
                t if t.is_empty() => "volume".to_owned(),
                t => t,
            };
            let read_only = m.get("ReadOnly").and_then(Value::as_bool).unwrap_or(false);
            let source = text("Source");
            let (name, source) = if kind == "volume" {
                (source, String::new())
            } else {
                (String::new(), source)
            };
            model::MountPoint {
                driver: if kind == "volume" {
                    "local".into()
                } else {
                    String::new()
                },
                kind,
                name,
                source,
                destination: text("Target"),
                mode: if read_only { "ro".into() } else { String::new() },
                rw: !read_only,
                propagation: String::new(),
            }
        })
        .collect()
}

/// `GET /containers/{id}/json`.
pub fn inspect(v: &ContainerView) -> model::ContainerInspect {
    let c = &v.task.spec.container;
    let extra = extra(v);
    let time = |t: Option<Timestamp>| t.map(rfc3339).unwrap_or_else(|| ZERO_TIME.into());
    let limits = v.task.spec.resources.limits;
    let (path, args) = match v.argv.split_first() {
        Some((path, args)) => (path.clone(), args.to_vec()),
        None => (String::new(), Vec::new()),
    };
    let hostname = if c.hostname.is_empty() {
        v.task.id.chars().take(12).collect()
    } else {
        c.hostname.clone()
    };
    let binds: Vec<String> = mounts(v)
        .iter()
        .filter(|m| m.kind == "bind")
        .map(|m| match m.rw {
            true => format!("{}:{}", m.source, m.destination),
            false => format!("{}:{}:ro", m.source, m.destination),
        })
        .collect();
    model::ContainerInspect {
        id: v.id.clone(),
        created: rfc3339(v.task.meta.created_at),
        path,
        args,
        state: model::ContainerState {
            status: v.status.as_str().into(),
            running: v.status == ContainerStatus::Running,
            pid: v.pid,
            exit_code: v.exit_code,
            error: v.error.clone(),
            started_at: time(v.started_at),
            finished_at: time(v.finished_at),
            health: v.health.as_ref().map(|h| model::ContainerHealth {
                status: h.clone(),
                ..Default::default()
            }),
            ..Default::default()
        },
        image: v.image_id.clone(),
        name: format!("/{}", v.name()),
        driver: "overlay".into(),
        platform: "linux".into(),
        host_config: model::HostConfig {
            network_mode: "default".into(),
            restart_policy: model::RestartPolicy {
                name: "no".into(),
                maximum_retry_count: 0,
            },
            memory: limits.memory_bytes,
            nano_cpus: limits.nano_cpus,
            pids_limit: (limits.pids > 0).then_some(limits.pids),
            readonly_rootfs: extra.get("ReadOnly").and_then(Value::as_bool).unwrap_or(false),
            init: extra.get("Init").and_then(Value::as_bool),
            binds: (!binds.is_empty()).then_some(binds),
            log_config: model::LogConfig {
                kind: "json-file".into(),
                config: BTreeMap::new(),
            },
        },
        mounts: mounts(v),
        config: model::ContainerConfig {
            hostname,
            user: c.user.clone(),
            attach_stdout: true,
            attach_stderr: true,
            tty: c.tty,
            open_stdin: c.open_stdin,
            env: v.env.clone(),
            cmd: match (c.command.is_empty(), c.args.is_empty()) {
                (true, true) => Some(v.argv.clone()),
                (_, false) => Some(c.args.clone()),
                (false, true) => None,
            },
            image: c.image.clone(),
            working_dir: c.dir.clone(),
            entrypoint: (!c.command.is_empty()).then(|| c.command.clone()),
            labels: labels(v),
            stop_signal: (!c.stop_signal.is_empty()).then(|| c.stop_signal.clone()),
            stop_timeout: c.stop_grace_period.map(|n| n / 1_000_000_000),
            ..Default::default()
        },
        network_settings: model::NetworkSettings {
            networks: v
                .networks
                .iter()
                .map(|n| (n.name.clone(), endpoint_settings(n)))
                .collect(),
            ..Default::default()
        },
        ..Default::default()
    }
}

/// One entry of `NetworkSettings.Networks`, in dockerd's keys.
fn endpoint_settings(n: &crate::containers::ContainerNetwork) -> serde_json::Value {
    serde_json::json!({
        "IPAMConfig": null,
        "Links": null,
        "Aliases": n.aliases,
        "MacAddress": n.mac_address,
        "NetworkID": n.network_id,
        "EndpointID": n.endpoint_id,
        "Gateway": n.gateway.map(|g| g.to_string()).unwrap_or_default(),
        "IPAddress": n.ip_address.to_string(),
        "IPPrefixLen": n.prefix_len,
        "IPv6Gateway": "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "DriverOpts": null,
        "DNSNames": null,
    })
}

/// A stats sample in dockerd's JSON, with the previous sample (if any) as `precpu_stats`.
pub fn stats(v: &ContainerView, now: &ContainerStats, before: Option<&ContainerStats>) -> model::Stats {
    let cpu = |s: &ContainerStats| model::CpuStats {
        cpu_usage: model::CpuUsage {
            total_usage: s.cpu_total,
            ..Default::default()
        },
        system_cpu_usage: s.system_cpu,
        online_cpus: s.online_cpus,
        throttling_data: serde_json::json!({"periods": 0, "throttled_periods": 0, "throttled_time": 0}),
    };
    let mut memory = BTreeMap::new();
    memory.insert("inactive_file".to_owned(), now.memory_cache);
    model::Stats {
        name: format!("/{}", v.name()),
        id: v.id.clone(),
        read: rfc3339(now.read),
        preread: before
            .map(|b| rfc3339(b.read))
            .unwrap_or_else(|| ZERO_TIME.into()),
        pids_stats: model::PidsStats {
            current: now.pids,
            limit: (now.pids_limit > 0).then_some(now.pids_limit),
        },
        blkio_stats: serde_json::json!({"io_service_bytes_recursive": null}),
        num_procs: 0,
        storage_stats: serde_json::json!({}),
        cpu_stats: cpu(now),
        precpu_stats: before.map(cpu).unwrap_or_default(),
        memory_stats: model::MemoryStats {
            usage: now.memory_usage,
            limit: now.memory_limit,
            stats: memory,
        },
    }
}
