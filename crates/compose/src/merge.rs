//! Several compose files as one stack (`stack deploy -c a.yml -c b.yml`): each file is read and
//! interpolated on its own, then each later file is merged into the result so far, by the
//! rules docker's stack deploy uses (its compose loader's merge):
//!
//! ```text
//! top level   services: merged by name (below); networks, volumes, secrets, configs: an
//!             entry of a later file replaces the whole entry of the same key; other keys
//!             (version, x-…): the later value
//! a service   scalars: the later value; mappings (deploy, resources, …): merged key by key
//!             environment, labels, deploy.labels, sysctls, extra_hosts: merged by variable,
//!               either form (list of KEY=VALUE or mapping)
//!             command, entrypoint: replaced whole, unless the later one is empty
//!             secrets, configs: by source (a later entry replaces one with its source),
//!               sorted by source; volumes: by target, sorted by target
//!             ports: appended, identical entries once; networks: by name, a later entry's
//!               aliases replace the earlier ones; logging: options merged under one driver,
//!               replaced whole under another; ulimits: by name
//!             depends_on: by service; other lists (dns, cap_add, constraints, …): appended
//! ```
//!
//! A key given `null` (or left out) never overrides. Two deliberate differences from docker,
//! where its result is not what either file says: `healthcheck.test` is replaced rather than
//! appended to (two commands glued into one), and an explicit `false`/`0`/`""` overrides (Go's
//! merge cannot tell them from "not given", so docker keeps the earlier value).

use serde_json::{Map, Value};

/// Merges compose document `over` into `base` (both interpolated top-level mappings).
pub(crate) fn files(base: &mut Map<String, Value>, over: Map<String, Value>) {
    for (key, value) in over {
        if value.is_null() {
            continue;
        }
        match key.as_str() {
            "services" => services(base, value),
            "networks" | "volumes" | "secrets" | "configs" => match (base.get_mut(&key), value) {
                (Some(Value::Object(b)), Value::Object(o)) => b.extend(o),
                (_, value) => {
                    base.insert(key, value);
                }
            },
            _ => {
                base.insert(key, value);
            }
        }
    }
}

fn services(base: &mut Map<String, Value>, over: Value) {
    let Value::Object(over) = over else {
        // Not a mapping: the later file's shape wins, and parsing reports it.
        base.insert("services".into(), over);
        return;
    };
    let Some(Value::Object(all)) = base.get_mut("services") else {
        base.insert("services".into(), Value::Object(over));
        return;
    };
    for (name, svc) in over {
        match (all.get_mut(&name), svc) {
            (Some(Value::Object(b)), Value::Object(o)) => service(b, o),
            (_, svc) => {
                all.insert(name, svc);
            }
        }
    }
}

/// One service present in both files.
fn service(base: &mut Map<String, Value>, over: Map<String, Value>) {
    for (key, value) in over {
        if value.is_null() {
            continue;
        }
        let merged = match (key.as_str(), base.remove(&key)) {
            (_, None | Some(Value::Null)) => value,
            ("environment" | "labels" | "sysctls" | "extra_hosts", Some(b)) => pairs(b, value),
            ("command" | "entrypoint", Some(b)) => {
                if is_empty(&value) {
                    b
                } else {
                    value
                }
            }
            ("secrets" | "configs", Some(b)) => keyed(b, value, source_key),
            ("volumes", Some(b)) => keyed(b, value, volume_target),
            ("ports", Some(b)) => {
                let mut all = list(b);
                for p in list(value) {
                    if !all.contains(&p) {
                        all.push(p);
                    }
                }
                Value::Array(all)
            }
            ("networks", Some(b)) => networks(b, value),
            ("logging", Some(b)) => logging(b, value),
            ("ulimits" | "depends_on", Some(b)) => {
                let mut b = as_map(b, depends_entry);
                b.extend(as_map(value, depends_entry));
                Value::Object(b)
            }
            ("deploy", Some(Value::Object(mut b))) => {
                if let Value::Object(mut o) = value {
                    if let Some(labels) = o.remove("labels").filter(|l| !l.is_null()) {
                        let merged = match b.remove("labels") {
                            Some(old) if !old.is_null() => pairs(old, labels),
                            _ => labels,
                        };
                        b.insert("labels".into(), merged);
                    }
                    deep(&mut b, o);
                    Value::Object(b)
                } else {
                    value
                }
            }
            ("healthcheck", Some(Value::Object(mut b))) => {
                if let Value::Object(mut o) = value {
                    if let Some(test) = o.remove("test").filter(|t| !t.is_null()) {
                        b.insert("test".into(), test);
                    }
                    deep(&mut b, o);
                    Value::Object(b)
                } else {
                    value
                }
            }
            (_, Some(b)) => {
                let mut one = Map::new();
                one.insert(key.clone(), b);
                let mut later = Map::new();
                later.insert(key.clone(), value);
                deep(&mut one, later);
                one.remove(&key).unwrap_or(Value::Null)
            }
        };
        base.insert(key, merged);
    }
}

/// The generic rule: mappings key by key, lists appended, anything else replaced.
fn deep(base: &mut Map<String, Value>, over: Map<String, Value>) {
    for (key, value) in over {
        if value.is_null() {
            continue;
        }
        let merged = match (base.remove(&key), value) {
            (Some(Value::Object(mut b)), Value::Object(o)) => {
                deep(&mut b, o);
                Value::Object(b)
            }
            (Some(b @ (Value::Array(_) | Value::String(_))), o @ Value::Array(_))
            | (Some(b @ Value::Array(_)), o @ Value::String(_)) => {
                // A one-word list may be written as the word (`dns: 8.8.8.8`).
                let mut all = list(b);
                all.extend(list(o));
                Value::Array(all)
            }
            (_, o) => o,
        };
        base.insert(key, merged);
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// A list, a lone value taken as a list of one.
fn list(v: Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a,
        Value::Null => Vec::new(),
        other => vec![other],
    }
}

/// A KEY=VALUE list or a mapping, as a mapping (a list item without `=` maps to null, as
/// `environment: [HOME]` takes the variable from the shell).
fn pair_map(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => list(other)
            .into_iter()
            .map(|item| match item {
                Value::String(s) => match s.split_once('=') {
                    Some((k, v)) => (k.to_string(), Value::String(v.to_string())),
                    None => (s, Value::Null),
                },
                other => (other.to_string(), Value::Null),
            })
            .collect(),
    }
}

fn pairs(base: Value, over: Value) -> Value {
    let mut b = pair_map(base);
    b.extend(pair_map(over));
    Value::Object(b)
}

/// A list or mapping as a mapping; list items become keys with `entry(item)` as value.
fn as_map(v: Value, entry: fn() -> Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => list(other)
            .into_iter()
            .map(|item| match item {
                Value::String(s) => (s, entry()),
                other => (other.to_string(), entry()),
            })
            .collect(),
    }
}

/// `depends_on: [db]` means started; so does a bare `db:` under `networks:` mean no options.
fn depends_entry() -> Value {
    serde_json::json!({"condition": "service_started"})
}

fn no_options() -> Value {
    Value::Null
}

/// Lists whose entries are keyed (`key(entry)`): a later entry replaces the earlier one with
/// its key; the result sorted by key, as docker writes it.
fn keyed(base: Value, over: Value, key: fn(&Value) -> String) -> Value {
    let mut all: Vec<(String, Value)> = Vec::new();
    for entry in list(base).into_iter().chain(list(over)) {
        let k = key(&entry);
        match all.iter_mut().find(|(have, _)| *have == k) {
            Some(slot) => slot.1 = entry,
            None => all.push((k, entry)),
        }
    }
    all.sort_by(|a, b| a.0.cmp(&b.0));
    Value::Array(all.into_iter().map(|(_, v)| v).collect())
}

/// A secret or config reference's source (the short form is the source).
fn source_key(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Object(m) => m
            .get("source")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        other => other.to_string(),
    }
}

/// A volume's target: `source:target[:mode]`, a lone path, or the long form's `target`.
fn volume_target(v: &Value) -> String {
    match v {
        Value::String(s) => {
            let parts: Vec<&str> = s.split(':').collect();
            match parts.as_slice() {
                [only] => (*only).to_string(),
                [_, target, ..] => (*target).to_string(),
                [] => String::new(),
            }
        }
        Value::Object(m) => m
            .get("target")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        other => other.to_string(),
    }
}

/// A service's networks by name: a later entry with options replaces the aliases (and sets
/// the addresses it gives); a later bare name keeps the earlier options.
fn networks(base: Value, over: Value) -> Value {
    let mut b = as_map(base, no_options);
    for (name, o) in as_map(over, no_options) {
        match (b.get_mut(&name), o) {
            (Some(_), Value::Null) => {}
            (Some(Value::Object(have)), Value::Object(o)) => {
                match o.get("aliases") {
                    Some(a) => have.insert("aliases".into(), a.clone()),
                    None => have.remove("aliases"),
                };
                for (k, v) in o {
                    if k != "aliases" && !is_empty(&v) && !v.is_null() {
                        have.insert(k, v);
                    }
                }
            }
            (_, o) => {
                b.insert(name, o);
            }
        }
    }
    Value::Object(b)
}

/// Logging: one driver (or one side without a driver) merges options; another replaces all.
fn logging(base: Value, over: Value) -> Value {
    let (Value::Object(mut b), Value::Object(mut o)) = (base, over.clone()) else {
        return over;
    };
    let driver = |m: &Map<String, Value>| {
        m.get("driver")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let (bd, od) = (driver(&b), driver(&o));
    if !bd.is_empty() && !od.is_empty() && bd != od {
        return over;
    }
    if bd.is_empty() && !od.is_empty() {
        b.insert("driver".into(), Value::String(od));
    }
    let options = pairs(
        b.remove("options").unwrap_or(Value::Null),
        o.remove("options").unwrap_or(Value::Null),
    );
    b.insert("options".into(), options);
    Value::Object(b)
}

#[cfg(test)]
#[path = "merge_tests.rs"]
mod tests;
