//! Swarm events (`Scope: swarm`) on a manager: service, node, secret, config and network
//! create, update and remove (with dockerd's `name` and `*.old`/`*.new` attributes),
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
    let (object, action, attributes) = match change {
        Change::Created(o) => (&**o, "create", Some(BTreeMap::new())),
        Change::Deleted(o) => (&**o, "remove", Some(BTreeMap::new())),
        Change::Updated { old, new } => (&**new, "update", update_attributes(old, new)),
        _ => return Vec::new(),
    };
    attributes
        .and_then(|attrs| subject(object, attrs))
        .map(|s| (s, action))
        .into_iter()
        .collect()
}

/// What an update reports beside the name (dockerd's `*.old`/`*.new` attributes), or `None`
/// when the write is not one dockerd reports (a service's status, a node's heartbeat).
fn update_attributes(old: &Object, new: &Object) -> Option<BTreeMap<String, String>> {
    let mut attrs = BTreeMap::new();
    let mut pair = |key: &str, was: String, now: String| {
        if was != now {
            attrs.insert(format!("{key}.old"), was);
            attrs.insert(format!("{key}.new"), now);
        }
    };
    match (old, new) {
        (Object::Service(a), Object::Service(b)) => {
            // What dockerd would show: a new service's first rollout has no status there.
            let state = |s: &types::Service| s.shown_update_status().map(|u| u.state);
            if a.spec == b.spec && state(a) == state(b) {
                return None;
            }
            pair(
                "image",
                a.spec.task.container.image.clone(),
                b.spec.task.container.image.clone(),
            );
            if let (ServiceMode::Replicated { replicas: was }, ServiceMode::Replicated { replicas: now }) =
                (&a.spec.mode, &b.spec.mode)
            {
                pair("replicas", was.to_string(), now.to_string());
            }
            // dockerd names the states as SwarmKit's enum prints them (UPDATING, …).
            let shown = |s: Option<types::UpdateState>| s.map(|s| s.as_str().to_ascii_uppercase());
            match (shown(state(a)), shown(state(b))) {
                (None, Some(now)) => {
                    attrs.insert("updatestate.new".into(), now);
                }
                (Some(was), Some(now)) => pair("updatestate", was, now),
                _ => {}
            }
        }
        (Object::Node(a), Object::Node(b)) => {
            if a.spec == b.spec && a.status.state == b.status.state && a.role == b.role {
                return None;
            }
            pair("role", a.role.as_str().into(), b.role.as_str().into());
            pair(
                "state",
                a.status.state.as_str().into(),
                b.status.state.as_str().into(),
            );
            pair(
                "availability",
                a.spec.availability.as_str().into(),
                b.spec.availability.as_str().into(),
            );
        }
        (Object::Secret(a), Object::Secret(b)) if a.spec != b.spec => {}
        (Object::Config(a), Object::Config(b)) if a.spec != b.spec => {}
        (Object::Network(a), Object::Network(b)) if a.spec != b.spec => {}
        _ => return None,
    }
    Some(attrs)
}

/// A service, node, secret, config or network as an event's actor (`name` attribute); tasks
/// and the cluster are not reported, as dockerd reports none for them.
fn subject(object: &Object, mut attributes: BTreeMap<String, String>) -> Option<Subject> {
    let (kind, id, name) = match object {
        Object::Service(s) => ("service", &s.id, s.spec.name.clone()),
        Object::Node(n) => {
            let name = if n.spec.name.is_empty() {
                n.description.hostname.clone()
            } else {
                n.spec.name.clone()
            };
            ("node", &n.id, name)
        }
        Object::Secret(s) => ("secret", &s.id, s.spec.name.clone()),
        Object::Config(c) => ("config", &c.id, c.spec.name.clone()),
        Object::Network(n) => ("network", &n.id, n.spec.name.clone()),
        _ => return None,
    };
    attributes.insert("name".to_string(), name);
    Some(Subject {
        kind,
        id: id.clone(),
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

    #[test]
    fn secrets_configs_and_networks_make_events_named_as_dockerd() {
        let secret = types::Secret {
            id: "s1".into(),
            meta: types::Meta::default(),
            spec: types::SecretSpec {
                name: "db-pass".into(),
                ..Default::default()
            },
        };
        let created = events_of(&Change::Created(Box::new(Object::Secret(secret.clone()))));
        assert_eq!((created[0].0.kind, created[0].1), ("secret", "create"));
        assert_eq!(created[0].0.id, "s1");
        assert_eq!(created[0].0.attributes["name"], "db-pass");
        let mut relabelled = secret.clone();
        relabelled.spec.labels.insert("a".into(), "b".into());
        let updated = events_of(&Change::Updated {
            old: Box::new(Object::Secret(secret.clone())),
            new: Box::new(Object::Secret(relabelled)),
        });
        assert_eq!(updated[0].1, "update");
        let network = types::Network {
            id: "n1".into(),
            meta: types::Meta::default(),
            spec: types::NetworkSpec {
                name: "backend".into(),
                ..Default::default()
            },
            vni: 4096,
            pools: Vec::new(),
        };
        let removed = events_of(&Change::Deleted(Box::new(Object::Network(network))));
        assert_eq!((removed[0].0.kind, removed[0].1), ("network", "remove"));
        let config = types::Config {
            id: "c1".into(),
            meta: types::Meta::default(),
            spec: types::ConfigSpec {
                name: "site".into(),
                ..Default::default()
            },
        };
        let created = events_of(&Change::Created(Box::new(Object::Config(config))));
        assert_eq!(
            (created[0].0.kind, created[0].0.attributes["name"].as_str()),
            ("config", "site")
        );
    }
}
