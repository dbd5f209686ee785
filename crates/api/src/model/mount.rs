//! Docker's `Mount` (ContainerSpec.Mounts) as JSON. The service spec keeps the client's
//! `Mounts` verbatim for `inspect`; these shapes are what it is checked through.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::nullable;

/// One mount.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Mount {
    /// `bind`, `volume`, `tmpfs` or `npipe`.
    #[serde(rename = "Type", default, deserialize_with = "nullable")]
    pub kind: String,
    /// Host path, volume name, or empty.
    #[serde(default, deserialize_with = "nullable")]
    pub source: String,
    /// Absolute path in the container.
    #[serde(default, deserialize_with = "nullable")]
    pub target: String,
    /// Read-only.
    #[serde(default, deserialize_with = "nullable")]
    pub read_only: bool,
    /// Consistency requirement.
    #[serde(default, deserialize_with = "nullable")]
    pub consistency: String,
    /// Bind options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind_options: Option<BindOptions>,
    /// Volume options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_options: Option<VolumeOptions>,
    /// Tmpfs options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tmpfs_options: Option<TmpfsOptions>,
}

/// Docker's BindOptions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BindOptions {
    /// Propagation mode.
    #[serde(default, deserialize_with = "nullable")]
    pub propagation: String,
    /// Do not bind sub-mounts.
    #[serde(default, deserialize_with = "nullable")]
    pub non_recursive: bool,
    /// Create the source if missing.
    #[serde(default, deserialize_with = "nullable")]
    pub create_mountpoint: bool,
}

/// Docker's VolumeOptions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VolumeOptions {
    /// Do not copy image data into a new volume.
    #[serde(default, deserialize_with = "nullable")]
    pub no_copy: bool,
    /// Labels of a created volume.
    #[serde(default, deserialize_with = "nullable")]
    pub labels: BTreeMap<String, String>,
    /// Driver and its options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver_config: Option<super::Driver>,
    /// Path inside the volume.
    #[serde(default, deserialize_with = "nullable")]
    pub subpath: String,
}

/// Docker's TmpfsOptions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TmpfsOptions {
    /// Size in bytes.
    #[serde(default, deserialize_with = "nullable")]
    pub size_bytes: i64,
    /// Permission bits.
    #[serde(default, deserialize_with = "nullable")]
    pub mode: u32,
}
