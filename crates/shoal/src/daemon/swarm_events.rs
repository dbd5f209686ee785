//! Swarm events (`Scope: swarm`) on a manager: service and node create, update and remove,
//! read from the store's watch, so changes made through any manager are reported.
//!
//! Only commits after the replica caught up with its log are reported (a restart replays the
//! log, which must not read as new events). A watch that lagged (`Reset`) skips what it missed.

use std::collections::BTreeMap;
use std::sync::Arc;

use manager::Manager;
use store::{Change, WatchEvent};
use types::{Object, ServiceMode};

use super::events::{EventBus, Subject};

/// Publishes the service and node changes `m` applies until it stops.
pub async fn follow(m: Manager, bus: Arc<EventBus>) {
    let stop = m.stopping();
    let start_log = m.consensus().metrics().last_log_index.unwrap_or(0);
    let caught_up = m.consensus().wait_for(move |metrics| {
        start_log == 0
            || metrics
                .last_applied
                .as_ref()
                .is_some_and(|l| l.index() >= start_log)
    });
    tokio::select! {
        _ = stop.cancelled() => return,
        r = caught_up => if r.is_err() { return },
    }
    let (_, mut watch) = m.store().view_and_watch();
    loop {
        let event = tokio::select! {
            _ = stop.cancelled() => return,
            event = watch.next() => match event { Some(e) => e, None => return },
        };
        let WatchEvent::Commit(commit) = event else {
            continue;
        };
        for change in &commit.changes {
            for (subject, action) in events_of(change) {
                bus.publish_swarm(&subject, action);
            }
        }
    }
}

/// The swarm events one store change makes.
fn events_of(change: &Change) -> Vec<(Subject, &'static str)> {
    match change {
        Change::Created(o) => subject(o, BTreeMap::new())
            .map(|s| (s, "create"))
            .into_iter()
            .collect(),
        Change::Deleted(o) => subject(o, BTreeMap::new())
            .map(|s| (s, "remove"))
            .into_iter()
            .collect(),
        Change::Updated { old, new } => {
            let changed = match (&**old, &**new) {
                (Object::Service(a), Object::Service(b)) if a.spec != b.spec => {
                    let mut attrs = BTreeMap::new();
                    if let (
                        ServiceMode::Replicated { replicas: was },
                        ServiceMode::Replicated { replicas: now },
                    ) = (&a.spec.mode, &b.spec.mode)
                        && was != now
                    {
                        attrs.insert("replicas.old".to_string(), was.to_string());
                        attrs.insert("replicas.new".to_string(), now.to_string());
                    }
                    Some(attrs)
                }
                (Object::Node(a), Object::Node(b))
                    if a.spec != b.spec || a.status.state != b.status.state =>
                {
                    let mut attrs = BTreeMap::new();
                    if a.status.state != b.status.state {
                        attrs.insert("state.old".to_string(), a.status.state.as_str().to_string());
                        attrs.insert("state.new".to_string(), b.status.state.as_str().to_string());
                    }
                    if a.spec.availability != b.spec.availability {
                        attrs.insert(
                            "availability.old".to_string(),
                            a.spec.availability.as_str().to_string(),
                        );
                        attrs.insert(
                            "availability.new".to_string(),
                            b.spec.availability.as_str().to_string(),
                        );
                    }
                    Some(attrs)
                }
                _ => None,
            };
            changed
                .and_then(|attrs| subject(new, attrs))
                .map(|s| (s, "update"))
                .into_iter()
                .collect()
        }
        _ => Vec::new(),
    }
}

/// A service or node as an event's actor (`name` attribute); other objects are not reported.
fn subject(object: &Object, mut attributes: BTreeMap<String, String>) -> Option<Subject> {
    let (kind, id, name) = match object {
        Object::Service(s) => ("service", s.id.clone(), s.spec.name.clone()),
        Object::Node(n) => {
            let name = if n.spec.name.is_empty() {
                n.description.hostname.clone()
            } else {
                n.spec.name.clone()
            };
            ("node", n.id.clone(), name)
        }
        _ => return None,
    };
    attributes.insert("name".to_string(), name);
    Some(Subject {
        kind,
        id,
        attributes,
        from: String::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_and_nodes_make_events_and_other_objects_do_not() {
        let node = types::testing::node("n1").build();
        let mut drained = node.clone();
        drained.spec.availability = types::Availability::Drain;
        let created = events_of(&Change::Created(Box::new(Object::Node(node.clone()))));
        assert_eq!(created.len(), 1);
        assert_eq!((created[0].0.kind, created[0].1), ("node", "create"));
        let updated = events_of(&Change::Updated {
            old: Box::new(Object::Node(node.clone())),
            new: Box::new(Object::Node(drained)),
        });
        assert_eq!(updated[0].1, "update");
        assert_eq!(updated[0].0.attributes["availability.new"], "drain");
        let same = events_of(&Change::Updated {
            old: Box::new(Object::Node(node.clone())),
            new: Box::new(Object::Node(node)),
        });
        assert!(same.is_empty(), "a heartbeat-only rewrite is no event");
    }
}
