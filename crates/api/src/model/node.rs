//! Node shapes: `GET /nodes`, `GET /nodes/{id}`, the body of `POST /nodes/{id}/update`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{TlsInfo, is_zero, nullable};

/// An object's version, echoed back on update so that stale writes fail.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ObjectVersion {
    /// The Raft index of the object's last write.
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "is_zero")]
    pub index: u64,
}

/// A node as `docker node inspect` shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Node {
    /// Node ID.
    #[serde(rename = "ID", default, deserialize_with = "nullable")]
    pub id: String,
    /// Version to send back with an update.
    #[serde(default, deserialize_with = "nullable")]
    pub version: ObjectVersion,
    /// When the node joined (RFC 3339 with nanoseconds).
    #[serde(default, deserialize_with = "nullable")]
    pub created_at: String,
    /// When the node was last written (RFC 3339 with nanoseconds).
    #[serde(default, deserialize_with = "nullable")]
    pub updated_at: String,
    /// Operator-controlled settings.
    #[serde(default, deserialize_with = "nullable")]
    pub spec: NodeSpec,
    /// What the node reported about itself.
    #[serde(default, deserialize_with = "nullable")]
    pub description: NodeDescription,
    /// Liveness.
    #[serde(default, deserialize_with = "nullable")]
    pub status: NodeStatus,
    /// Present only for managers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manager_status: Option<ManagerStatus>,
}

/// Operator-controlled node settings. Role and availability stay strings here so that a bad
/// value reaches the conversion, which answers with dockerd's `invalid Role: "x"`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NodeSpec {
    /// Optional name.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub name: String,
    /// Node labels (`node.labels.*`).
    #[serde(default, deserialize_with = "nullable")]
    pub labels: BTreeMap<String, String>,
    /// `worker` or `manager`.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub role: String,
    /// `active`, `pause` or `drain`.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub availability: String,
}

/// What a node reports about itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NodeDescription {
    /// Host name.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub hostname: String,
    /// OS and architecture.
    #[serde(default, deserialize_with = "nullable")]
    pub platform: Platform,
    /// Capacity.
    #[serde(default, deserialize_with = "nullable")]
    pub resources: Resources,
    /// Engine version and labels.
    #[serde(default, deserialize_with = "nullable")]
    pub engine: EngineDescription,
    /// Issuer of the node's certificate.
    #[serde(rename = "TLSInfo", default, deserialize_with = "nullable")]
    pub tls_info: TlsInfo,
}

/// Hardware architecture (`x86_64`) and OS (`linux`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Platform {
    /// `uname -m` spelling, e.g. `x86_64`.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub architecture: String,
    /// e.g. `linux`.
    #[serde(
        rename = "OS",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub os: String,
}

/// CPU and memory capacity.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Resources {
    /// CPUs × 10⁹.
    #[serde(
        rename = "NanoCPUs",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "is_zero"
    )]
    pub nano_cpus: i64,
    /// Bytes of memory.
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "is_zero")]
    pub memory_bytes: i64,
    /// What the node advertises beyond CPUs and memory (`--node-generic-resource`).
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "Vec::is_empty")]
    pub generic_resources: Vec<serde_json::Value>,
}

/// Engine facts of a node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EngineDescription {
    /// Engine version string.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub engine_version: String,
    /// `engine.labels.*`.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub labels: BTreeMap<String, String>,
    /// Plugins the engine offers.
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "Vec::is_empty")]
    pub plugins: Vec<PluginDescription>,
}

/// One engine plugin (`Network`/`overlay`, …).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PluginDescription {
    /// Plugin kind.
    #[serde(rename = "Type", default, deserialize_with = "nullable")]
    pub kind: String,
    /// Plugin name.
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
}

/// Liveness of a node as the leader sees it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NodeStatus {
    /// `unknown`, `down`, `ready` or `disconnected`.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub state: String,
    /// Why, when not ready.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub message: String,
    /// IP address of the node.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub addr: String,
}

/// Raft facts of a manager node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ManagerStatus {
    /// True on the Raft leader.
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "is_zero")]
    pub leader: bool,
    /// `unknown`, `unreachable` or `reachable`.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub reachability: String,
    /// `host:port` of its cluster listener.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub addr: String,
}
