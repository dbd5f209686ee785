//! `GET /events` filters (`type`, `event`, `container`, `image`, `label`, `scope`, and the
//! object keys dockerd accepts) and the match of one event against them, as dockerd reads
//! them: values of one key are alternatives, keys must all match.

use crate::convert::filters::{self, FilterArgs};
use crate::error::Result;
use crate::model::EventMessage;

/// Filter keys `GET /events` accepts: dockerd's set. Objects shoal reports no events for yet
/// (networks, volumes, plugins, …) are accepted and match nothing of theirs.
const EVENT_FILTER_KEYS: &[&str] = &[
    "config",
    "container",
    "daemon",
    "event",
    "image",
    "label",
    "network",
    "node",
    "plugin",
    "scope",
    "secret",
    "service",
    "type",
    "volume",
];

/// Parsed `GET /events` filters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilters {
    args: FilterArgs,
}

impl EventFilters {
    /// Parses the `filters` query value, refusing keys dockerd does not know.
    pub fn parse(text: &str) -> Result<EventFilters> {
        let mut args = filters::parse(text)?;
        filters::validate(&args, EVENT_FILTER_KEYS)?;
        args.retain(|_, values| !values.is_empty());
        Ok(EventFilters { args })
    }

    /// True when `event` passes every filter.
    pub fn matches(&self, event: &EventMessage) -> bool {
        let action_verb = event.action.split(':').next().unwrap_or("").trim();
        self.any("type", |v| v == event.kind)
            && self.any("scope", |v| v == event.scope)
            && self.any("event", |v| v == event.action || v == action_verb)
            && self.any("label", |v| label_matches(event, v))
            && self.named("container", "container", event)
            && self.any("image", |v| image_matches(event, v))
            && self.named("network", "network", event)
            && self.named("volume", "volume", event)
            && self.named("plugin", "plugin", event)
            && self.named("service", "service", event)
            && self.named("node", "node", event)
            && self.named("secret", "secret", event)
            && self.named("config", "config", event)
            && self.named("daemon", "daemon", event)
    }

    /// No values for `key`, or one of them satisfies `check`.
    fn any(&self, key: &str, check: impl Fn(&str) -> bool) -> bool {
        self.args
            .get(key)
            .is_none_or(|values| values.iter().any(|v| check(v)))
    }

    /// dockerd's name match for an object filter: the event is of `kind` and its ID starts
    /// with a value or its `name` attribute equals one.
    fn named(&self, key: &str, kind: &str, event: &EventMessage) -> bool {
        self.any(key, |v| {
            event.kind == kind
                && (event.actor.id.starts_with(v)
                    || event.actor.attributes.get("name").is_some_and(|n| n == v))
        })
    }
}

/// `key` or `key=value` among the actor's attributes (labels are attributes).
fn label_matches(event: &EventMessage, wanted: &str) -> bool {
    let attributes = &event.actor.attributes;
    match wanted.split_once('=') {
        Some((k, v)) => attributes.get(k).is_some_and(|have| have == v),
        None => attributes.contains_key(wanted),
    }
}

/// An image event by ID or name, or a container event by its image; `busybox` also matches
/// `busybox:latest`, as dockerd normalises both sides.
fn image_matches(event: &EventMessage, wanted: &str) -> bool {
    let same = |have: &str| {
        !have.is_empty()
            && (have == wanted
                || have.strip_suffix(":latest") == Some(wanted)
                || have.starts_with(&format!("{wanted}@")))
    };
    let attributes = &event.actor.attributes;
    match event.kind.as_str() {
        "image" => {
            event.actor.id.starts_with(wanted) && wanted.len() >= 4
                || same(&event.actor.id)
                || attributes.get("name").is_some_and(|n| same(n))
        }
        "container" => attributes.get("image").is_some_and(|i| same(i)) || same(&event.from),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::EventActor;

    fn event(kind: &str, action: &str, id: &str, attributes: &[(&str, &str)]) -> EventMessage {
        EventMessage {
            kind: kind.into(),
            action: action.into(),
            actor: EventActor {
                id: id.into(),
                attributes: attributes
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            },
            scope: "local".into(),
            ..Default::default()
        }
    }

    fn filters(text: &str) -> EventFilters {
        EventFilters::parse(text).unwrap()
    }

    #[test]
    fn filters_match_as_dockerd_reads_them() {
        let start = event(
            "container",
            "start",
            "abc123",
            &[
                ("name", "web.1.abc123"),
                ("image", "busybox:latest"),
                ("com.docker.swarm.service.name", "web"),
            ],
        );
        let healthy = event(
            "container",
            "health_status: healthy",
            "abc123",
            &[("name", "web.1.abc123")],
        );
        let tag = event("image", "tag", "sha256:feed", &[("name", "bb:2")]);
        assert!(filters("").matches(&start));
        assert!(filters(r#"{"type":{"container":true}}"#).matches(&start));
        assert!(!filters(r#"{"type":{"container":true}}"#).matches(&tag));
        assert!(filters(r#"{"type":{"container":true,"image":true}}"#).matches(&tag));
        assert!(filters(r#"{"event":{"start":true,"tag":true}}"#).matches(&tag));
        assert!(!filters(r#"{"event":{"die":true}}"#).matches(&start));
        assert!(filters(r#"{"event":{"health_status":true}}"#).matches(&healthy));
        assert!(filters(r#"{"container":{"web.1.abc123":true}}"#).matches(&start));
        assert!(filters(r#"{"container":{"abc":true}}"#).matches(&start));
        assert!(!filters(r#"{"container":{"web":true}}"#).matches(&start));
        assert!(!filters(r#"{"container":{"abc":true}}"#).matches(&tag));
        assert!(filters(r#"{"image":{"busybox":true}}"#).matches(&start));
        assert!(filters(r#"{"image":{"bb:2":true}}"#).matches(&tag));
        assert!(filters(r#"{"image":{"sha256:feed":true}}"#).matches(&tag));
        assert!(!filters(r#"{"image":{"busybox":true}}"#).matches(&tag));
        assert!(filters(r#"{"label":{"com.docker.swarm.service.name=web":true}}"#).matches(&start));
        assert!(!filters(r#"{"label":{"com.docker.swarm.service.name=db":true}}"#).matches(&start));
        assert!(filters(r#"{"scope":{"local":true}}"#).matches(&start));
        assert!(!filters(r#"{"network":{"x":true}}"#).matches(&start));
        assert_eq!(
            EventFilters::parse(r#"{"colour":{"red":true}}"#)
                .unwrap_err()
                .to_string(),
            "invalid filter 'colour'"
        );
    }
}
