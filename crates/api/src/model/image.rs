//! Docker's image objects: `GET /images/json`, `GET /images/{name}/json`, removal and prune
//! reports (moby's `api/swagger.yaml`: ImageSummary, ImageInspect, ImageDeleteResponseItem,
//! ImagePruneResponse).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One entry of `GET /images/json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageSummary {
    /// `sha256:<hex>` of the config.
    pub id: String,
    /// Parent image ID; always empty for pulled images.
    pub parent_id: String,
    /// Familiar `repo:tag` names.
    pub repo_tags: Vec<String>,
    /// Familiar `repo@digest` names.
    pub repo_digests: Vec<String>,
    /// Creation time, seconds since the epoch.
    pub created: i64,
    /// Bytes of the image's layers.
    pub size: i64,
    /// Bytes shared with other images; -1: not computed, as dockerd without `shared-size`
    /// (`/system/df` always computes it).
    pub shared_size: i64,
    /// Labels from the image config.
    pub labels: BTreeMap<String, String>,
    /// Containers using the image; -1: not computed, as dockerd by default.
    pub containers: i64,
}

/// `GET /images/{name}/json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageInspect {
    /// `sha256:<hex>` of the config.
    pub id: String,
    /// Familiar `repo:tag` names.
    pub repo_tags: Vec<String>,
    /// Familiar `repo@digest` names.
    pub repo_digests: Vec<String>,
    /// Parent image ID (empty).
    pub parent: String,
    /// Comment (empty: shoal records none).
    pub comment: String,
    /// Creation time, RFC 3339 (empty when the config has none).
    pub created: String,
    /// Docker version that built it (empty).
    pub docker_version: String,
    /// Author (empty).
    pub author: String,
    /// The image's run config, in the config blob's own JSON.
    pub config: serde_json::Value,
    /// CPU architecture.
    pub architecture: String,
    /// Architecture variant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// Operating system.
    pub os: String,
    /// Bytes of the image's layers.
    pub size: i64,
    /// How layers are stored here.
    pub graph_driver: GraphDriver,
    /// The layers' diff IDs.
    #[serde(rename = "RootFS")]
    pub root_fs: ImageRootFs,
    /// Local metadata.
    pub metadata: ImageMetadata,
}

/// `GraphDriver` of an inspected image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GraphDriver {
    /// `overlay2` or `vfs`, the dockerd drivers shoal's layouts correspond to.
    pub name: String,
    /// Driver facts (empty).
    pub data: BTreeMap<String, String>,
}

/// `RootFS` of an inspected image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageRootFs {
    /// Always `layers`.
    #[serde(rename = "Type")]
    pub kind: String,
    /// Diff IDs, bottom first.
    pub layers: Vec<String>,
}

/// `Metadata` of an inspected image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageMetadata {
    /// When the image was last tagged here (not recorded: empty).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_tag_time: Option<String>,
}

/// One item of `DELETE /images/{name}` and of a prune's `ImagesDeleted`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImageDeleteItem {
    /// A name removed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub untagged: Option<String>,
    /// An image ID deleted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted: Option<String>,
}

/// `POST /images/prune`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ImagePruneResponse {
    /// What went.
    pub images_deleted: Vec<ImageDeleteItem>,
    /// Bytes of blobs freed.
    pub space_reclaimed: u64,
}

/// `POST /build/prune`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BuildCachePruneResponse {
    /// IDs of the cache records deleted.
    pub caches_deleted: Vec<String>,
    /// Bytes freed.
    pub space_reclaimed: u64,
}

/// `GET /system/df`: shoal's images, this node's containers and volumes; no build cache.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DiskUsage {
    /// Bytes of the distinct layer blobs stored.
    pub layers_size: i64,
    /// Every image, `Containers` counting the tasks here that use it.
    pub images: Vec<ImageSummary>,
    /// This node's containers (tasks' and standalone), with their sizes.
    pub containers: Vec<super::container::ContainerSummary>,
    /// This node's volumes with their `UsageData`.
    pub volumes: Vec<super::volume::Volume>,
    /// Build cache records (none).
    pub build_cache: Vec<serde_json::Value>,
}
