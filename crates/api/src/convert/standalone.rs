//! `POST /containers/create` bodies (Docker's `Config` with `HostConfig` and
//! `NetworkingConfig` inside) turned into the task spec a standalone container runs.
//!
//! Every field is looked at: those shoal applies are converted, the rest must hold their
//! zero value (the docker CLI sends most of them empty) or the request is refused with the
//! field's name, never silently dropped.

use serde_json::{Map, Value};
use types::{ContainerSpec, TaskSpec};

/// What a standalone container is created from.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerCreate {
    /// The spec its synthetic task runs.
    pub spec: TaskSpec,
    /// Remove it once it exits (`HostConfig.AutoRemove`, `docker run --rm`).
    pub auto_remove: bool,
    /// The attachable overlay network it joins (`--network NAME`), by ID, name or prefix;
    /// `None`: a namespace of its own with loopback only.
    pub network: Option<String>,
    /// Its endpoint settings there (`--alias`, `--ip`).
    pub endpoint: EndpointSettings,
}

/// Why a create body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CreateError {
    /// Malformed (dockerd's 400).
    #[error("{0}")]
    Invalid(String),
    /// Well-formed, asks for what shoal does not do yet (400 naming the field).
    #[error("{0}")]
    Unsupported(String),
}

type Result<T> = std::result::Result<T, CreateError>;

mod network;
mod values;

pub use network::{EndpointSettings, endpoint_settings};
use network::{endpoints, network_mode};
use values::{boolean, integer, is_zero, labels, optional_strings, string, strings};

/// `Config` keys converted below.
const CONFIG_APPLIED: &[&str] = &[
    "Image",
    "Cmd",
    "Entrypoint",
    "Env",
    "WorkingDir",
    "User",
    "Hostname",
    "Tty",
    "OpenStdin",
    "StdinOnce",
    "AttachStdin",
    "AttachStdout",
    "AttachStderr",
    "Labels",
    "StopSignal",
    "StopTimeout",
    "Healthcheck",
    "HostConfig",
    "NetworkingConfig",
    "Volumes",
    // Informational in dockerd too (Windows-only escaping; an empty Domainname).
    "ArgsEscaped",
];

/// `HostConfig` keys converted below.
const HOST_APPLIED: &[&str] = &[
    "AutoRemove",
    "Binds",
    "Mounts",
    "Memory",
    "NanoCpus",
    "PidsLimit",
    "Init",
    "ReadonlyRootfs",
    "NetworkMode",
    "RestartPolicy",
    "LogConfig",
    "ConsoleSize",
    "CgroupnsMode",
    "IpcMode",
    "SecurityOpt",
];

/// Keys inside the applied ones (and two refused ones, so their refusal reads as dockerd
/// spells them), for Go's case-insensitive key matching.
const NESTED_NAMES: &[&str] = &[
    "Test",
    "Interval",
    "Timeout",
    "Retries",
    "StartPeriod",
    "StartInterval",
    "Name",
    "MaximumRetryCount",
    "Type",
    "Config",
    "EndpointsConfig",
    "PortBindings",
    "ExposedPorts",
    // HostConfig.Mounts (`--mount`).
    "Source",
    "Target",
    "ReadOnly",
    "BindOptions",
    "Propagation",
    "VolumeOptions",
    "NoCopy",
    "Subpath",
    "DriverConfig",
    "Options",
    "TmpfsOptions",
    "SizeBytes",
    "Mode",
];

/// Maps whose keys are the user's (labels, log options, network names, ports).
const FREE_FORM: &[&str] = &[
    "Labels",
    "Config",
    "EndpointsConfig",
    "PortBindings",
    "ExposedPorts",
    "Volumes",
    "Options",
];

/// Converts a decoded create body. Its keys match dockerd's fields ignoring case, as Go's
/// decoder matches them (`"image"` is `Image`).
pub fn from_body(body: &Map<String, Value>) -> Result<ContainerCreate> {
    let names: Vec<&str> = [CONFIG_APPLIED, HOST_APPLIED, NESTED_NAMES].concat();
    let body = match crate::model::fold::canonical_keys(Value::Object(body.clone()), &names, FREE_FORM) {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    let body = &body;
    let host = match body.get("HostConfig") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => return Err(CreateError::Invalid("HostConfig must be an object".into())),
    };
    // HostConfig first: `-p` also fills Config.ExposedPorts, and the port refusal says more.
    let mut refused: Vec<String> = host
        .iter()
        .filter(|(k, v)| !HOST_APPLIED.contains(&k.as_str()) && !is_zero(v) && !is_cli_default(k, v))
        .map(|(k, _)| format!("HostConfig.{k}"))
        .collect();
    refused.extend(
        body.iter()
            .filter(|(k, v)| !CONFIG_APPLIED.contains(&k.as_str()) && !is_zero(v))
            .map(|(k, _)| k.clone()),
    );
    if !refused.is_empty() {
        let hint = if refused.iter().any(|r| r == "HostConfig.PortBindings") {
            " (published ports come with the routing mesh; run a service with --publish mode=host instead)"
        } else {
            ""
        };
        return Err(CreateError::Unsupported(format!(
            "shoal does not support {} for standalone containers yet; remove {}{hint}",
            refused.join(", "),
            if refused.len() == 1 { "it" } else { "them" }
        )));
    }
    let network = network_mode(&host)?;
    let endpoint = endpoints(body, &string(&host, "NetworkMode")?)?;
    restart_policy(&host)?;
    log_config(&host)?;
    let image = string(body, "Image")?;
    if image.is_empty() {
        return Err(CreateError::Invalid(
            "config cannot be empty in order to create a container".into(),
        ));
    }
    let tty = boolean(body, "Tty")?;
    let open_stdin = boolean(body, "OpenStdin")?;
    if boolean(body, "AttachStdin")? && !open_stdin {
        return Err(CreateError::Invalid(
            "AttachStdin needs OpenStdin (docker run -i sets both)".into(),
        ));
    }
    let mut extra = Map::new();
    if open_stdin && boolean(body, "StdinOnce")? {
        extra.insert("StdinOnce".into(), Value::Bool(true));
    }
    if tty && let Some(size) = super::console::console_size(&host)? {
        extra.insert("ConsoleSize".into(), size);
    }
    let mounts = mounts(body, &host)?;
    if !mounts.is_empty() {
        extra.insert("Mounts".into(), Value::Array(mounts));
    }
    if boolean(&host, "ReadonlyRootfs")? {
        extra.insert("ReadOnly".into(), Value::Bool(true));
    }
    if let Some(init) = host.get("Init").and_then(Value::as_bool) {
        extra.insert("Init".into(), Value::Bool(init));
    }
    if let Some(privileges) = security_opt(&optional_strings(&host, "SecurityOpt")?)? {
        extra.insert("Privileges".into(), privileges);
    }
    let stop_grace_period = match body.get("StopTimeout") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_i64()
                .ok_or_else(|| CreateError::Invalid("StopTimeout must be an integer".into()))?
                .saturating_mul(1_000_000_000),
        ),
    };
    let container = ContainerSpec {
        image,
        labels: labels(body)?,
        command: optional_strings(body, "Entrypoint")?,
        args: optional_strings(body, "Cmd")?,
        hostname: string(body, "Hostname")?,
        env: optional_strings(body, "Env")?,
        dir: string(body, "WorkingDir")?,
        user: string(body, "User")?,
        stop_signal: string(body, "StopSignal")?,
        stop_grace_period,
        healthcheck: healthcheck(body)?,
        tty,
        open_stdin,
        extra: if extra.is_empty() {
            String::new()
        } else {
            Value::Object(extra).to_string()
        },
    };
    let mut spec = TaskSpec {
        container,
        ..TaskSpec::default()
    };
    spec.restart.condition = types::RestartCondition::None;
    spec.resources.limits.memory_bytes = integer(&host, "Memory")?;
    spec.resources.limits.nano_cpus = integer(&host, "NanoCpus")?;
    spec.resources.limits.pids = integer(&host, "PidsLimit")?.max(0);
    if spec.resources.limits.memory_bytes < 0 || spec.resources.limits.nano_cpus < 0 {
        return Err(CreateError::Invalid(
            "Memory and NanoCpus cannot be negative".into(),
        ));
    }
    Ok(ContainerCreate {
        spec,
        auto_remove: boolean(&host, "AutoRemove")?,
        network,
        endpoint,
    })
}

/// `HostConfig.SecurityOpt` (`--security-opt`) as a ContainerSpec `Privileges` object:
/// `seccomp=unconfined` and `no-new-privileges[=true|false]` are applied; a custom seccomp
/// profile (the CLI sends the file's JSON), AppArmor and SELinux labels are refused.
fn security_opt(opts: &[String]) -> Result<Option<Value>> {
    let mut privileges = Map::new();
    for opt in opts {
        // dockerd accepts `key=value` and the older `key:value`.
        let (key, value) = opt
            .split_once('=')
            .or_else(|| opt.split_once(':'))
            .unwrap_or((opt.as_str(), ""));
        match (key, value) {
            ("seccomp", "unconfined") => {
                privileges.insert("Seccomp".into(), serde_json::json!({"Mode": "unconfined"}));
            }
            ("seccomp", "builtin" | "default") => {}
            ("seccomp", _) => {
                return Err(CreateError::Unsupported(
                    "custom seccomp profiles are not supported yet: use --security-opt seccomp=unconfined, \
                     or none for the default profile"
                        .into(),
                ));
            }
            ("no-new-privileges", "" | "true") => {
                privileges.insert("NoNewPrivileges".into(), Value::Bool(true));
            }
            ("no-new-privileges", "false") => {}
            ("no-new-privileges", other) => {
                return Err(CreateError::Invalid(format!(
                    "invalid --security-opt no-new-privileges value {other:?}: want true or false"
                )));
            }
            _ => {
                return Err(CreateError::Unsupported(format!(
                    "--security-opt {:?} is not supported (only seccomp=unconfined and no-new-privileges; \
                     shoal applies no AppArmor or SELinux profile)",
                    types::excerpt(opt)
                )));
            }
        }
    }
    Ok((!privileges.is_empty()).then_some(Value::Object(privileges)))
}

/// `Healthcheck` (`--health-*`, `--no-healthcheck` as `["NONE"]`).
fn healthcheck(body: &Map<String, Value>) -> Result<Option<types::HealthConfig>> {
    let Some(Value::Object(h)) = body.get("Healthcheck") else {
        return Ok(None);
    };
    Ok(Some(types::HealthConfig {
        test: optional_strings(h, "Test")?,
        interval: integer(h, "Interval")?,
        timeout: integer(h, "Timeout")?,
        retries: u64::try_from(integer(h, "Retries")?).unwrap_or(0),
        start_period: integer(h, "StartPeriod")?,
        start_interval: integer(h, "StartInterval")?,
    }))
}

fn restart_policy(host: &Map<String, Value>) -> Result<()> {
    let Some(Value::Object(policy)) = host.get("RestartPolicy") else {
        return Ok(());
    };
    match string(policy, "Name")?.as_str() {
        "" | "no" => Ok(()),
        other => Err(CreateError::Unsupported(format!(
            "restart policy {:?} is not supported for standalone containers yet; run without --restart",
            types::excerpt(other)
        ))),
    }
}

fn log_config(host: &Map<String, Value>) -> Result<()> {
    let Some(Value::Object(log)) = host.get("LogConfig") else {
        return Ok(());
    };
    let kind = string(log, "Type")?;
    let config_empty = log.get("Config").is_none_or(is_zero);
    if matches!(kind.as_str(), "" | "json-file" | "local") && config_empty {
        return Ok(());
    }
    Err(CreateError::Unsupported(format!(
        "log driver {:?} with options is not supported; shoal keeps container output itself (run without --log-driver/--log-opt)",
        types::excerpt(&kind)
    )))
}

/// `src:dst[:opts]`: a bind when `src` is an absolute path, else a named volume.
fn bind_mount(bind: &str) -> Result<Value> {
    let parts: Vec<&str> = bind.split(':').collect();
    let (source, target, options) = match parts.as_slice() {
        [s, t] => (*s, *t, ""),
        [s, t, o] => (*s, *t, *o),
        _ => {
            return Err(CreateError::Invalid(format!(
                "invalid volume specification: {:?}",
                types::excerpt(bind)
            )));
        }
    };
    if !target.starts_with('/') {
        return Err(CreateError::Invalid(format!(
            "invalid mount config: the mount target {:?} is not an absolute path",
            types::excerpt(target)
        )));
    }
    let mut read_only = false;
    for option in options.split(',').filter(|o| !o.is_empty()) {
        match option {
            "ro" => read_only = true,
            "rw" => read_only = false,
            other => {
                return Err(CreateError::Unsupported(format!(
                    "bind option {:?} is not supported; use ro or rw",
                    types::excerpt(other)
                )));
            }
        }
    }
    let kind = if source.starts_with('/') { "bind" } else { "volume" };
    Ok(serde_json::json!({
        "Type": kind,
        "Source": source,
        "Target": target,
        "ReadOnly": read_only,
    }))
}

/// The container's mounts as ContainerSpec `Mounts`: `HostConfig.Binds` (`-v src:dst`),
/// `HostConfig.Mounts` (`--mount`), and an anonymous volume for each `Config.Volumes` path
/// (`-v /dst`) that neither mounts, as dockerd makes them. Two mounts on one target are
/// refused with dockerd's words.
fn mounts(body: &Map<String, Value>, host: &Map<String, Value>) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    if let Some(binds) = host.get("Binds").filter(|v| !is_zero(v)) {
        for b in strings(binds, "HostConfig.Binds")? {
            out.push(bind_mount(&b)?);
        }
    }
    if let Some(list) = host.get("Mounts").filter(|v| !is_zero(v)) {
        let Value::Array(list) = list else {
            return Err(CreateError::Invalid("HostConfig.Mounts must be a list".into()));
        };
        for m in list {
            out.push(host_mount(m)?);
        }
    }
    let mut targets = std::collections::BTreeSet::new();
    for m in &out {
        let target = m.get("Target").and_then(Value::as_str).unwrap_or("");
        if !targets.insert(clean_target(target)) {
            return Err(CreateError::Invalid(format!(
                "Duplicate mount point: {}",
                types::excerpt(target)
            )));
        }
    }
    match body.get("Volumes") {
        None | Some(Value::Null) => {}
        Some(Value::Object(paths)) => {
            for path in paths.keys() {
                if !path.starts_with('/') {
                    return Err(CreateError::Invalid(format!(
                        "invalid mount config: the mount target {:?} is not an absolute path",
                        types::excerpt(path)
                    )));
                }
                if targets.insert(clean_target(path)) {
                    out.push(serde_json::json!({"Type": "volume", "Target": path}));
                }
            }
        }
        Some(_) => return Err(CreateError::Invalid("Volumes must be an object".into())),
    }
    Ok(out)
}

/// A mount target as dockerd compares them (`filepath.Clean`: no trailing or doubled `/`).
fn clean_target(target: &str) -> String {
    let parts: Vec<&str> = target.split('/').filter(|p| !p.is_empty() && *p != ".").collect();
    format!("/{}", parts.join("/"))
}

/// One `HostConfig.Mounts` entry: bind, volume or tmpfs, checked as dockerd's parser checks
/// them before anything is made (the executor applies them).
fn host_mount(m: &Value) -> Result<Value> {
    let Value::Object(fields) = m else {
        return Err(CreateError::Invalid(
            "HostConfig.Mounts entries must be objects".into(),
        ));
    };
    let kind = fields.get("Type").and_then(Value::as_str).unwrap_or("");
    let source = fields.get("Source").and_then(Value::as_str).unwrap_or("");
    let target = fields.get("Target").and_then(Value::as_str).unwrap_or("");
    let invalid = |why: String| {
        CreateError::Invalid(format!(
            "invalid mount config for type {:?}: {why}",
            types::excerpt(kind)
        ))
    };
    if target.is_empty() {
        return Err(invalid("field Target must not be empty".into()));
    }
    if !target.starts_with('/') {
        return Err(invalid(format!(
            "invalid mount path: '{}' mount path must be absolute",
            types::excerpt(target)
        )));
    }
    match kind {
        "bind" => {
            if source.is_empty() {
                return Err(invalid("field Source must not be empty".into()));
            }
            if !source.starts_with('/') {
                return Err(invalid(format!(
                    "invalid mount path: '{}' mount path must be absolute",
                    types::excerpt(source)
                )));
            }
        }
        "volume" => {
            let subpath = fields
                .get("VolumeOptions")
                .and_then(|v| v.get("Subpath"))
                .and_then(Value::as_str)
                .unwrap_or("");
            if !subpath.is_empty() && source.is_empty() {
                return Err(invalid(
                    "must not set Subpath when using anonymous volumes".into(),
                ));
            }
        }
        "tmpfs" => {
            if !source.is_empty() {
                return Err(invalid("field Source must be empty".into()));
            }
        }
        "" => return Err(invalid("mount type unknown".into())),
        other => {
            return Err(CreateError::Unsupported(format!(
                "mount type {:?} is not supported for standalone containers (bind, volume or tmpfs)",
                types::excerpt(other)
            )));
        }
    }
    // What the executor applies of each options object; anything else set is refused by name
    // rather than dropped.
    for (options, applied) in [
        ("BindOptions", &["Propagation"][..]),
        (
            "VolumeOptions",
            &["NoCopy", "Labels", "DriverConfig", "Subpath"][..],
        ),
        ("TmpfsOptions", &["SizeBytes", "Mode"][..]),
    ] {
        if let Some(Value::Object(set)) = fields.get(options)
            && let Some((key, _)) = set
                .iter()
                .find(|(k, v)| !applied.contains(&k.as_str()) && !is_zero(v))
        {
            return Err(CreateError::Unsupported(format!(
                "mount {}: {options}.{} is not supported by shoal yet",
                types::excerpt(target),
                types::excerpt(key)
            )));
        }
    }
    for unsupported in ["ImageOptions", "ClusterOptions"] {
        if fields.get(unsupported).is_some_and(|v| !is_zero(v)) {
            return Err(CreateError::Unsupported(format!(
                "mount {}: {unsupported} is not supported by shoal",
                types::excerpt(target)
            )));
        }
    }
    Ok(m.clone())
}

/// HostConfig fields whose "unset" the docker CLI spells as a value other than zero.
fn is_cli_default(key: &str, value: &Value) -> bool {
    match key {
        // -1: the kernel's swappiness, unchanged.
        "MemorySwappiness" => value.as_i64() == Some(-1),
        _ => false,
    }
}

/// dockerd's container name rule: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`, with an optional leading `/`.
pub fn check_name(name: &str) -> std::result::Result<String, CreateError> {
    let bare = name.strip_prefix('/').unwrap_or(name);
    let mut chars = bare.chars();
    let ok = bare.len() >= 2
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(bare.to_owned())
    } else {
        Err(CreateError::Invalid(format!(
            "Invalid container name ({}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed",
            types::excerpt(name)
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn a_cli_run_body_converts() {
        let b = body(serde_json::json!({
            "Image": "bb:1", "Cmd": ["echo", "hi"], "Env": ["A=1"], "Tty": false,
            "AttachStdout": true, "AttachStderr": true, "Labels": {"x": "y"},
            "ExposedPorts": {}, "Volumes": null, "StopTimeout": 3,
            "HostConfig": {"AutoRemove": true, "Binds": ["/tmp:/data:ro"], "Memory": 1048576,
                "NetworkMode": "default", "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
                "LogConfig": {"Type": "", "Config": {}}, "ConsoleSize": [0, 0], "Privileged": false},
            "NetworkingConfig": {"EndpointsConfig": {}}
        }));
        let c = from_body(&b).unwrap();
        assert!(c.auto_remove);
        assert_eq!(c.spec.container.args, ["echo", "hi"]);
        assert_eq!(c.spec.container.stop_grace_period, Some(3_000_000_000));
        assert_eq!(c.spec.resources.limits.memory_bytes, 1 << 20);
        assert!(c.spec.container.extra.contains("\"Target\":\"/data\""));
    }

    #[test]
    fn keys_match_ignoring_case_as_dockerd() {
        let upper = body(
            serde_json::json!({"Image": "bb", "Cmd": ["true"], "Labels": {"Tier": "a"},
            "HostConfig": {"AutoRemove": true, "Memory": 1024, "RestartPolicy": {"Name": "no"}}}),
        );
        let lower = body(
            serde_json::json!({"image": "bb", "CMD": ["true"], "labels": {"Tier": "a"},
            "hostconfig": {"autoremove": true, "memory": 1024, "restartpolicy": {"name": "no"}}}),
        );
        assert_eq!(from_body(&lower).unwrap(), from_body(&upper).unwrap());
        let refused = body(
            serde_json::json!({"image": "bb", "hostconfig": {"portbindings": {"80/tcp": [{"HostPort": "8080"}]}}}),
        );
        let e = from_body(&refused).unwrap_err().to_string();
        assert!(e.contains("HostConfig.PortBindings"), "{e}");
    }

    #[test]
    fn non_default_unknown_fields_are_refused_by_name() {
        let b = body(serde_json::json!({"Image": "bb", "HostConfig": {"Privileged": true}}));
        let e = from_body(&b).unwrap_err().to_string();
        assert!(e.contains("HostConfig.Privileged"), "{e}");
        let b = body(serde_json::json!({"Image": "bb", "ExposedPorts": {"80/tcp": {}},
            "HostConfig": {"PortBindings": {"80/tcp": [{"HostPort": "8080"}]}}}));
        let e = from_body(&b).unwrap_err().to_string();
        assert!(
            e.contains("HostConfig.PortBindings") && e.contains("routing mesh"),
            "{e}"
        );
        // A swarm network is named for the daemon to attach to; endpoint settings are not.
        let b = body(
            serde_json::json!({"Image": "bb", "HostConfig": {"NetworkMode": "web"},
            "NetworkingConfig": {"EndpointsConfig": {"web": {"Aliases": null, "IPAMConfig": null}}}}),
        );
        assert_eq!(from_body(&b).unwrap().network.as_deref(), Some("web"));
        let b = body(
            serde_json::json!({"Image": "bb", "HostConfig": {"NetworkMode": "web"},
            "NetworkingConfig": {"EndpointsConfig": {"web": {"Aliases": ["db"],
                "IPAMConfig": {"IPv4Address": "10.9.0.7"}}}}}),
        );
        let endpoint = from_body(&b).unwrap().endpoint;
        assert_eq!(endpoint.aliases, ["db"]);
        assert_eq!(endpoint.ipv4_address, Some("10.9.0.7".parse().unwrap()));
        let b = body(
            serde_json::json!({"Image": "bb", "HostConfig": {"NetworkMode": "web"},
            "NetworkingConfig": {"EndpointsConfig": {"web": {"Links": ["db"],
                "IPAMConfig": {"IPv6Address": "fd00::7"}}}}}),
        );
        let e = from_body(&b).unwrap_err().to_string();
        assert!(
            e.contains("NetworkingConfig.EndpointsConfig.web.Links")
                && e.contains("NetworkingConfig.EndpointsConfig.web.IPAMConfig.IPv6Address"),
            "{e}"
        );
        let b = body(
            serde_json::json!({"Image": "bb", "HostConfig": {"NetworkMode": "web"},
            "NetworkingConfig": {"EndpointsConfig": {"web": {"IPAMConfig": {"IPv4Address": "10.9.0.300"}}}}}),
        );
        assert!(
            from_body(&b)
                .unwrap_err()
                .to_string()
                .contains("invalid IPv4 address")
        );
        let b = body(serde_json::json!({"Image": "bb", "HostConfig": {"NetworkMode": "bridge"}}));
        assert!(
            from_body(&b)
                .unwrap_err()
                .to_string()
                .contains("no bridge network")
        );
        let b =
            body(serde_json::json!({"Image": "bb", "Tty": true, "HostConfig": {"ConsoleSize": [24, 80]}}));
        let c = from_body(&b).unwrap().spec.container;
        assert!(
            c.tty && c.extra.contains(r#""ConsoleSize":[24,80]"#),
            "{}",
            c.extra
        );
    }

    #[test]
    fn security_opts_become_privileges_or_are_refused() {
        let c = from_body(&body(serde_json::json!({"Image": "bb",
            "HostConfig": {"SecurityOpt": ["seccomp=unconfined", "no-new-privileges"]}})))
        .unwrap();
        assert!(
            c.spec
                .container
                .extra
                .contains(r#""Privileges":{"NoNewPrivileges":true,"Seccomp":{"Mode":"unconfined"}}"#),
            "{}",
            c.spec.container.extra
        );
        let c = from_body(&body(
            serde_json::json!({"Image": "bb", "HostConfig": {"SecurityOpt": ["seccomp:unconfined"]}}),
        ))
        .unwrap();
        assert!(c.spec.container.extra.contains("unconfined"));
        for (opt, says) in [
            (
                r#"seccomp={"defaultAction":"SCMP_ACT_ALLOW"}"#,
                "custom seccomp profiles",
            ),
            ("apparmor=unconfined", "apparmor=unconfined"),
            ("label=disable", "label=disable"),
        ] {
            let e = from_body(&body(
                serde_json::json!({"Image": "bb", "HostConfig": {"SecurityOpt": [opt]}}),
            ))
            .unwrap_err()
            .to_string();
            assert!(e.contains(says), "{opt}: {e}");
        }
    }

    fn mounts_of(b: serde_json::Value) -> std::result::Result<serde_json::Value, String> {
        let c = from_body(&body(b)).map_err(|e| e.to_string())?;
        let extra: serde_json::Value = serde_json::from_str(&c.spec.container.extra).unwrap();
        Ok(extra["Mounts"].clone())
    }

    #[test]
    fn volumes_binds_and_mounts_become_the_containers_mounts() {
        let mounts = mounts_of(serde_json::json!({"Image": "bb",
            "Volumes": {"/anon": {}, "/data": {}},
            "HostConfig": {"Binds": ["db:/data"], "Mounts": [
                {"type": "volume", "source": "v", "target": "/x", "volumeoptions": {"subpath": "sub", "Labels": {"Source": "kept"}}},
                {"Type": "tmpfs", "Target": "/t"}]}}))
        .unwrap();
        assert_eq!(
            mounts,
            serde_json::json!([
                {"Type": "volume", "Source": "db", "Target": "/data", "ReadOnly": false},
                {"Type": "volume", "Source": "v", "Target": "/x", "VolumeOptions": {"Subpath": "sub", "Labels": {"Source": "kept"}}},
                {"Type": "tmpfs", "Target": "/t"},
                // `/data` is the bind's: only `/anon` gets an anonymous volume.
                {"Type": "volume", "Target": "/anon"},
            ])
        );
        for (b, words) in [
            (
                serde_json::json!({"Image": "bb", "HostConfig": {"Binds": ["a:/d"], "Mounts": [{"Type": "volume", "Target": "/d/"}]}}),
                "Duplicate mount point: /d/",
            ),
            (
                serde_json::json!({"Image": "bb", "HostConfig": {"Mounts": [{"Type": "volume", "Target": "/d", "VolumeOptions": {"Subpath": "s"}}]}}),
                "must not set Subpath when using anonymous volumes",
            ),
            (
                serde_json::json!({"Image": "bb", "HostConfig": {"Mounts": [{"Type": "bind", "Target": "/d"}]}}),
                "invalid mount config for type \"bind\": field Source must not be empty",
            ),
            (
                serde_json::json!({"Image": "bb", "HostConfig": {"Mounts": [{"Type": "npipe", "Source": "x", "Target": "/d"}]}}),
                "mount type \"npipe\" is not supported",
            ),
            (
                serde_json::json!({"Image": "bb", "Volumes": {"rel": {}}}),
                "is not an absolute path",
            ),
            (
                serde_json::json!({"Image": "bb", "HostConfig": {"Mounts": [{"Type": "bind", "Source": "/s", "Target": "/d",
                    "BindOptions": {"Propagation": "rprivate", "CreateMountpoint": true}}]}}),
                "mount /d: BindOptions.CreateMountpoint is not supported",
            ),
            (
                serde_json::json!({"Image": "bb", "HostConfig": {"Mounts": [{"Type": "tmpfs", "Target": "/t",
                    "TmpfsOptions": {"SizeBytes": 10, "Options": [["exec"]]}}]}}),
                "mount /t: TmpfsOptions.Options is not supported",
            ),
        ] {
            let e = mounts_of(b).unwrap_err();
            assert!(e.contains(words), "{e}");
        }
    }

    #[test]
    fn names_follow_dockerds_rule() {
        assert_eq!(check_name("/web-1").unwrap(), "web-1");
        assert!(check_name("a").is_err());
        assert!(check_name("-x").is_err());
        assert!(check_name("a/b").is_err());
    }
}
