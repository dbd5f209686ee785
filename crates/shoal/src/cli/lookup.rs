//! Finding a service, node or task by name, ID or ID prefix, with the docker CLI's wording
//! when a prefix matches several: "multiple services found with provided prefix: X".
//!
//! The daemon resolves the key; only when it refuses do we ask which objects the prefix
//! matches (the `id` filter matches prefixes), so a found object costs one request.

use api::Client;
use api::client::Filters;
use api::model::{Node, Service, Task};

/// The error for a prefix that matches more than one `kind` (`services`, `nodes`, `tasks`).
fn ambiguous(kind: &str, key: &str) -> api::Error {
    api::Error::Status {
        status: 400,
        message: format!("multiple {kind} found with provided prefix: {key}"),
    }
}

/// Whether the daemon's refusal is worth a second look (it answered, and not "found").
fn refused(error: &api::Error) -> bool {
    matches!(error, api::Error::Status { .. })
}

fn by_id(key: &str) -> Filters {
    Filters::from([("id".to_string(), vec![key.to_string()])])
}

/// How many of `ids` start with `key`.
fn matching<'a>(ids: impl Iterator<Item = &'a str>, key: &str) -> usize {
    ids.filter(|id| id.starts_with(key)).count()
}

/// A service by name, ID or unique ID prefix.
pub async fn service(client: &Client, key: &str, insert_defaults: bool) -> api::Result<Service> {
    match client.service(key, insert_defaults).await {
        Err(e) => Err(explain_service(client, key, e).await),
        found => found,
    }
}

/// The daemon's refusal of a service `key`, or ours when the key is an ambiguous prefix.
pub async fn explain_service(client: &Client, key: &str, error: api::Error) -> api::Error {
    if !refused(&error) || key.is_empty() {
        return error;
    }
    let services = client.services(&by_id(key), false).await.unwrap_or_default();
    if matching(services.iter().map(|s| s.id.as_str()), key) > 1 {
        ambiguous("services", key)
    } else {
        error
    }
}

/// A node by name, ID or unique ID prefix.
pub async fn node(client: &Client, key: &str) -> api::Result<Node> {
    match client.node(key).await {
        Err(e) => Err(explain_node(client, key, e).await),
        found => found,
    }
}

/// The daemon's refusal of a node `key`, or ours when the key is an ambiguous prefix.
pub async fn explain_node(client: &Client, key: &str, error: api::Error) -> api::Error {
    if !refused(&error) || key.is_empty() {
        return error;
    }
    let nodes = client.nodes(&by_id(key)).await.unwrap_or_default();
    if matching(nodes.iter().map(|n| n.id.as_str()), key) > 1 {
        ambiguous("nodes", key)
    } else {
        error
    }
}

/// A task by ID or unique ID prefix.
pub async fn task(client: &Client, key: &str) -> api::Result<Task> {
    match client.task(key).await {
        Err(e) if refused(&e) && !key.is_empty() => {
            let tasks = client.tasks(&by_id(key)).await.unwrap_or_default();
            if matching(tasks.iter().map(|t| t.id.as_str()), key) > 1 {
                Err(ambiguous("tasks", key))
            } else {
                Err(e)
            }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_only_true_prefixes() {
        let ids = ["abc1", "abc2", "xabc"];
        assert_eq!(matching(ids.iter().copied(), "abc"), 2);
        assert_eq!(matching(ids.iter().copied(), "abc1"), 1);
        assert_eq!(
            ambiguous("services", "ab").to_string(),
            "multiple services found with provided prefix: ab"
        );
    }
}
