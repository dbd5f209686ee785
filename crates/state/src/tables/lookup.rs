//! Finding objects the way the docker CLI addresses them: exact ID, then name, then a unique
//! ID prefix.

use std::sync::Arc;

use imbl::OrdMap;
use types::{Node, Service, Task};

use super::State;

/// Why a lookup by ID, name or prefix found no single object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    /// Nothing matched.
    #[error("{kind} {key} not found")]
    NotFound {
        /// `node`, `service`, `task`.
        kind: &'static str,
        /// What was asked for.
        key: String,
    },
    /// More than one object matched.
    #[error("{kind} {key} is ambiguous (multiple matches)")]
    Ambiguous {
        /// `node`, `service`, `task`.
        kind: &'static str,
        /// What was asked for.
        key: String,
    },
}

/// One match by unique ID prefix.
pub(super) fn by_prefix<K: std::borrow::Borrow<str> + Ord + Clone, T>(
    map: &OrdMap<K, Arc<T>>,
    kind: &'static str,
    key: &str,
) -> Result<Option<Arc<T>>, LookupError> {
    if key.is_empty() {
        return Ok(None);
    }
    let mut hits = map
        .range::<_, str>((std::ops::Bound::Included(key), std::ops::Bound::Unbounded))
        .take_while(|(id, _)| id.borrow().starts_with(key));
    match (hits.next(), hits.next()) {
        (Some((_, one)), None) => Ok(Some(one.clone())),
        (Some(_), Some(_)) => Err(LookupError::Ambiguous {
            kind,
            key: key.to_string(),
        }),
        _ => Ok(None),
    }
}

impl State {
    /// A node by ID, name (or hostname when unnamed), or unique ID prefix.
    pub fn lookup_node(&self, key: &str) -> Result<Arc<Node>, LookupError> {
        if let Some(node) = self.nodes.get(key) {
            return Ok(node.clone());
        }
        let mut by_name = self
            .nodes
            .values()
            .filter(|n| n.spec.name == key || (n.spec.name.is_empty() && n.description.hostname == key));
        match (by_name.next(), by_name.next()) {
            (Some(one), None) => return Ok(one.clone()),
            (Some(_), Some(_)) => {
                return Err(LookupError::Ambiguous {
                    kind: "node",
                    key: key.to_string(),
                });
            }
            _ => {}
        }
        by_prefix(&self.nodes, "node", key)?.ok_or_else(|| LookupError::NotFound {
            kind: "node",
            key: key.to_string(),
        })
    }

    /// A service by ID, name, or unique ID prefix.
    pub fn lookup_service(&self, key: &str) -> Result<Arc<Service>, LookupError> {
        if let Some(s) = self.services.get(key).or_else(|| self.service_by_name(key)) {
            return Ok(s.clone());
        }
        by_prefix(&self.services, "service", key)?.ok_or_else(|| LookupError::NotFound {
            kind: "service",
            key: key.to_string(),
        })
    }

    /// A task by ID, or unique ID prefix.
    pub fn lookup_task(&self, key: &str) -> Result<Arc<Task>, LookupError> {
        if let Some(t) = self.tasks.get(key) {
            return Ok(t.clone());
        }
        by_prefix(&self.tasks, "task", key)?.ok_or_else(|| LookupError::NotFound {
            kind: "task",
            key: key.to_string(),
        })
    }
}
