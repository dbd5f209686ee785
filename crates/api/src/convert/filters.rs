//! Docker's `filters` query parameter: `{"role":{"manager":true}}`, or the legacy
//! `{"role":["manager"]}`, into typed filters with dockerd's checks and messages.

use std::collections::BTreeMap;

use rules::controlapi::node::NodeFilters;
use rules::controlapi::service::ServiceFilters;
use rules::controlapi::task::TaskFilters;
use serde_json::Value;

use crate::error::{Error, Result};

/// Filter keys `GET /nodes` accepts.
const NODE_FILTER_KEYS: &[&str] = &["id", "name", "role", "membership", "label", "node.label"];

/// Filter keys `GET /services` accepts (`runtime` is accepted; every service runs containers).
const SERVICE_FILTER_KEYS: &[&str] = &["id", "name", "label", "mode", "runtime"];

/// Filter keys `GET /tasks` accepts; `_up-to-date` is the docker CLI's internal one.
const TASK_FILTER_KEYS: &[&str] = &[
    "id",
    "name",
    "label",
    "service",
    "node",
    "desired-state",
    "_up-to-date",
    "runtime",
];

/// Parsed filters: key → values (a value set; order is not significant).
pub type FilterArgs = BTreeMap<String, Vec<String>>;

/// Parses a `filters` JSON text; empty text means no filters.
pub fn parse(text: &str) -> Result<FilterArgs> {
    let invalid = || Error::BadRequest("invalid filter".into());
    if text.is_empty() {
        return Ok(FilterArgs::new());
    }
    let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(text) else {
        return Err(invalid());
    };
    let mut args = FilterArgs::new();
    for (key, values) in fields {
        let values: Vec<String> = match values {
            // Current form: every key of the inner object is a value, whatever its bool.
            Value::Object(set) if set.values().all(Value::is_boolean) => {
                set.into_iter().map(|(v, _)| v).collect()
            }
            // Legacy form: a list of strings.
            Value::Array(list) => list
                .into_iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s),
                    _ => Err(invalid()),
                })
                .collect::<Result<_>>()?,
            Value::Null => Vec::new(),
            _ => return Err(invalid()),
        };
        args.entry(key).or_default().extend(values);
    }
    Ok(args)
}

/// Fails with `invalid filter 'x'` for a key outside `accepted`.
pub fn validate(args: &FilterArgs, accepted: &[&str]) -> Result<()> {
    match args.keys().find(|k| !accepted.contains(&k.as_str())) {
        Some(key) => Err(Error::BadRequest(format!("invalid filter '{key}'"))),
        None => Ok(()),
    }
}

/// The filters of `GET /nodes`.
pub fn node_filters(text: &str) -> Result<NodeFilters> {
    let mut args = parse(text)?;
    validate(&args, NODE_FILTER_KEYS)?;
    let mut take = |key: &str| args.remove(key).unwrap_or_default();
    let mut filters = NodeFilters {
        id: take("id"),
        name: take("name"),
        ..Default::default()
    };
    for role in take("role").into_iter().filter(|r| !r.is_empty()) {
        let parsed = types::Role::parse(&role)
            .map_err(|_| Error::BadRequest(format!("Invalid role filter: '{role}'")))?;
        filters.role.push(parsed);
    }
    for membership in take("membership").into_iter().filter(|m| !m.is_empty()) {
        let lower = membership.to_ascii_lowercase();
        if lower != "accepted" && lower != "pending" {
            return Err(Error::BadRequest(format!(
                "Invalid membership filter: '{membership}'"
            )));
        }
        filters.membership.push(lower);
    }
    filters.label = take("label");
    filters.node_label = take("node.label");
    Ok(filters)
}

/// The filters of `GET /services`.
pub fn service_filters(text: &str) -> Result<ServiceFilters> {
    let mut args = parse(text)?;
    validate(&args, SERVICE_FILTER_KEYS)?;
    let mut take = |key: &str| args.remove(key).unwrap_or_default();
    Ok(ServiceFilters {
        id: take("id"),
        name: take("name"),
        label: take("label"),
        mode: take("mode"),
    })
}

/// The filters of `GET /tasks`; desired states are checked (dockerd's message otherwise).
pub fn task_filters(text: &str) -> Result<TaskFilters> {
    let mut args = parse(text)?;
    validate(&args, TASK_FILTER_KEYS)?;
    let mut take = |key: &str| args.remove(key).unwrap_or_default();
    let mut filters = TaskFilters {
        id: take("id"),
        name: take("name"),
        service: take("service"),
        node: take("node"),
        label: take("label"),
        ..Default::default()
    };
    for state in take("desired-state").into_iter().filter(|s| !s.is_empty()) {
        let parsed = types::TaskState::parse(&state.to_ascii_lowercase())
            .ok_or_else(|| Error::BadRequest(format!("Invalid desired-state filter: '{state}'")))?;
        filters.desired_state.push(parsed);
    }
    // Any value turns it on, as in dockerd.
    filters.up_to_date = !take("_up-to-date").is_empty();
    Ok(filters)
}

#[cfg(test)]
mod tests {
    use types::Role;

    use super::*;

    #[test]
    fn both_json_forms_parse() {
        let current = node_filters(r#"{"role":{"manager":true},"name":{"a":true,"b":true}}"#).unwrap();
        assert_eq!(current.role, vec![Role::Manager]);
        assert_eq!(current.name, vec!["a", "b"]);
        let legacy = node_filters(r#"{"role":["worker"],"node.label":["zone=a"]}"#).unwrap();
        assert_eq!(legacy.role, vec![Role::Worker]);
        assert_eq!(legacy.node_label, vec!["zone=a"]);
        let none = node_filters("").unwrap();
        assert!(none.role.is_empty() && none.id.is_empty());
        assert_eq!(
            node_filters(r#"{"membership":{"Accepted":true}}"#)
                .unwrap()
                .membership,
            vec!["accepted"]
        );
    }

    #[test]
    fn bad_filters_are_refused_with_dockerds_messages() {
        let message = |text: &str| node_filters(text).unwrap_err().to_string();
        assert_eq!(message(r#"{"colour":{"red":true}}"#), "invalid filter 'colour'");
        assert_eq!(message("not json"), "invalid filter");
        assert_eq!(message("[1,2]"), "invalid filter");
        assert_eq!(message(r#"{"role":{"manager":"yes"}}"#), "invalid filter");
        assert_eq!(message(r#"{"role":[1]}"#), "invalid filter");
        assert_eq!(
            message(r#"{"role":{"boss":true}}"#),
            "Invalid role filter: 'boss'"
        );
        assert_eq!(
            message(r#"{"membership":["gone"]}"#),
            "Invalid membership filter: 'gone'"
        );
        assert!(node_filters("{}").is_ok());
    }

    #[test]
    fn service_and_task_filters_parse() {
        let services =
            service_filters(r#"{"name":{"web":true},"mode":{"global":true},"runtime":{"container":true}}"#)
                .unwrap();
        assert_eq!(
            (services.name, services.mode),
            (vec!["web".to_string()], vec!["global".to_string()])
        );
        assert_eq!(
            service_filters(r#"{"role":{"x":true}}"#).unwrap_err().to_string(),
            "invalid filter 'role'"
        );

        let tasks = task_filters(
            r#"{"service":{"web":true},"_up-to-date":{"true":true},"desired-state":{"Running":true,"shutdown":true}}"#,
        )
        .unwrap();
        assert_eq!(tasks.service, ["web"]);
        assert!(tasks.up_to_date);
        assert_eq!(
            tasks.desired_state,
            [types::TaskState::Running, types::TaskState::Shutdown]
        );
        assert!(!task_filters("").unwrap().up_to_date);
        assert_eq!(
            task_filters(r#"{"desired-state":{"sleepy":true}}"#)
                .unwrap_err()
                .to_string(),
            "Invalid desired-state filter: 'sleepy'"
        );
        assert_eq!(
            task_filters(r#"{"slot":{"1":true}}"#).unwrap_err().to_string(),
            "invalid filter 'slot'"
        );
    }
}
