//! `GET /events` messages: one JSON object a line, as dockerd streams them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The object an event is about.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EventActor {
    /// Container ID, image ID or reference, …
    #[serde(rename = "ID")]
    pub id: String,
    /// `name`, `image`, labels, `exitCode`, …
    pub attributes: BTreeMap<String, String>,
}

/// One event. `status`, `id` and `from` are the fields older clients read; dockerd still
/// sends them for container and image events.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EventMessage {
    /// Old name of `Action`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub status: String,
    /// Old name of `Actor.ID`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// The container's image (container events).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub from: String,
    /// `container`, `image`, …
    #[serde(rename = "Type")]
    pub kind: String,
    /// `create`, `start`, `die`, `health_status: healthy`, `pull`, `tag`, …
    #[serde(rename = "Action")]
    pub action: String,
    /// What it happened to.
    #[serde(rename = "Actor")]
    pub actor: EventActor,
    /// `local` (this daemon) or `swarm`.
    pub scope: String,
    /// Seconds since the epoch.
    pub time: i64,
    /// Nanoseconds since the epoch.
    #[serde(rename = "timeNano")]
    pub time_nano: i64,
}
