//! The interpolated document → [`model::File`], one entry at a time so that an error names
//! where it is (`services.web: …`) and every key no struct takes is collected with its path.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{Result, invalid};
use crate::model::File;

/// Top-level keys taken without a warning beside the sections.
const INFORMATIONAL: [&str; 2] = ["version", "name"];

/// Parses the document; paths of ignored keys (not `x-` ones) go to `ignored`.
pub fn parse(doc: Value, ignored: &mut Vec<String>) -> Result<File> {
    let Value::Object(top) = doc else {
        return Err(invalid("file", "top-level object must be a mapping"));
    };
    let mut file = File::default();
    for (key, value) in top {
        match key.as_str() {
            "services" => file.services = section(&key, value, ignored, false)?,
            "networks" => file.networks = section(&key, value, ignored, true)?,
            "volumes" => file.volumes = section(&key, value, ignored, true)?,
            "secrets" => file.secrets = section(&key, value, ignored, false)?,
            "configs" => file.configs = section(&key, value, ignored, false)?,
            "version" => file.version = Some(value),
            "name" => file.name = value.as_str().map(str::to_string),
            k if k.starts_with("x-") => {}
            k => {
                debug_assert!(!INFORMATIONAL.contains(&k));
                ignored.push(k.to_string());
            }
        }
    }
    Ok(file)
}

/// One section's entries; `nullable` sections allow `key:` with no body.
fn section<T: DeserializeOwned + Default>(
    name: &str,
    value: Value,
    ignored: &mut Vec<String>,
    nullable: bool,
) -> Result<BTreeMap<String, T>> {
    let map = match value {
        Value::Null => return Ok(BTreeMap::new()),
        Value::Object(map) => map,
        other => {
            return Err(invalid(
                name,
                format!("expected a mapping, found {}", kind(&other)),
            ));
        }
    };
    let mut out = BTreeMap::new();
    for (key, entry) in map {
        if key.starts_with("x-") {
            continue;
        }
        let path = format!("{name}.{key}");
        if entry.is_null() && nullable {
            out.insert(key, T::default());
            continue;
        }
        if !entry.is_object() {
            return Err(invalid(
                &path,
                format!("expected a mapping, found {}", kind(&entry)),
            ));
        }
        let parsed: T = serde_ignored::deserialize(entry, |p| {
            let p = p.to_string();
            if !p.split('.').any(|seg| seg.starts_with("x-")) {
                ignored.push(format!("{path}.{p}"));
            }
        })
        .map_err(|e| invalid(&path, e.to_string()))?;
        out.insert(key, parsed);
    }
    Ok(out)
}

/// A JSON value's kind, for messages.
pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}
