//! What the process executor cannot do, refused rather than dropped.
//!
//! A task runs as a native process on the node: there is no image root filesystem to mount
//! into, no capability set or sysctl namespace of its own, no resolver config to write. Docker
//! ContainerSpec fields that shoal does not model travel in `ContainerSpec.extra` (JSON text);
//! any of them that asks for something (not null, empty, false or the default) would be
//! silently ignored here, so the task is rejected with the fields named instead.

use serde_json::{Map, Value};

use crate::executor::{Error, Result};

/// Refuses a task whose spec asks for container features the process executor lacks.
pub fn check(extra: &str) -> Result<()> {
    if extra.trim().is_empty() {
        return Ok(());
    }
    let fields: Map<String, Value> = serde_json::from_str(extra)
        .map_err(|e| Error::Invalid(format!("ContainerSpec extras are not a JSON object: {e}")))?;
    let asked: Vec<&str> = fields
        .iter()
        // Generic reservations reach the process as the env the dispatcher added.
        .filter(|(key, _)| key.as_str() != types::generic::RESERVED_KEY)
        .filter(|(key, value)| !crate::payloads::DELIVERED.contains(&key.as_str()) && !is_default(key, value))
        .map(|(key, _)| key.as_str())
        .collect();
    if asked.is_empty() {
        return Ok(());
    }
    Err(Error::Invalid(format!(
        "the process executor cannot apply ContainerSpec.{} (a task here is a native process, \
         not a container); remove {} or run the service on nodes with a container executor",
        asked.join(", ContainerSpec."),
        if asked.len() == 1 { "it" } else { "them" }
    )))
}

/// Whether a field's value asks for nothing.
pub(crate) fn is_default(key: &str, value: &Value) -> bool {
    match value {
        Value::Null | Value::Bool(false) => true,
        Value::String(s) => s.is_empty() || (key == "Isolation" && s == "default"),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.values().all(|v| is_default("", v)),
        Value::Number(_) | Value::Bool(true) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn nothing_asked_runs() {
        for extra in [
            "",
            "{}",
            r#"{"Isolation":"default","DNSConfig":{},"Init":false,"Mounts":[],"Hosts":null}"#,
            r#"{"DNSConfig":{"Nameservers":[],"Search":null}}"#,
            // Generic reservations reach the process as env.
            r#"{"ReservedGenericResources":[{"DiscreteResourceSpec":{"Kind":"gpu","Value":1}}]}"#,
        ] {
            assert!(check(extra).is_ok(), "{extra}");
        }
    }

    #[test]
    fn container_features_are_refused_by_name() {
        let err = check(r#"{"Mounts":[{"Type":"tmpfs","Target":"/t"}],"Init":true,"Isolation":"default"}"#)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("ContainerSpec.Init, ContainerSpec.Mounts") && err.contains("remove them"),
            "{err}"
        );
        let err = check(r#"{"ReadOnly":true}"#).unwrap_err().to_string();
        assert!(
            err.contains("ContainerSpec.ReadOnly") && err.contains("remove it"),
            "{err}"
        );
        let err = check(r#"{"Isolation":"hyperv"}"#).unwrap_err().to_string();
        assert!(err.contains("ContainerSpec.Isolation"), "{err}");
    }

    #[test]
    fn garbage_is_an_invalid_spec_not_a_panic() {
        assert!(check("[1,2]").is_err());
        assert!(check("{").is_err());
    }
}
