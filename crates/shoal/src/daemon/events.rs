//! The daemon's event bus behind `GET /events`: container events from the task runner's
//! status updates (`task_events.rs`) and image events from the image calls (`backend/images.rs`).
//!
//! ```text
//! publish ─► ring (last RING events, for `since`) ─► broadcast ─► each /events client
//! ```
//!
//! Both are bounded. The ring keeps the last [`RING`] events (about what dockerd keeps), so
//! `--since` reaches back that far and no further. Each client reads from a broadcast channel
//! of [`RING`] slots; a client that falls further behind than that is disconnected (its
//! stream ends) rather than silently skipping events or holding memory for it.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use api::model::{EventActor, EventMessage};
use futures::StreamExt;
use tokio::sync::broadcast;
use types::Clock;

/// Events kept for `since`, and the most a client may fall behind before it is dropped.
pub const RING: usize = 256;

/// The daemon's events.
pub struct EventBus {
    clock: Arc<dyn Clock>,
    /// Kept events; the lock also orders sends, so a feed's replay and live part meet exactly.
    ring: Mutex<VecDeque<EventMessage>>,
    live: broadcast::Sender<EventMessage>,
}

/// An event's subject: its type, ID and attributes.
pub struct Subject {
    /// `container`, `image`, `service` or `node`.
    pub kind: &'static str,
    /// The actor's ID.
    pub id: String,
    /// The actor's attributes.
    pub attributes: BTreeMap<String, String>,
    /// A container's image (the old `from` field).
    pub from: String,
}

impl EventBus {
    /// An empty bus stamping events with `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Arc<EventBus> {
        let (live, _) = broadcast::channel(RING);
        Arc::new(EventBus {
            clock,
            ring: Mutex::new(VecDeque::with_capacity(RING)),
            live,
        })
    }

    /// Records `action` on `subject` (of this node) now and sends it to every client.
    pub fn publish(&self, subject: &Subject, action: &str) {
        self.emit(subject, action, "local")
    }

    /// Records `action` on a cluster object (`Scope: swarm`).
    pub fn publish_swarm(&self, subject: &Subject, action: &str) {
        self.emit(subject, action, "swarm")
    }

    fn emit(&self, subject: &Subject, action: &str, scope: &str) {
        let now = self.clock.now();
        // The old top-level fields exist for container and image events only, as in dockerd.
        let legacy = matches!(subject.kind, "container" | "image");
        let old = |text: &str| if legacy { text.to_string() } else { String::new() };
        let event = EventMessage {
            status: old(action),
            id: old(&subject.id),
            from: old(&subject.from),
            kind: subject.kind.to_string(),
            action: action.to_string(),
            actor: EventActor {
                id: subject.id.clone(),
                attributes: subject.attributes.clone(),
            },
            scope: scope.into(),
            time: now.parts().0,
            time_nano: now.0,
        };
        let mut ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        if ring.len() == RING {
            ring.pop_front();
        }
        ring.push_back(event.clone());
        // No client listening is not an error.
        let _ = self.live.send(event);
    }

    /// An image event: `id` is the image ID (or the reference, for a pull), `name` its name.
    pub fn image(&self, action: &str, id: &str, name: Option<&str>) {
        let mut attributes = BTreeMap::new();
        if let Some(name) = name {
            // Named as the user wrote it (`bb:1`, not `docker.io/library/bb:1`), as dockerd does.
            attributes.insert("name".to_string(), api::convert::image::familiar(name));
        }
        self.publish(
            &Subject {
                kind: "image",
                id: id.to_string(),
                attributes,
                from: String::new(),
            },
            action,
        );
    }

    /// `untag` and `delete` events of an image removal; `id` is the removed image's ID when
    /// known (an untag names the image it took the name from).
    pub fn image_removals(&self, removed: &[image::Removed], id: Option<&str>) {
        for r in removed {
            match r {
                image::Removed::Untagged(name) => self.image("untag", id.unwrap_or(name), Some(name)),
                image::Removed::Deleted(digest) => self.image("delete", digest.as_str(), None),
            }
        }
    }

    /// The kept events and a stream of the following ones.
    pub fn feed(&self) -> api::EventFeed {
        let ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        let past: Vec<EventMessage> = ring.iter().cloned().collect();
        let rx = self.live.subscribe();
        drop(ring);
        // A lagged receiver ends the stream: the client is dropped, not fed a gap.
        let live = futures::stream::unfold(rx, |mut rx| async move {
            match rx.recv().await {
                Ok(event) => Some((event, rx)),
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::info!(missed, "an /events client fell behind; dropping it");
                    None
                }
                Err(broadcast::error::RecvError::Closed) => None,
            }
        })
        .boxed();
        api::EventFeed {
            past,
            live,
            now: self.clock.now(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use types::Timestamp;
    use types::clock::FixedClock;

    #[tokio::test]
    async fn the_ring_is_bounded_and_the_feed_has_no_gap() {
        let bus = EventBus::new(Arc::new(FixedClock(Timestamp(5_000_000_000))));
        for i in 0..RING + 10 {
            bus.image("tag", &format!("sha256:{i}"), None);
        }
        let feed = bus.feed();
        assert_eq!(feed.past.len(), RING);
        assert_eq!(feed.past[0].actor.id, "sha256:10");
        assert_eq!(feed.past[0].time, 5);
        bus.image("delete", "sha256:x", Some("bb:1"));
        let mut live = feed.live;
        let next = live.next().await.unwrap();
        assert_eq!(
            (next.action.as_str(), next.actor.id.as_str()),
            ("delete", "sha256:x")
        );
        assert_eq!(next.actor.attributes["name"], "bb:1");
    }

    #[tokio::test]
    async fn a_client_that_falls_behind_is_dropped() {
        let bus = EventBus::new(Arc::new(FixedClock(Timestamp(1))));
        let mut live = bus.feed().live;
        for i in 0..RING + 1 {
            bus.image("tag", &format!("sha256:{i}"), None);
        }
        assert!(live.next().await.is_none(), "a lagging client's stream ends");
    }
}
