//! Network shapes: `POST /networks/create`, `GET /networks`, `GET /networks/{id}`,
//! `POST /networks/prune`, and the swarm network object inside a task's
//! `NetworksAttachments`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::nullable;

/// The body of `POST /networks/create`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkCreateRequest {
    /// Network name.
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    /// Refuse a duplicate name (deprecated in the API; names are always unique here).
    #[serde(default)]
    pub check_duplicate: Option<bool>,
    /// Driver name (`overlay`).
    #[serde(default, deserialize_with = "nullable")]
    pub driver: String,
    /// `swarm` (or empty).
    #[serde(default, deserialize_with = "nullable")]
    pub scope: String,
    /// No route out.
    #[serde(default, deserialize_with = "nullable")]
    pub internal: bool,
    /// Standalone containers may join.
    #[serde(default, deserialize_with = "nullable")]
    pub attachable: bool,
    /// The routing mesh's network.
    #[serde(default, deserialize_with = "nullable")]
    pub ingress: bool,
    /// A config-only network (not supported).
    #[serde(default, deserialize_with = "nullable")]
    pub config_only: bool,
    /// A network whose config this one takes (not supported).
    #[serde(default)]
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
    #[serde(default, deserialize_with = "nullable")]
    pub options: BTreeMap<String, String>,
    /// User labels.
    #[serde(default, deserialize_with = "nullable")]
    pub labels: BTreeMap<String, String>,
}

/// Docker's ConfigReference.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ConfigReference {
    /// The network the config comes from.
    #[serde(default, deserialize_with = "nullable")]
    pub network: String,
}

/// Docker's IPAM.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Ipam {
    /// IPAM driver (`default`).
    #[serde(default, deserialize_with = "nullable")]
    pub driver: String,
    /// Subnets.
    #[serde(default, deserialize_with = "nullable")]
    pub config: Vec<IpamConfig>,
    /// IPAM driver options.
    #[serde(default, deserialize_with = "nullable")]
    pub options: BTreeMap<String, String>,
}

/// Docker's IPAMConfig.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IpamConfig {
    /// Subnet (CIDR).
    #[serde(
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
#[serde(rename_all = "PascalCase")]
pub struct NetworkCreateResponse {
    /// The new network's ID.
    pub id: String,
    /// Warnings (none).
    pub warning: String,
}

/// A network as `docker network inspect` shows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Network {
    /// Name.
    pub name: String,
    /// ID.
    pub id: String,
    /// When it was created (RFC 3339).
    pub created: String,
    /// `swarm` or `local`.
    pub scope: String,
    /// Driver.
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
    pub internal: bool,
    /// Standalone containers may join.
    pub attachable: bool,
    /// The routing mesh's network.
    pub ingress: bool,
    /// Always empty.
    pub config_from: ConfigReference,
    /// Always false.
    pub config_only: bool,
    /// This node's containers on the network, by container ID.
    pub containers: BTreeMap<String, Value>,
    /// The nodes holding a swarm network (shown when any does).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peers: Option<Vec<NetworkPeer>>,
    /// Driver options.
    pub options: BTreeMap<String, String>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
}

/// A node holding a swarm network, in `docker network inspect`'s `Peers`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkPeer {
    /// The node's name.
    pub name: String,
    /// The node's address.
    #[serde(rename = "IP")]
    pub ip: String,
}

/// The answer of `POST /networks/prune`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworksPruneResponse {
    /// Names of the removed networks.
    pub networks_deleted: Vec<String>,
}
