//! Network shapes: `POST /networks/create`, `GET /networks`, `GET /networks/{id}`,
//! `POST /networks/prune`, and the swarm network object inside a task's
//! `NetworksAttachments`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::nullable;

/// The body of `POST /networks/create`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct NetworkCreateRequest {
    /// Network name.
    #[serde(rename = "Name", default, deserialize_with = "nullable")]
    pub name: String,
    /// Refuse a duplicate name (deprecated in the API; names are always unique here).
    #[serde(rename = "CheckDuplicate", default)]
    pub check_duplicate: Option<bool>,
    /// Driver name (`overlay`).
    #[serde(rename = "Driver", default, deserialize_with = "nullable")]
    pub driver: String,
    /// `swarm` (or empty).
    #[serde(rename = "Scope", default, deserialize_with = "nullable")]
    pub scope: String,
    /// No route out.
    #[serde(rename = "Internal", default, deserialize_with = "nullable")]
    pub internal: bool,
    /// Standalone containers may join.
    #[serde(rename = "Attachable", default, deserialize_with = "nullable")]
    pub attachable: bool,
    /// The routing mesh's network.
    #[serde(rename = "Ingress", default, deserialize_with = "nullable")]
    pub ingress: bool,
    /// A config-only network (not supported).
    #[serde(rename = "ConfigOnly", default, deserialize_with = "nullable")]
    pub config_only: bool,
    /// A network whose config this one takes (not supported).
    #[serde(rename = "ConfigFrom", default)]
    pub config_from: Option<ConfigReference>,
    /// IPv4 addressing (on unless false).
    #[serde(rename = "EnableIPv4", default)]
    pub enable_ipv4: Option<bool>,
    /// IPv6 addressing (not supported).
    #[serde(rename = "EnableIPv6", default)]
    pub enable_ipv6: Option<bool>,
    /// Address management.
    #[serde(rename = "IPAM", default, deserialize_with = "nullable")]
    pub ipam: Ipam,
    /// Driver options.
    #[serde(rename = "Options", default, deserialize_with = "nullable")]
    pub options: BTreeMap<String, String>,
    /// User labels.
    #[serde(rename = "Labels", default, deserialize_with = "nullable")]
    pub labels: BTreeMap<String, String>,
}

/// Docker's ConfigReference.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConfigReference {
    /// The network the config comes from.
    #[serde(rename = "Network", default, deserialize_with = "nullable")]
    pub network: String,
}

/// Docker's IPAM.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Ipam {
    /// IPAM driver (`default`).
    #[serde(rename = "Driver", default, deserialize_with = "nullable")]
    pub driver: String,
    /// Subnets.
    #[serde(rename = "Config", default, deserialize_with = "nullable")]
    pub config: Vec<IpamConfig>,
    /// IPAM driver options.
    #[serde(rename = "Options", default, deserialize_with = "nullable")]
    pub options: BTreeMap<String, String>,
}

/// Docker's IPAMConfig.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IpamConfig {
    /// Subnet (CIDR).
    #[serde(
        rename = "Subnet",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub subnet: String,
    /// Range addresses are handed out from (CIDR).
    #[serde(
        rename = "IPRange",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub ip_range: String,
    /// Gateway address.
    #[serde(
        rename = "Gateway",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub gateway: String,
    /// Reserved addresses by name.
    #[serde(
        rename = "AuxiliaryAddresses",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub aux_addresses: BTreeMap<String, String>,
}

/// The answer of `POST /networks/create`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NetworkCreateResponse {
    /// The new network's ID.
    #[serde(rename = "Id")]
    pub id: String,
    /// Warnings (none).
    #[serde(rename = "Warning")]
    pub warning: String,
}

/// A network as `docker network inspect` shows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Network {
    /// Name.
    #[serde(rename = "Name")]
    pub name: String,
    /// ID.
    #[serde(rename = "Id")]
    pub id: String,
    /// When it was created (RFC 3339).
    #[serde(rename = "Created")]
    pub created: String,
    /// `swarm` or `local`.
    #[serde(rename = "Scope")]
    pub scope: String,
    /// Driver.
    #[serde(rename = "Driver")]
    pub driver: String,
    /// IPv4 addressing.
    #[serde(rename = "EnableIPv4")]
    pub enable_ipv4: bool,
    /// IPv6 addressing.
    #[serde(rename = "EnableIPv6")]
    pub enable_ipv6: bool,
    /// Address management.
    #[serde(rename = "IPAM")]
    pub ipam: Ipam,
    /// No route out.
    #[serde(rename = "Internal")]
    pub internal: bool,
    /// Standalone containers may join.
    #[serde(rename = "Attachable")]
    pub attachable: bool,
    /// The routing mesh's network.
    #[serde(rename = "Ingress")]
    pub ingress: bool,
    /// Always empty.
    #[serde(rename = "ConfigFrom")]
    pub config_from: ConfigReference,
    /// Always false.
    #[serde(rename = "ConfigOnly")]
    pub config_only: bool,
    /// Local containers on the network (none shown yet).
    #[serde(rename = "Containers")]
    pub containers: BTreeMap<String, Value>,
    /// Driver options.
    #[serde(rename = "Options")]
    pub options: BTreeMap<String, String>,
    /// Labels.
    #[serde(rename = "Labels")]
    pub labels: BTreeMap<String, String>,
}

/// The answer of `POST /networks/prune`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NetworksPruneResponse {
    /// Names of the removed networks.
    #[serde(rename = "NetworksDeleted")]
    pub networks_deleted: Vec<String>,
}
