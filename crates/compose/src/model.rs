//! The compose file as written: version 3.x and the compose spec's keys that a swarm
//! stack uses. Every struct takes what it knows; anything else is reported by the loader
//! as ignored (with a warning), and `x-` keys are allowed everywhere without one.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::values::{Bytes, Count, Cpus, Flag, Nanos, Pairs, Strings, Words};

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct File {
    /// `version:` ("3.8"); informational.
    pub version: Option<Value>,
    /// Project name (compose spec); a stack's name comes from the command line instead.
    pub name: Option<String>,
    /// Services by name.
    pub services: BTreeMap<String, Service>,
    /// Networks by key.
    pub networks: BTreeMap<String, Network>,
    /// Named volumes by key.
    pub volumes: BTreeMap<String, Volume>,
    /// Secrets by key.
    pub secrets: BTreeMap<String, Payload>,
    /// Configs by key.
    pub configs: BTreeMap<String, Payload>,
}

/// One service.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Service {
    /// Image reference.
    pub image: Option<String>,
    /// Arguments (the image's CMD replaced).
    pub command: Option<Words>,
    /// Entrypoint override.
    pub entrypoint: Option<Words>,
    /// Environment variables.
    pub environment: Pairs,
    /// Files of `KEY=VALUE` lines, relative to the compose file.
    pub env_file: Strings,
    /// Container labels.
    pub labels: Pairs,
    /// Host name inside the container.
    pub hostname: Option<String>,
    /// User.
    pub user: Option<String>,
    /// Working directory.
    pub working_dir: Option<String>,
    /// Stop signal.
    pub stop_signal: Option<String>,
    /// Grace before SIGKILL.
    pub stop_grace_period: Option<Nanos>,
    /// Health check.
    pub healthcheck: Option<Healthcheck>,
    /// Networks: a list of keys, or a map of keys to attachment options.
    pub networks: Option<ServiceNetworks>,
    /// Published ports.
    pub ports: Vec<Port>,
    /// Secrets given to the service.
    pub secrets: Vec<FileRef>,
    /// Configs given to the service.
    pub configs: Vec<FileRef>,
    /// Mounts.
    pub volumes: Vec<VolumeMount>,
    /// Services this one waits for (honoured by `shoal stack deploy`).
    pub depends_on: Option<DependsOn>,
    /// Swarm settings.
    pub deploy: Option<Deploy>,
    /// An init process in the container.
    pub init: Option<Flag>,
    /// TTY.
    pub tty: Option<Flag>,
    /// Keep stdin open.
    pub stdin_open: Option<Flag>,
    /// Read-only root filesystem.
    pub read_only: Option<Flag>,
    /// Capabilities added.
    pub cap_add: Vec<String>,
    /// Capabilities dropped.
    pub cap_drop: Vec<String>,
    /// Kernel parameters.
    pub sysctls: Pairs,
    /// Extra `/etc/hosts` lines (`host:ip` or `host=ip`).
    pub extra_hosts: Pairs,
    /// DNS servers.
    pub dns: Strings,
    /// DNS search domains.
    pub dns_search: Strings,
    /// Log driver.
    pub logging: Option<Logging>,
}

/// `healthcheck:`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Healthcheck {
    /// `["CMD", …]`, `["CMD-SHELL", "…"]`, `["NONE"]` or a shell string.
    pub test: Option<Value>,
    /// Between checks.
    pub interval: Option<Nanos>,
    /// One check's limit.
    pub timeout: Option<Nanos>,
    /// Failures before unhealthy.
    pub retries: Option<Count>,
    /// Grace at start.
    pub start_period: Option<Nanos>,
    /// Interval during the start period.
    pub start_interval: Option<Nanos>,
    /// No health check (the image's one disabled).
    pub disable: Option<Flag>,
}

/// A service's `networks:`.
#[derive(Debug)]
pub enum ServiceNetworks {
    /// `[back, front]`.
    List(Vec<String>),
    /// `{back: {aliases: [db]}, front: }`.
    Map(BTreeMap<String, Option<ServiceNetwork>>),
}

/// Options of one service network.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ServiceNetwork {
    /// DNS aliases on that network.
    pub aliases: Vec<String>,
    /// Keys not known here (reported as ignored).
    #[serde(flatten)]
    pub rest: BTreeMap<String, Value>,
}

/// A port: short (`"8080:80/udp"`, `80`) or long form.
#[derive(Debug)]
pub enum Port {
    /// Long form.
    Long(LongPort),
    /// Short form.
    Short(Value),
}

/// The long form of a port.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LongPort {
    /// Port inside the container.
    pub target: Option<Count>,
    /// Port on the nodes.
    pub published: Option<Value>,
    /// tcp, udp or sctp.
    pub protocol: Option<String>,
    /// ingress or host.
    pub mode: Option<String>,
    /// Name (compose spec).
    pub name: Option<String>,
    /// Keys not known here (reported as ignored).
    #[serde(flatten)]
    pub rest: BTreeMap<String, Value>,
}

/// A secret or config given to a service: its key alone, or long form.
#[derive(Debug)]
pub enum FileRef {
    /// Just the key: the file is named after it.
    Short(String),
    /// Long form.
    Long(LongFileRef),
}

/// The long form of a secret or config reference.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LongFileRef {
    /// The top-level key.
    pub source: String,
    /// File name (secrets: under /run/secrets) or path (configs).
    pub target: Option<String>,
    /// Owner uid.
    pub uid: Option<String>,
    /// Owner gid.
    pub gid: Option<String>,
    /// Mode bits (YAML reads `0440` as octal, as compose does).
    pub mode: Option<Count>,
    /// Keys not known here (reported as ignored).
    #[serde(flatten)]
    pub rest: BTreeMap<String, Value>,
}

/// A mount: short (`src:dst[:ro]`) or long form.
#[derive(Debug)]
pub enum VolumeMount {
    /// Short form.
    Short(String),
    /// Long form.
    Long(LongMount),
}

/// The long form of a mount.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LongMount {
    /// volume, bind or tmpfs.
    #[serde(rename = "type")]
    pub kind: String,
    /// Volume key or host path.
    pub source: Option<String>,
    /// Path in the container.
    pub target: String,
    /// Read-only.
    pub read_only: Option<Flag>,
    /// tmpfs options.
    pub tmpfs: Option<TmpfsOptions>,
    /// volume options.
    pub volume: Option<LongVolume>,
    /// Keys not known here (reported as ignored).
    #[serde(flatten)]
    pub rest: BTreeMap<String, Value>,
}

/// `volume:` of a long mount.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct LongVolume {
    /// No copy of the image's content into a new volume.
    pub nocopy: Option<Flag>,
    /// Keys not known here (reported as ignored).
    #[serde(flatten)]
    pub rest: BTreeMap<String, Value>,
}

/// `tmpfs:` of a long mount.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct TmpfsOptions {
    /// Size limit.
    pub size: Option<Bytes>,
    /// Keys not known here (reported as ignored).
    #[serde(flatten)]
    pub rest: BTreeMap<String, Value>,
}

/// `depends_on:`: a list, or a map with conditions.
#[derive(Debug)]
pub enum DependsOn {
    /// `[db, cache]`: started.
    List(Vec<String>),
    /// `{db: {condition: service_healthy}}`.
    Map(BTreeMap<String, Dependency>),
}

/// One dependency's options.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Dependency {
    /// service_started, service_healthy or service_completed_successfully.
    pub condition: Option<String>,
    /// Keys not known here (reported as ignored).
    #[serde(flatten)]
    pub rest: BTreeMap<String, Value>,
}

/// `deploy:`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Deploy {
    /// replicated, global, replicated-job or global-job.
    pub mode: Option<String>,
    /// Replicas of a replicated service.
    pub replicas: Option<Count>,
    /// Service labels.
    pub labels: Pairs,
    /// vip or dnsrr.
    pub endpoint_mode: Option<String>,
    /// Placement.
    pub placement: Option<DeployPlacement>,
    /// Resources.
    pub resources: Option<DeployResources>,
    /// Restart policy.
    pub restart_policy: Option<DeployRestart>,
    /// Rolling update.
    pub update_config: Option<DeployUpdate>,
    /// Rollback.
    pub rollback_config: Option<DeployUpdate>,
}

/// `deploy.placement`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DeployPlacement {
    /// `node.labels.x == y`, …
    pub constraints: Strings,
    /// `[{spread: node.labels.zone}]`.
    pub preferences: Vec<BTreeMap<String, String>>,
    /// At most this many tasks per node.
    pub max_replicas_per_node: Option<Count>,
}

/// `deploy.resources`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DeployResources {
    /// Limits.
    pub limits: Option<ResourceAmounts>,
    /// Reservations.
    pub reservations: Option<ResourceAmounts>,
}

/// An amount of CPU, memory and processes.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ResourceAmounts {
    /// CPUs.
    pub cpus: Option<Cpus>,
    /// Memory.
    pub memory: Option<Bytes>,
    /// Process limit (limits only).
    pub pids: Option<Count>,
}

/// `deploy.restart_policy`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DeployRestart {
    /// none, on-failure or any.
    pub condition: Option<String>,
    /// Between restarts.
    pub delay: Option<Nanos>,
    /// Restarts before giving up.
    pub max_attempts: Option<Count>,
    /// Window for max_attempts.
    pub window: Option<Nanos>,
}

/// `deploy.update_config` / `rollback_config`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct DeployUpdate {
    /// Tasks at once.
    pub parallelism: Option<Count>,
    /// Between batches.
    pub delay: Option<Nanos>,
    /// continue, pause or rollback.
    pub failure_action: Option<String>,
    /// Watch after each task.
    pub monitor: Option<Nanos>,
    /// Failures tolerated.
    pub max_failure_ratio: Option<f32>,
    /// stop-first or start-first.
    pub order: Option<String>,
}

/// `logging:`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Logging {
    /// Driver name.
    pub driver: Option<String>,
    /// Its options.
    pub options: Pairs,
}

/// A top-level network.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Network {
    /// overlay (the default in a stack).
    pub driver: Option<String>,
    /// Driver options.
    pub driver_opts: Pairs,
    /// Standalone containers may attach.
    pub attachable: Option<Flag>,
    /// No route out.
    pub internal: Option<Flag>,
    /// Labels.
    pub labels: Pairs,
    /// Address management.
    pub ipam: Option<Ipam>,
    /// Made outside the stack: `true`, or `{name: …}` (v3.x).
    pub external: Option<External>,
    /// The name the network has (not prefixed with the stack).
    pub name: Option<String>,
}

/// `ipam:`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Ipam {
    /// Only `default`.
    pub driver: Option<String>,
    /// Subnets.
    pub config: Vec<IpamEntry>,
}

/// One `ipam.config` entry.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct IpamEntry {
    /// CIDR.
    pub subnet: Option<String>,
    /// Range handed out.
    pub ip_range: Option<String>,
    /// Gateway.
    pub gateway: Option<String>,
}

/// `external:` as a flag or, in v3.x, `{name: …}`.
#[derive(Debug)]
pub enum External {
    /// `external: true`.
    Flag(Flag),
    /// `external: {name: real}`.
    Named {
        /// The object's real name.
        name: String,
    },
}

/// A top-level volume: made on each node by the first task that mounts it, with these
/// labels (and the stack's), as `docker stack deploy` has them made.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Volume {
    /// Made outside the stack.
    pub external: Option<External>,
    /// Driver (nodes refuse any but `local`).
    pub driver: Option<String>,
    /// Driver options (nodes refuse any).
    pub driver_opts: Option<BTreeMap<String, String>>,
    /// Labels.
    pub labels: Pairs,
    /// Real name.
    pub name: Option<String>,
    /// Keys not known here (reported as ignored).
    #[serde(flatten)]
    pub rest: BTreeMap<String, Value>,
}

/// A top-level secret or config.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Payload {
    /// Read from this file (relative to the compose file).
    pub file: Option<String>,
    /// Read from this environment variable (compose spec).
    pub environment: Option<String>,
    /// Inline content (compose spec, configs).
    pub content: Option<String>,
    /// Made outside the stack.
    pub external: Option<External>,
    /// The real name (not prefixed with the stack).
    pub name: Option<String>,
    /// Labels.
    pub labels: Pairs,
    /// Template driver: refused.
    pub template_driver: Option<String>,
}

/// `Deserialize` for an enum whose variant follows the value's shape: a scalar or list one
/// variant, a mapping another; the mapping's errors keep their message.
macro_rules! by_shape {
    ($ty:ident, $expect:literal, |$v:ident| $body:expr) => {
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                use serde::de::Error as _;
                let $v = Value::deserialize(d)?;
                let out: Option<Result<$ty, serde_json::Error>> = $body;
                match out {
                    Some(r) => r.map_err(D::Error::custom),
                    None => Err(D::Error::custom(format!(
                        concat!("expected ", $expect, ", found {}"),
                        crate::sections::kind(&$v)
                    ))),
                }
            }
        }
    };
}

by_shape!(ServiceNetworks, "a list or a mapping of networks", |v| match &v {
    Value::Array(_) => Some(serde_json::from_value(v.clone()).map(ServiceNetworks::List)),
    Value::Object(_) => Some(serde_json::from_value(v.clone()).map(ServiceNetworks::Map)),
    _ => None,
});

by_shape!(Port, "a port or a mapping", |v| match &v {
    Value::Object(_) => Some(serde_json::from_value(v.clone()).map(Port::Long)),
    Value::String(_) | Value::Number(_) => Some(Ok(Port::Short(v.clone()))),
    _ => None,
});

by_shape!(FileRef, "a name or a mapping with source", |v| match &v {
    Value::String(s) => Some(Ok(FileRef::Short(s.clone()))),
    Value::Object(_) => Some(serde_json::from_value(v.clone()).map(FileRef::Long)),
    _ => None,
});

by_shape!(VolumeMount, "source:target or a mapping", |v| match &v {
    Value::String(s) => Some(Ok(VolumeMount::Short(s.clone()))),
    Value::Object(_) => Some(serde_json::from_value(v.clone()).map(VolumeMount::Long)),
    _ => None,
});

by_shape!(DependsOn, "a list or a mapping of services", |v| match &v {
    Value::Array(_) => Some(serde_json::from_value(v.clone()).map(DependsOn::List)),
    Value::Object(_) => Some(serde_json::from_value(v.clone()).map(DependsOn::Map)),
    _ => None,
});

by_shape!(External, "true, false or {{name: …}}", |v| match &v {
    Value::Object(_) => {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Named {
            name: String,
        }
        Some(serde_json::from_value::<Named>(v.clone()).map(|n| External::Named { name: n.name }))
    }
    _ => Some(serde_json::from_value(v.clone()).map(External::Flag)),
});
