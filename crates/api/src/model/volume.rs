//! `/volumes` shapes (moby's `api/swagger.yaml` `Volume`, `VolumeCreateOptions`,
//! `VolumeListResponse`, `VolumePruneResponse`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::nullable;

/// A volume as `docker volume inspect` shows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Volume {
    /// Creation time, RFC 3339.
    pub created_at: String,
    /// `local`.
    pub driver: String,
    /// Its labels (`null` when none, as dockerd shows them).
    pub labels: Option<BTreeMap<String, String>>,
    /// Where its data is on the node.
    pub mountpoint: String,
    /// Its name.
    pub name: String,
    /// Driver options (`null`: the local volumes take none).
    pub options: Option<BTreeMap<String, String>>,
    /// `local`: the volume lives on this node.
    pub scope: String,
    /// Its size and users, in `GET /system/df` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_data: Option<VolumeUsageData>,
}

/// `Volume.UsageData` as `GET /system/df` fills it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VolumeUsageData {
    /// Bytes it holds; -1 when unknown.
    pub size: i64,
    /// How many containers use it.
    pub ref_count: i64,
}

/// The body of `POST /volumes/create`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VolumeCreateRequest {
    /// Name (generated when empty).
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    /// Driver (`local` or empty).
    #[serde(default, deserialize_with = "nullable")]
    pub driver: String,
    /// Driver options.
    #[serde(default, deserialize_with = "nullable")]
    pub driver_opts: BTreeMap<String, String>,
    /// Labels.
    #[serde(default, deserialize_with = "nullable")]
    pub labels: BTreeMap<String, String>,
    /// A cluster volume (CSI), refused.
    #[serde(default)]
    pub cluster_volume_spec: Option<Value>,
}

/// The answer of `GET /volumes`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VolumeListResponse {
    /// The volumes.
    pub volumes: Vec<Volume>,
    /// Warnings (`null` when none).
    pub warnings: Option<Vec<String>>,
}

/// The answer of `POST /volumes/prune`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VolumesPruneResponse {
    /// Names of the removed volumes.
    pub volumes_deleted: Vec<String>,
    /// Bytes freed.
    pub space_reclaimed: u64,
}
