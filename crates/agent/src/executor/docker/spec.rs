//! A task as dockerd's container create request, mapped the way Swarm's own executor maps it:
//! the container is named `<service>.<slot>.<task id>`, labelled with the `com.docker.swarm.*`
//! labels (which is also how [`super::DockerExecutor::reattach`] finds it again), and gets the
//! ContainerSpec's fields one for one. What shoal cannot map yet (other mount types, unknown
//! ContainerSpec fields) is refused by name rather than dropped. Networks are the agent's: the
//! container runs in network mode `none` and the agent attaches the task's endpoints to its
//! namespace after start; the sandbox's resolv.conf and hosts are bind-mounted.

use std::collections::HashMap;

use bollard::models::{
    ContainerCreateBody, HealthConfig, HostConfig, HostConfigLogConfig, Mount, MountType, ResourcesUlimits,
};
use serde_json::{Map, Value};
use types::Task;

use crate::executor::oci::extras::Ulimit;
use crate::executor::process::unsupported::is_default;
use crate::executor::{Error, Result, Sandbox, parse_signal, stop_grace};

/// Label with the service ID.
pub const SERVICE_ID: &str = "com.docker.swarm.service.id";
/// Label with the service name.
pub const SERVICE_NAME: &str = "com.docker.swarm.service.name";
/// Label with the task ID (how re-attach finds a task's container).
pub const TASK_ID: &str = "com.docker.swarm.task.id";
/// Label with the task name.
pub const TASK_NAME: &str = "com.docker.swarm.task.name";
/// Marker label Swarm sets on every task container (empty value).
pub const TASK: &str = "com.docker.swarm.task";
/// Label with the node that runs the container.
pub const NODE_ID: &str = "com.docker.swarm.node.id";

/// ContainerSpec fields (kept as JSON in `extra`) this executor passes to dockerd (the
/// generic reservations as the `DOCKER_RESOURCE_*` env the dispatcher added).
const APPLIED: [&str; 10] = [
    "PullOptions",
    types::generic::RESERVED_KEY,
    "Mounts",
    "ReadOnly",
    "Init",
    "Sysctls",
    "Ulimits",
    "CapabilityAdd",
    "CapabilityDrop",
    "Groups",
];

/// The create request of a task and what else prepare needs.
#[derive(Debug, Clone)]
pub struct Create {
    /// Container name, `<service>.<slot>.<task id>` (or the node ID for global tasks).
    pub name: String,
    /// The request body.
    pub body: ContainerCreateBody,
    /// Base64 `X-Registry-Auth` for the pull, when the service has credentials.
    pub registry_auth: Option<String>,
}

/// Maps `task` for the node `node_id`. `sandbox` is the agent's network sandbox when it
/// prepares the task in one (`None`: plain `prepare`, so no one attaches networks and a task
/// on networks is refused). Its files are bind-mounted read-only at `/etc/resolv.conf` and
/// `/etc/hosts` (a task's own mount there wins, as in Docker); a namespace path is refused,
/// since dockerd makes the container's namespace itself (network mode `none`) and the agent
/// attaches the task's endpoints to it after start. A task the agent does not plumb (no
/// network in its spec and no ingress address, so no sandbox files) keeps dockerd's default
/// network mode, as Swarm's executor leaves it (the `bridge` network: outbound traffic
/// through the host, dockerd's own resolv.conf and hosts).
pub fn build(task: &Task, node_id: &str, sandbox: Option<&Sandbox>) -> Result<Create> {
    let spec = &task.spec;
    let c = &spec.container;
    if c.image.is_empty() {
        return Err(Error::Invalid("the task has no image".into()));
    }
    if sandbox.is_none() && !spec.networks.is_empty() {
        return Err(Error::Invalid(
            "the docker executor attaches networks only to a task the agent prepares in a \
             network sandbox; this node prepared it without one"
                .into(),
        ));
    }
    if let Some(netns) = sandbox.and_then(|s| s.netns.as_ref()) {
        return Err(Error::Unsupported(format!(
            "the docker executor cannot put a container in network namespace {}: dockerd makes \
             the container's namespace itself and the agent attaches endpoints to it after start",
            netns.display()
        )));
    }
    let mut extra = Extra::parse(&c.extra)?;
    let payloads = sandbox.into_iter().flat_map(|s| {
        s.payload_files
            .iter()
            .map(|f| (f.source.as_path(), f.target.as_str()))
    });
    for (source, target) in sandbox
        .map(Sandbox::files)
        .unwrap_or_default()
        .into_iter()
        .chain(payloads)
    {
        let mounts = extra.mounts.get_or_insert_with(Vec::new);
        if mounts.iter().any(|m| m.target.as_deref() == Some(target)) {
            continue;
        }
        let source = source
            .to_str()
            .ok_or_else(|| Error::Invalid(format!("sandbox file {} is not UTF-8", source.display())))?;
        mounts.push(Mount {
            target: Some(target.to_string()),
            source: Some(source.to_string()),
            typ: Some(MountType::BIND),
            read_only: Some(true),
            ..Mount::default()
        });
    }
    let name = task.name();
    let mut labels: HashMap<String, String> = c.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    for (k, v) in [
        (SERVICE_ID, task.service_id.as_str()),
        (SERVICE_NAME, task.service_name.as_str()),
        (TASK, ""),
        (TASK_ID, task.id.as_str()),
        (TASK_NAME, name.as_str()),
        (NODE_ID, node_id),
    ] {
        labels.insert(k.to_string(), v.to_string());
    }
    if !c.stop_signal.is_empty() {
        parse_signal(&c.stop_signal)?;
    }
    let grace = grace_seconds(c.stop_grace_period);
    let limits = &spec.resources.limits;
    let positive = |n: i64| (n > 0).then_some(n);
    // The agent plumbs the namespace of a task on networks, and of one that holds only an
    // ingress address (a service publishing ports: its sandbox came with files but the spec
    // names no network). Any other task gets no mode, as Swarm's executor leaves it: dockerd
    // joins its default network, which also starts about twice as fast as `none`.
    let plumbed =
        !spec.networks.is_empty() || sandbox.is_some_and(|s| s.resolv_conf.is_some() || s.hosts.is_some());
    let network_mode = plumbed.then(|| "none".to_string());
    let host_config = HostConfig {
        network_mode,
        mounts: extra.mounts,
        readonly_rootfs: Some(extra.read_only),
        init: extra.init,
        sysctls: extra.sysctls,
        ulimits: extra.ulimits.map(|u| {
            u.into_iter()
                .map(|u| ResourcesUlimits {
                    name: Some(u.name),
                    soft: Some(u.soft),
                    hard: Some(u.hard),
                })
                .collect()
        }),
        cap_add: extra.cap_add,
        cap_drop: extra.cap_drop,
        group_add: extra.groups,
        nano_cpus: positive(limits.nano_cpus),
        memory: positive(limits.memory_bytes),
        pids_limit: positive(limits.pids),
        memory_reservation: positive(spec.resources.reservations.memory_bytes),
        log_config: spec.log_driver.as_ref().map(|d| HostConfigLogConfig {
            typ: Some(d.name.clone()),
            config: Some(d.options.iter().map(|(k, v)| (k.clone(), v.clone())).collect()),
        }),
        ..HostConfig::default()
    };
    let some_vec = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
    let some_str = |s: &String| (!s.is_empty()).then(|| s.clone());
    // The sandbox's hosts file names the task by `Task::hostname`; dockerd's default (the
    // container ID) would be missing from it (`hostname -i` fails).
    let hostname = match sandbox.and_then(|s| s.hosts.as_ref()) {
        Some(_) => Some(task.hostname()),
        None => some_str(&c.hostname),
    };
    let body = ContainerCreateBody {
        image: Some(c.image.clone()),
        // Swarm's mapping: Command replaces the image's entrypoint, Args its CMD.
        entrypoint: some_vec(&c.command),
        cmd: some_vec(&c.args),
        env: some_vec(&c.env),
        user: some_str(&c.user),
        working_dir: some_str(&c.dir),
        hostname,
        tty: Some(c.tty),
        open_stdin: Some(c.open_stdin),
        labels: Some(labels),
        stop_signal: some_str(&c.stop_signal),
        stop_timeout: Some(grace),
        healthcheck: c.healthcheck.as_ref().map(|h| HealthConfig {
            test: Some(h.test.clone()),
            interval: Some(h.interval),
            timeout: Some(h.timeout),
            retries: Some(h.retries.min(i64::MAX as u64) as i64),
            start_period: Some(h.start_period),
            start_interval: positive(h.start_interval),
        }),
        host_config: Some(host_config),
        ..ContainerCreateBody::default()
    };
    Ok(Create {
        name,
        body,
        registry_auth: extra.registry_auth,
    })
}

/// dockerd takes the stop grace in whole seconds: rounded up, so a task never gets less
/// time than its spec grants.
pub fn grace_seconds(spec_nanos: Option<i64>) -> i64 {
    let grace = stop_grace(spec_nanos);
    let secs = grace.as_secs() + u64::from(grace.subsec_nanos() > 0);
    secs.min(i32::MAX as u64) as i64
}

/// The `extra` fields, in dockerd's types.
#[derive(Debug, Default)]
struct Extra {
    mounts: Option<Vec<Mount>>,
    read_only: bool,
    init: Option<bool>,
    sysctls: Option<HashMap<String, String>>,
    ulimits: Option<Vec<Ulimit>>,
    cap_add: Option<Vec<String>>,
    cap_drop: Option<Vec<String>>,
    groups: Option<Vec<String>>,
    registry_auth: Option<String>,
}

impl Extra {
    fn parse(extra: &str) -> Result<Extra> {
        if extra.trim().is_empty() {
            return Ok(Extra::default());
        }
        let fields: Map<String, Value> = serde_json::from_str(extra)
            .map_err(|e| Error::Invalid(format!("ContainerSpec extras are not a JSON object: {e}")))?;
        let refused: Vec<&str> = fields
            .iter()
            .filter(|(k, v)| {
                !APPLIED.contains(&k.as_str())
                    && !crate::payloads::DELIVERED.contains(&k.as_str())
                    && !is_default(k, v)
            })
            .map(|(k, _)| k.as_str())
            .collect();
        if !refused.is_empty() {
            return Err(Error::Invalid(format!(
                "the docker executor does not support ContainerSpec.{} yet; remove {}",
                refused.join(", ContainerSpec."),
                if refused.len() == 1 { "it" } else { "them" }
            )));
        }
        let field = |name: &str| fields.get(name).filter(|v| !v.is_null()).cloned();
        fn typed<T: serde::de::DeserializeOwned>(name: &str, v: Option<Value>) -> Result<Option<T>> {
            v.map(|v| {
                serde_json::from_value(v).map_err(|e| Error::Invalid(format!("ContainerSpec.{name}: {e}")))
            })
            .transpose()
        }
        let mounts: Option<Vec<Mount>> = typed("Mounts", field("Mounts"))?;
        for m in mounts.iter().flatten() {
            match m.typ {
                Some(MountType::BIND | MountType::VOLUME | MountType::TMPFS) => {}
                other => {
                    return Err(Error::Invalid(format!(
                        "mount {}: type {other:?} is not supported by the docker executor (bind, volume and tmpfs are)",
                        m.target.as_deref().unwrap_or("")
                    )));
                }
            }
        }
        let pull: Option<Value> = field("PullOptions");
        let registry_auth = pull
            .as_ref()
            .and_then(|p| p.get("RegistryAuth"))
            .and_then(Value::as_str)
            .filter(|a| !a.is_empty())
            .map(str::to_string);
        Ok(Extra {
            mounts,
            read_only: typed::<bool>("ReadOnly", field("ReadOnly"))?.unwrap_or(false),
            init: typed("Init", field("Init"))?,
            sysctls: typed("Sysctls", field("Sysctls"))?,
            ulimits: typed("Ulimits", field("Ulimits"))?,
            cap_add: typed("CapabilityAdd", field("CapabilityAdd"))?,
            cap_drop: typed("CapabilityDrop", field("CapabilityDrop"))?,
            groups: typed("Groups", field("Groups"))?,
            registry_auth,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use types::ContainerSpec;

    use super::*;

    fn task(container: ContainerSpec) -> Task {
        types::testing::task("t1")
            .slot(2)
            .node("node")
            .container(container)
            .build()
    }

    #[test]
    fn maps_names_labels_and_fields_as_swarm_does() {
        let c = build(
            &task(ContainerSpec {
                image: "bb:1".into(),
                command: vec!["sh".into()],
                args: vec!["-c".into(), "true".into()],
                labels: [("a".to_string(), "b".to_string())].into(),
                stop_grace_period: Some(300_000_000),
                extra: r#"{"Init":true,"ReadOnly":true,"Mounts":[{"Type":"tmpfs","Target":"/t"}],"PullOptions":{"RegistryAuth":"e30="}}"#.into(),
                ..ContainerSpec::default()
            }),
            "n1",
            None,
        )
        .unwrap();
        assert_eq!(c.name, "web.2.t1");
        let labels = c.body.labels.unwrap();
        assert_eq!(labels[TASK_ID], "t1");
        assert_eq!(labels[TASK_NAME], "web.2.t1");
        assert_eq!(labels[NODE_ID], "n1");
        assert_eq!(labels[SERVICE_NAME], "web");
        assert_eq!(labels["a"], "b");
        assert_eq!(c.body.entrypoint, Some(vec!["sh".to_string()]));
        assert_eq!(c.body.stop_timeout, Some(1), "grace rounds up to whole seconds");
        let host = c.body.host_config.unwrap();
        assert_eq!(
            host.network_mode, None,
            "no networks: dockerd's default, as Swarm"
        );
        assert_eq!(host.init, Some(true));
        assert_eq!(host.mounts.map(|m| m.len()), Some(1));
        assert_eq!(c.registry_auth.as_deref(), Some("e30="));
    }

    #[test]
    fn refuses_what_it_cannot_map_by_name() {
        let err = |extra: &str| {
            build(
                &task(ContainerSpec {
                    image: "bb".into(),
                    extra: extra.into(),
                    ..ContainerSpec::default()
                }),
                "n",
                None,
            )
            .unwrap_err()
            .to_string()
        };
        assert!(err(r#"{"Hosts":["1.2.3.4 a"]}"#).contains("ContainerSpec.Hosts"));
        assert!(err(r#"{"Mounts":[{"Type":"npipe","Target":"/p"}]}"#).contains("not supported"));
        assert!(err("[1]").contains("not a JSON object"));
        assert!(
            build(&task(ContainerSpec::default()), "n", None).is_err(),
            "no image"
        );
    }

    #[test]
    fn a_sandbox_gives_its_files_and_refuses_a_namespace_path() {
        let mut on_net = task(ContainerSpec {
            image: "bb".into(),
            extra: r#"{"Mounts":[{"Type":"bind","Source":"/srv/h","Target":"/etc/hosts"}]}"#.into(),
            ..ContainerSpec::default()
        });
        Arc::make_mut(&mut on_net.spec).networks = vec![types::NetworkAttachment::default()];
        let err = build(&on_net, "n", None).unwrap_err().to_string();
        assert!(err.contains("network sandbox"), "{err}");
        let sandbox = Sandbox {
            netns: None,
            resolv_conf: Some("/sb/resolv.conf".into()),
            hosts: Some("/sb/hosts".into()),
            ..Default::default()
        };
        let mut published = on_net.clone();
        Arc::make_mut(&mut published.spec).networks.clear();
        let c = build(&published, "n", Some(&sandbox)).unwrap();
        assert_eq!(
            c.body.host_config.unwrap().network_mode.as_deref(),
            Some("none"),
            "a task holding only an ingress address is plumbed too"
        );
        let c = build(&published, "n", Some(&Sandbox::default())).unwrap();
        assert_eq!(
            c.body.host_config.unwrap().network_mode,
            None,
            "no network at all: dockerd's default"
        );
        let c = build(&on_net, "n", Some(&sandbox)).unwrap();
        assert_eq!(
            c.body.hostname.as_deref(),
            Some("t1"),
            "the name the sandbox's hosts file gives the task"
        );
        let host = c.body.host_config.unwrap();
        assert_eq!(host.network_mode.as_deref(), Some("none"));
        let mounts = host.mounts.unwrap();
        let at = |target: &str| -> Vec<(Option<String>, Option<bool>)> {
            mounts
                .iter()
                .filter(|m| m.target.as_deref() == Some(target))
                .map(|m| (m.source.clone(), m.read_only))
                .collect()
        };
        assert_eq!(
            at("/etc/resolv.conf"),
            [(Some("/sb/resolv.conf".into()), Some(true))]
        );
        assert_eq!(
            at("/etc/hosts"),
            [(Some("/srv/h".into()), None)],
            "the task's own mount wins"
        );
        let with_ns = Sandbox {
            netns: Some("/run/netns/x".into()),
            ..sandbox
        };
        let err = build(&on_net, "n", Some(&with_ns)).unwrap_err();
        assert!(
            matches!(&err, Error::Unsupported(m) if m.contains("/run/netns/x")),
            "{err}"
        );
    }

    #[test]
    fn secrets_and_configs_are_bind_mounted_read_only_from_the_tasks_tmpfs() {
        let t = task(ContainerSpec {
            image: "bb".into(),
            extra: r#"{"Secrets":[{"File":{"Name":"x","UID":"0","GID":"0","Mode":256},"SecretID":"s1","SecretName":"pw"}]}"#
                .into(),
            ..ContainerSpec::default()
        });
        let sandbox = Sandbox {
            payload_files: vec![crate::executor::sandbox::PayloadFile {
                source: "/data/payloads/t1/secrets/x".into(),
                target: "/run/secrets/x".into(),
            }],
            payload_dir: Some("/data/payloads/t1".into()),
            ..Default::default()
        };
        let c = build(&t, "n", Some(&sandbox)).unwrap();
        let mounts = c.body.host_config.unwrap().mounts.unwrap();
        let m = mounts
            .iter()
            .find(|m| m.target.as_deref() == Some("/run/secrets/x"))
            .unwrap();
        assert_eq!(m.source.as_deref(), Some("/data/payloads/t1/secrets/x"));
        assert_eq!((m.typ, m.read_only), (Some(MountType::BIND), Some(true)));
    }
}
