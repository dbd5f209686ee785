//! Typed reads of a create body's JSON values: absent and `null` read as the zero value,
//! a value of the wrong type is dockerd's 400 naming the key.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::{CreateError, Result};

/// A JSON value that asks for nothing: null, false, 0, "", and empty or all-zero arrays and
/// objects.
pub(super) fn is_zero(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.iter().all(is_zero),
        Value::Object(o) => o.values().all(is_zero),
    }
}

pub(super) fn string(map: &Map<String, Value>, key: &str) -> Result<String> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(CreateError::Invalid(format!("{key} must be a string"))),
    }
}

pub(super) fn boolean(map: &Map<String, Value>, key: &str) -> Result<bool> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(CreateError::Invalid(format!("{key} must be a boolean"))),
    }
}

pub(super) fn integer(map: &Map<String, Value>, key: &str) -> Result<i64> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(0),
        Some(v) => v
            .as_i64()
            .ok_or_else(|| CreateError::Invalid(format!("{key} must be an integer"))),
    }
}

pub(super) fn strings(value: &Value, key: &str) -> Result<Vec<String>> {
    match value {
        Value::Null => Ok(Vec::new()),
        // dockerd takes a single string for Cmd and Entrypoint too.
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|i| {
                i.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| CreateError::Invalid(format!("{key} must be a list of strings")))
            })
            .collect(),
        _ => Err(CreateError::Invalid(format!("{key} must be a list of strings"))),
    }
}

pub(super) fn optional_strings(map: &Map<String, Value>, key: &str) -> Result<Vec<String>> {
    map.get(key).map_or(Ok(Vec::new()), |v| strings(v, key))
}

pub(super) fn labels(map: &Map<String, Value>) -> Result<BTreeMap<String, String>> {
    match map.get("Labels") {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(o)) => o
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                _ => Err(CreateError::Invalid("Labels values must be strings".into())),
            })
            .collect(),
        Some(_) => Err(CreateError::Invalid("Labels must be an object".into())),
    }
}
