//! The pieces the container flags are applied with: Docker's spellings of flag values
//! (capabilities, `--env-file`, `--host`, `--ulimit`, `--sysctl`) and edits of the JSON lists
//! and objects in the container spec's `extra` fields.

use serde_json::{Map, Value, json};

use crate::cli::service::values;

/// Sorts a list of strings in place.
pub(super) fn sort_list(extra: &mut Map<String, Value>, field: &str) {
    if let Some(Value::Array(items)) = extra.get_mut(field) {
        items.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
    }
}

/// Docker's spelling of a capability: upper case with the `CAP_` prefix (`ALL` stays).
pub(super) fn capability(name: &str) -> String {
    let upper = name.trim().to_ascii_uppercase();
    if upper == "ALL" || upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    }
}

/// Docker's `--env-file`: `KEY=value` lines, `#` comments and blank lines skipped, a bare
/// `KEY` taking its value from our environment (dropped when unset, as docker does).
pub(super) fn env_file(path: &std::path::Path) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read env file {}: {e}", path.display()))?;
    let mut env = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let key = line.split_once('=').map_or(line, |(k, _)| k);
        if key.is_empty() || key.contains(char::is_whitespace) {
            anyhow::bail!(
                "{}:{}: variable {key:?} contains whitespaces",
                path.display(),
                n + 1
            );
        }
        if line.contains('=') {
            env.push(line.to_string());
        } else if let Ok(value) = std::env::var(key) {
            env.push(format!("{key}={value}"));
        }
    }
    Ok(env)
}

/// `host:ip` → docker's stored `ip host`.
pub(super) fn host_entry(mapping: &str) -> anyhow::Result<Value> {
    match mapping.split_once(':') {
        Some((host, ip)) if !host.is_empty() && !ip.is_empty() => Ok(format!("{ip} {host}").into()),
        _ => anyhow::bail!("invalid host mapping {mapping:?}: expected host:ip"),
    }
}

/// `nofile=1024:2048` (or `nofile=1024`) → docker's Ulimit object, replacing one of that name.
pub(super) fn add_ulimit(extra: &mut Map<String, Value>, text: &str) -> anyhow::Result<()> {
    let invalid = || anyhow::anyhow!("invalid ulimit {text:?}: expected name=soft[:hard]");
    let (name, limits) = text.split_once('=').ok_or_else(invalid)?;
    let (soft, hard) = limits.split_once(':').unwrap_or((limits, limits));
    let soft: i64 = soft.parse().map_err(|_| invalid())?;
    let hard: i64 = hard.parse().map_err(|_| invalid())?;
    if name.is_empty() || soft > hard {
        return Err(invalid());
    }
    let mut ulimits = list(extra, "Ulimits");
    ulimits.retain(|u| u.get("Name").and_then(Value::as_str) != Some(name));
    ulimits.push(json!({"Name": name, "Soft": soft, "Hard": hard}));
    set_list(extra, "Ulimits", ulimits);
    Ok(())
}

pub(super) fn add_sysctl(extra: &mut Map<String, Value>, text: &str) {
    let (key, value) = values::label(text);
    let sysctls = extra.entry("Sysctls").or_insert_with(|| json!({}));
    if let Some(map) = sysctls.as_object_mut() {
        map.insert(key, value.into());
    }
}

pub(super) fn edit_dns(extra: &mut Map<String, Value>, field: &str, adds: &[String], removes: &[String]) {
    if adds.is_empty() && removes.is_empty() {
        return;
    }
    let config = extra.entry("DNSConfig").or_insert_with(|| json!({}));
    if let Some(config) = config.as_object_mut() {
        edit_list(config, field, adds, removes, |a, b| a == b);
    }
}

/// The JSON array at `field` (empty when absent).
pub(super) fn list(extra: &Map<String, Value>, field: &str) -> Vec<Value> {
    extra
        .get(field)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// Sets the array, or removes the field when empty (docker omits empty lists).
pub(super) fn set_list(extra: &mut Map<String, Value>, field: &str, items: Vec<Value>) {
    if items.is_empty() {
        extra.remove(field);
    } else {
        extra.insert(field.into(), Value::Array(items));
    }
}

/// Adds each of `adds` not already there, removes `removes`.
pub(super) fn edit_list<T: Into<Value> + Clone>(
    extra: &mut Map<String, Value>,
    field: &str,
    adds: &[T],
    removes: &[String],
    same: impl Fn(&Value, &Value) -> bool,
) {
    if adds.is_empty() && removes.is_empty() {
        return;
    }
    let mut items = list(extra, field);
    items.retain(|item| !removes.iter().any(|r| same(item, &Value::from(r.as_str()))));
    for add in adds {
        let add: Value = add.clone().into();
        if !items.iter().any(|item| same(item, &add)) {
            items.push(add);
        }
    }
    set_list(extra, field, items);
}
