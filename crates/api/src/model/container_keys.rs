//! The ContainerSpec's JSON keys, for Go's case-insensitive matching (`fold.rs`): the spec
//! keeps the fields shoal does not model as JSON (`extra`, a `#[serde(flatten)]` map), so serde
//! cannot name them; this list does, down to their nested shapes (moby's `api/swagger.yaml`).

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::ContainerSpec;
use super::fold::{Folded, canonical_keys};

/// Every key of a ContainerSpec and of the shapes inside it.
const NAMES: &[&str] = &[
    // ContainerSpec
    "Image",
    "Labels",
    "Command",
    "Args",
    "Hostname",
    "Env",
    "Dir",
    "User",
    "Groups",
    "Privileges",
    "TTY",
    "OpenStdin",
    "ReadOnly",
    "Mounts",
    "StopSignal",
    "StopGracePeriod",
    "Healthcheck",
    "Hosts",
    "DNSConfig",
    "Secrets",
    "Configs",
    "Isolation",
    "Init",
    "Sysctls",
    "CapabilityAdd",
    "CapabilityDrop",
    "Ulimits",
    "OomScoreAdj",
    // Privileges
    "CredentialSpec",
    "Config",
    "File",
    "Registry",
    "SELinuxContext",
    "Disable",
    "Role",
    "Type",
    "Level",
    "Seccomp",
    "Mode",
    "Profile",
    "AppArmor",
    "NoNewPrivileges",
    // Mount
    "Target",
    "Source",
    "Consistency",
    "BindOptions",
    "Propagation",
    "NonRecursive",
    "CreateMountpoint",
    "ReadOnlyNonRecursive",
    "ReadOnlyForceRecursive",
    "VolumeOptions",
    "NoCopy",
    "DriverConfig",
    "Name",
    "Options",
    "Subpath",
    "ImageOptions",
    "TmpfsOptions",
    "SizeBytes",
    // HealthConfig
    "Test",
    "Interval",
    "Timeout",
    "Retries",
    "StartPeriod",
    "StartInterval",
    // DNSConfig
    "Nameservers",
    "Search",
    // SecretReference, ConfigReference
    "UID",
    "GID",
    "SecretID",
    "SecretName",
    "Runtime",
    "ConfigID",
    "ConfigName",
    // Ulimit
    "Soft",
    "Hard",
];

/// Maps whose keys are the user's, never renamed.
const FREE_FORM: &[&str] = &["Labels", "Sysctls", "Options"];

/// `TaskTemplate.ContainerSpec`: keys renamed to their Docker spelling, then decoded.
pub(crate) fn container_spec<'de, D>(deserializer: D) -> Result<Option<ContainerSpec>, D::Error>
where
    D: Deserializer<'de>,
{
    use serde::de::Error;
    let Some(value) = Option::<Value>::deserialize(deserializer)? else {
        return Ok(None);
    };
    let value = canonical_keys(value, NAMES, FREE_FORM);
    ContainerSpec::deserialize(Folded(value))
        .map(Some)
        .map_err(D::Error::custom)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use crate::model::TaskSpec;
    use crate::model::fold::from_value;

    #[test]
    fn kept_fields_and_typed_ones_fold() {
        let spec: TaskSpec = from_value(json!({"containerspec": {
            "image": "busybox",
            "tty": true,
            "mounts": [{"type": "tmpfs", "target": "/tmp", "tmpfsoptions": {"sizebytes": 1}}],
            "sysctls": {"net.core.somaxconn": "1"},
            "healthcheck": {"test": ["NONE"]},
        }}))
        .unwrap();
        let c = spec.container_spec.unwrap();
        assert_eq!((c.image.as_str(), c.tty), ("busybox", true));
        assert_eq!(c.healthcheck.unwrap().test, ["NONE"]);
        assert_eq!(
            c.extra["Mounts"],
            json!([{"Type": "tmpfs", "Target": "/tmp", "TmpfsOptions": {"SizeBytes": 1}}])
        );
        assert_eq!(c.extra["Sysctls"], json!({"net.core.somaxconn": "1"}));
    }
}
