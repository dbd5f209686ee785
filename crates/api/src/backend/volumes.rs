//! Volumes: this node's named volumes and the containers here that use them.

use std::collections::BTreeMap;

/// A volume of this node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeView {
    /// The volume.
    pub volume: types::volume::Volume,
    /// The IDs of this node's containers (task or standalone, stopped ones too) that mount it.
    pub refs: Vec<String>,
}

/// A volume with its disk usage (`GET /system/df`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeUsage {
    /// The volume and its users.
    pub view: VolumeView,
    /// Bytes under its data directory; -1 when they could not be read (dockerd's value).
    pub size: i64,
}

/// `POST /volumes/create`, decoded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VolumeCreate {
    /// The name; empty for a generated one.
    pub name: String,
    /// The driver (`local` or empty).
    pub driver: String,
    /// Driver options (refused: the local volumes take none).
    pub options: BTreeMap<String, String>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
}
