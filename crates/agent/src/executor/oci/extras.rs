//! The Docker ContainerSpec fields shoal keeps as JSON (`ContainerSpec.extra`) that the oci
//! executor applies: mounts, read-only rootfs, init, sysctls, ulimits, capabilities and
//! supplementary groups. Any other field that asks for something is refused by name, never
//! dropped.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::executor::{Error, Result};

/// The fields of `ContainerSpec.extra` this executor understands.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Extras {
    /// `Mounts`.
    #[serde(default)]
    pub mounts: Option<Vec<DockerMount>>,
    /// `ReadOnly`: mount the rootfs read-only.
    #[serde(default)]
    pub read_only: bool,
    /// `Init`: run an init process as PID 1.
    #[serde(default)]
    pub init: Option<bool>,
    /// `Sysctls`.
    #[serde(default)]
    pub sysctls: Option<BTreeMap<String, String>>,
    /// `Ulimits`.
    #[serde(default)]
    pub ulimits: Option<Vec<Ulimit>>,
    /// `CapabilityAdd`.
    #[serde(default)]
    pub capability_add: Option<Vec<String>>,
    /// `CapabilityDrop`.
    #[serde(default)]
    pub capability_drop: Option<Vec<String>>,
    /// `Groups`: supplementary groups (numeric, or names in the image's /etc/group).
    #[serde(default)]
    pub groups: Option<Vec<String>>,
    /// `PullOptions`: the registry credentials the service was created with.
    #[serde(default)]
    pub pull_options: Option<PullOptions>,
    /// `StdinOnce` (standalone containers): the container's stdin closes when the first
    /// attached client's input ends.
    #[serde(default)]
    pub stdin_once: bool,
    /// `Privileges`: the seccomp mode and no-new-privileges (the rest is refused).
    #[serde(default)]
    pub privileges: Option<Privileges>,
    /// `ConsoleSize` (standalone containers, `HostConfig.ConsoleSize`): the terminal's
    /// first `[height, width]`.
    #[serde(default)]
    pub console_size: Option<[u16; 2]>,
}

/// `Privileges`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Privileges {
    /// `Seccomp`: default, unconfined (custom is refused).
    #[serde(default)]
    pub seccomp: Option<super::seccomp::SeccompOpts>,
    /// `AppArmor`: only `disabled` (shoal applies no AppArmor profile).
    #[serde(default, rename = "AppArmor")]
    pub app_armor: Option<AppArmor>,
    /// `NoNewPrivileges`: set the process's no_new_privs bit.
    #[serde(default)]
    pub no_new_privileges: bool,
    /// `CredentialSpec`, `SELinuxContext`: refused unless empty.
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// `Privileges.AppArmor`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AppArmor {
    /// `default` or `disabled`.
    #[serde(default)]
    pub mode: String,
}

/// `PullOptions`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PullOptions {
    /// Base64 `X-Registry-Auth` as `--with-registry-auth` sends it.
    #[serde(default)]
    pub registry_auth: String,
}

impl Extras {
    /// The seccomp mode asked for (the default profile unless `Privileges` says otherwise).
    pub fn seccomp(&self) -> Result<super::seccomp::Mode> {
        match self.privileges.as_ref().and_then(|p| p.seccomp.as_ref()) {
            Some(opts) => opts.mode(),
            None => Ok(super::seccomp::Mode::Default),
        }
    }

    /// Whether `Privileges.NoNewPrivileges` is set.
    pub fn no_new_privileges(&self) -> bool {
        self.privileges.as_ref().is_some_and(|p| p.no_new_privileges)
    }

    /// The terminal's first size (zero: the kernel's default until a resize).
    pub fn console_size(&self) -> super::runtime::ConsoleSize {
        let [height, width] = self.console_size.unwrap_or_default();
        super::runtime::ConsoleSize { height, width }
    }

    /// The registry credentials, if the service carries any.
    pub fn registry_auth(&self) -> Option<&str> {
        self.pull_options
            .as_ref()
            .map(|p| p.registry_auth.as_str())
            .filter(|a| !a.is_empty())
    }
}

/// Docker's mount object (`api/types/mount.Mount`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DockerMount {
    /// `bind`, `volume` or `tmpfs` (others are refused).
    #[serde(default)]
    pub r#type: String,
    /// Host path (bind) or volume name (volume; empty = anonymous).
    #[serde(default)]
    pub source: String,
    /// Path in the container.
    #[serde(default)]
    pub target: String,
    /// Mount read-only.
    #[serde(default)]
    pub read_only: bool,
    /// Bind options.
    #[serde(default)]
    pub bind_options: Option<BindOptions>,
    /// Volume options.
    #[serde(default)]
    pub volume_options: Option<Value>,
    /// Tmpfs options.
    #[serde(default)]
    pub tmpfs_options: Option<TmpfsOptions>,
}

/// `BindOptions`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BindOptions {
    /// `rprivate`, `private`, `rshared`, `shared`, `rslave`, `slave` ("" = rprivate).
    #[serde(default)]
    pub propagation: String,
    /// Anything else asked of a bind is refused.
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// `TmpfsOptions`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TmpfsOptions {
    /// Size limit in bytes (0 = unlimited).
    #[serde(default)]
    pub size_bytes: i64,
    /// Permission bits (0 = 1777).
    #[serde(default)]
    pub mode: u32,
    /// Anything else asked of a tmpfs is refused.
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// Docker's ulimit (`Name` without the `RLIMIT_` prefix, lower case).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Ulimit {
    /// e.g. `nofile`.
    pub name: String,
    /// Soft limit.
    pub soft: i64,
    /// Hard limit.
    pub hard: i64,
}

/// Fields applied by [`Extras`]; everything else must be empty. The generic reservations
/// reach the task as `DOCKER_RESOURCE_*` variables the dispatcher adds to its env.
const APPLIED: [&str; 13] = [
    "PullOptions",
    types::generic::RESERVED_KEY,
    "ConsoleSize",
    "StdinOnce",
    "Privileges",
    "Mounts",
    "ReadOnly",
    "Init",
    "Sysctls",
    "Ulimits",
    "CapabilityAdd",
    "CapabilityDrop",
    "Groups",
];

/// Parses `extra`, refusing fields the executor cannot apply.
pub fn parse(extra: &str) -> Result<Extras> {
    if extra.trim().is_empty() {
        return Ok(Extras::default());
    }
    let fields: Map<String, Value> = serde_json::from_str(extra)
        .map_err(|e| Error::Invalid(format!("ContainerSpec extras are not a JSON object: {e}")))?;
    let refused: Vec<&str> = fields
        .iter()
        .filter(|(key, value)| {
            !APPLIED.contains(&key.as_str())
                && !crate::payloads::DELIVERED.contains(&key.as_str())
                && !crate::executor::process::unsupported::is_default(key, value)
        })
        .map(|(key, _)| key.as_str())
        .collect();
    if !refused.is_empty() {
        return Err(Error::Invalid(format!(
            "the oci executor does not support ContainerSpec.{} yet; remove {}",
            refused.join(", ContainerSpec."),
            if refused.len() == 1 { "it" } else { "them" }
        )));
    }
    let extras: Extras = serde_json::from_value(Value::Object(fields))
        .map_err(|e| Error::Invalid(format!("invalid ContainerSpec: {e}")))?;
    if extras.init == Some(true) {
        return Err(Error::Invalid(
            "ContainerSpec.Init: the oci executor has no init process to run as PID 1 yet; \
             run the service without --init"
                .into(),
        ));
    }
    if let Some(p) = &extras.privileges {
        check_privileges(p)?;
    }
    for m in extras.mounts.iter().flatten() {
        if let Some(rest) = m.bind_options.as_ref().map(|b| &b.rest)
            && let Some((k, _)) = rest
                .iter()
                .find(|(k, v)| !crate::executor::process::unsupported::is_default(k, v))
        {
            return Err(Error::Invalid(format!(
                "mount {}: BindOptions.{k} is not supported by the oci executor",
                m.target
            )));
        }
        if let Some(rest) = m.tmpfs_options.as_ref().map(|t| &t.rest)
            && let Some((k, _)) = rest
                .iter()
                .find(|(k, v)| !crate::executor::process::unsupported::is_default(k, v))
        {
            return Err(Error::Invalid(format!(
                "mount {}: TmpfsOptions.{k} is not supported by the oci executor",
                m.target
            )));
        }
        if let Some(config) = m.volume_options.as_ref().and_then(|v| v.get("DriverConfig"))
            && !config.is_null()
        {
            let driver = config.get("Name").and_then(Value::as_str).unwrap_or("");
            let options: std::collections::BTreeMap<String, String> = match config.get("Options") {
                None | Some(Value::Null) => Default::default(),
                Some(o) => serde_json::from_value(o.clone()).map_err(|e| {
                    Error::Invalid(format!(
                        "mount {}: VolumeOptions.DriverConfig.Options: {e}",
                        m.target
                    ))
                })?,
            };
            types::volume::check_driver(driver, &options)
                .map_err(|e| Error::Invalid(format!("mount {}: {e}", m.target)))?;
        }
    }
    Ok(extras)
}

/// Refuses what `Privileges` asks that this executor cannot apply.
fn check_privileges(p: &Privileges) -> Result<()> {
    if let Some((k, _)) = p
        .rest
        .iter()
        .find(|(k, v)| !crate::executor::process::unsupported::is_default(k, v))
    {
        return Err(Error::Invalid(format!(
            "Privileges.{k} is not supported by the oci executor; remove it"
        )));
    }
    if let Some(a) = &p.app_armor
        && !a.mode.is_empty()
        && a.mode != "disabled"
    {
        return Err(Error::Invalid(format!(
            "Privileges.AppArmor.Mode {:?}: the oci executor applies no AppArmor profile (only \"disabled\" is accepted)",
            a.mode
        )));
    }
    if let Some(s) = &p.seccomp {
        s.mode()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applies_known_fields_and_refuses_the_rest_by_name() {
        let e = parse(
            r#"{"ReadOnly":true,"Sysctls":{"net.ipv4.ip_forward":"1"},"Mounts":[{"Type":"tmpfs","Target":"/t"}],"Isolation":"default","Hosts":[]}"#,
        )
        .unwrap();
        assert!(e.read_only);
        assert_eq!(e.mounts.as_ref().map(Vec::len), Some(1));
        let err = parse(r#"{"Hosts":["1.2.3.4 a"],"DNSConfig":{"Nameservers":["1.1.1.1"]}}"#)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("ContainerSpec.DNSConfig, ContainerSpec.Hosts"),
            "{err}"
        );
        let err = parse(r#"{"Init":true}"#).unwrap_err().to_string();
        assert!(err.contains("no init process"), "{err}");
        assert!(parse("[1]").is_err());
        let err = parse(
            r#"{"Mounts":[{"Type":"volume","Target":"/v","VolumeOptions":{"DriverConfig":{"Name":"nfs"}}}]}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("volume driver \"nfs\""), "{err}");
    }

    #[test]
    fn privileges_seccomp_modes() {
        use crate::executor::oci::seccomp::Mode;
        assert_eq!(parse("{}").unwrap().seccomp().unwrap(), Mode::Default);
        let e = parse(r#"{"Privileges":{"Seccomp":{"Mode":"unconfined"},"NoNewPrivileges":true,"CredentialSpec":null}}"#)
            .unwrap();
        assert_eq!(e.seccomp().unwrap(), Mode::Unconfined);
        assert!(e.no_new_privileges());
        let err = parse(r#"{"Privileges":{"Seccomp":{"Mode":"custom","Profile":"{}"}}}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("custom seccomp profiles"), "{err}");
        let err = parse(r#"{"Privileges":{"SELinuxContext":{"User":"u"}}}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("Privileges.SELinuxContext"), "{err}");
        let err = parse(r#"{"Privileges":{"AppArmor":{"Mode":"default"}}}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("AppArmor"), "{err}");
    }
}
