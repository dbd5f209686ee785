//! `GET /events`.

use futures::stream::BoxStream;
use types::Timestamp;

/// What `GET /events` streams from: the kept events, then the live ones with no gap or
/// repeat between them.
pub struct EventFeed {
    /// The daemon's kept events, oldest first.
    pub past: Vec<crate::model::EventMessage>,
    /// Events as they happen; it ends when the daemon drops a client that fell behind.
    pub live: BoxStream<'static, crate::model::EventMessage>,
    /// The daemon's clock when the feed was taken (the handler times `until` from it).
    pub now: Timestamp,
}
