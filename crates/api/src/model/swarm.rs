//! Swarm shapes: `GET /swarm`, the Swarm spec, init and join requests.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{ObjectVersion, is_zero, nullable};

/// Issuer facts of leaf certificates and the trusted root.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TlsInfo {
    /// Root CA certificate(s), PEM.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub trust_root: String,
    /// Issuer subject, DER in standard base64 (Go's `[]byte` encoding).
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub cert_issuer_subject: String,
    /// Issuer public key (SubjectPublicKeyInfo), DER in standard base64.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub cert_issuer_public_key: String,
}

/// The cluster as `/info` shows it (no join tokens).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ClusterInfo {
    /// Cluster ID.
    #[serde(rename = "ID", default, deserialize_with = "nullable")]
    pub id: String,
    /// Version to send back with `POST /swarm/update`.
    #[serde(default, deserialize_with = "nullable")]
    pub version: ObjectVersion,
    /// When the swarm was initialised.
    #[serde(default, deserialize_with = "nullable")]
    pub created_at: String,
    /// When the cluster object was last written.
    #[serde(default, deserialize_with = "nullable")]
    pub updated_at: String,
    /// Operator-controlled settings.
    #[serde(default, deserialize_with = "nullable")]
    pub spec: SwarmSpec,
    /// The root CA (certificate only, never the key).
    #[serde(rename = "TLSInfo", default, deserialize_with = "nullable")]
    pub tls_info: TlsInfo,
    /// Root CA rotation is not implemented, so always false.
    #[serde(default, deserialize_with = "nullable")]
    pub root_rotation_in_progress: bool,
    /// Pools (CIDR) overlay subnets come from.
    #[serde(default, deserialize_with = "nullable")]
    pub default_addr_pool: Vec<String>,
    /// Prefix length of each carved subnet.
    #[serde(default, deserialize_with = "nullable")]
    pub subnet_size: u32,
    /// VXLAN UDP port.
    #[serde(default, deserialize_with = "nullable")]
    pub data_path_port: u32,
}

/// `GET /swarm`: the cluster plus its join tokens.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Swarm {
    /// Everything `/info` shows.
    #[serde(flatten)]
    pub cluster: ClusterInfo,
    /// Tokens that admit new nodes.
    #[serde(default, deserialize_with = "nullable")]
    pub join_tokens: JoinTokens,
}

/// The tokens nodes join with.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct JoinTokens {
    /// Joins a worker.
    #[serde(default, deserialize_with = "nullable")]
    pub worker: String,
    /// Joins a manager.
    #[serde(default, deserialize_with = "nullable")]
    pub manager: String,
}

/// Docker's Swarm spec. Zero or missing fields mean "default" when sent to the daemon.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SwarmSpec {
    /// Always `default`.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub name: String,
    /// Free-form labels.
    #[serde(default, deserialize_with = "nullable")]
    pub labels: BTreeMap<String, String>,
    /// Task history settings.
    #[serde(default, deserialize_with = "nullable")]
    pub orchestration: OrchestrationConfig,
    /// Raft settings.
    #[serde(default, deserialize_with = "nullable")]
    pub raft: RaftConfig,
    /// Heartbeat settings.
    #[serde(default, deserialize_with = "nullable")]
    pub dispatcher: DispatcherConfig,
    /// Certificate settings.
    #[serde(rename = "CAConfig", default, deserialize_with = "nullable")]
    pub ca_config: CaConfig,
    /// Defaults for new tasks.
    #[serde(default, deserialize_with = "nullable")]
    pub task_defaults: TaskDefaults,
    /// Encryption at rest.
    #[serde(default, deserialize_with = "nullable")]
    pub encryption_config: EncryptionConfig,
}

/// Orchestration settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct OrchestrationConfig {
    /// Terminal tasks kept per slot; negative keeps all; absent keeps the default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_history_retention_limit: Option<i64>,
    /// Most tasks the cluster's services may want (shoal's; dockerd has none). Absent in an
    /// update keeps the current limit, as `docker swarm update` sends the spec without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tasks: Option<u64>,
}

/// Raft settings, in entries and ticks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RaftConfig {
    /// Entries between snapshots.
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "is_zero")]
    pub snapshot_interval: u64,
    /// Old snapshots kept; absent keeps the default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_old_snapshots: Option<u64>,
    /// Entries kept for slow followers.
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "is_zero")]
    pub log_entries_for_slow_followers: u64,
    /// Ticks before a follower calls an election.
    #[serde(default, deserialize_with = "nullable")]
    pub election_tick: i64,
    /// Ticks between leader heartbeats.
    #[serde(default, deserialize_with = "nullable")]
    pub heartbeat_tick: i64,
}

/// Dispatcher settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DispatcherConfig {
    /// Node heartbeat period in nanoseconds.
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "is_zero")]
    pub heartbeat_period: i64,
}

/// Certificate authority settings. Its `Debug` shows no signing key.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CaConfig {
    /// Validity of node certificates in nanoseconds.
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "is_zero")]
    pub node_cert_expiry: i64,
    /// External signers (not supported; accepted only when empty).
    #[serde(
        rename = "ExternalCAs",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub external_cas: Vec<ExternalCa>,
    /// A root CA of the operator's own (`--ca-cert`), PEM; read with the key, never shown.
    #[serde(
        rename = "SigningCACert",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub signing_ca_cert: String,
    /// Its key (`--ca-key`), PEM; never shown, never logged.
    #[serde(
        rename = "SigningCAKey",
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub signing_ca_key: String,
    /// Bumped to ask for a new root CA (`docker swarm ca --rotate`); 0: not given.
    #[serde(default, deserialize_with = "nullable", skip_serializing_if = "is_zero")]
    pub force_rotate: u64,
}

impl std::fmt::Debug for CaConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaConfig")
            .field("node_cert_expiry", &self.node_cert_expiry)
            .field("external_cas", &self.external_cas)
            .field("signing_ca_cert", &self.signing_ca_cert)
            .field("signing_ca_key_given", &!self.signing_ca_key.is_empty())
            .field("force_rotate", &self.force_rotate)
            .finish()
    }
}

/// An external certificate signer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ExternalCa {
    /// `cfssl`.
    #[serde(default, deserialize_with = "nullable")]
    pub protocol: String,
    /// Where signing requests go.
    #[serde(rename = "URL", default, deserialize_with = "nullable")]
    pub url: String,
    /// Protocol options.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub options: BTreeMap<String, String>,
    /// The signer's CA certificate, PEM.
    #[serde(rename = "CACert", default, deserialize_with = "nullable")]
    pub ca_cert: String,
}

/// Defaults for tasks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TaskDefaults {
    /// Default log driver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_driver: Option<Driver>,
}

/// A named driver with options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Driver {
    /// Driver name.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "String::is_empty"
    )]
    pub name: String,
    /// Driver options.
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub options: BTreeMap<String, String>,
}

/// Encryption-at-rest settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EncryptionConfig {
    /// Managers need the unlock key after a restart.
    #[serde(default, deserialize_with = "nullable")]
    pub auto_lock_managers: bool,
}

/// `POST /swarm/init` body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InitRequest {
    /// `host:port` for cluster traffic.
    #[serde(default, deserialize_with = "nullable")]
    pub listen_addr: String,
    /// Address to advertise.
    #[serde(default, deserialize_with = "nullable")]
    pub advertise_addr: String,
    /// Data path address.
    #[serde(default, deserialize_with = "nullable")]
    pub data_path_addr: String,
    /// VXLAN port; 0 means default.
    #[serde(default, deserialize_with = "nullable")]
    pub data_path_port: u32,
    /// Rebuild a one-manager cluster from local state.
    #[serde(default, deserialize_with = "nullable")]
    pub force_new_cluster: bool,
    /// Initial cluster spec.
    #[serde(default, deserialize_with = "nullable")]
    pub spec: SwarmSpec,
    /// Same as `Spec.EncryptionConfig.AutoLockManagers`.
    #[serde(default, deserialize_with = "nullable")]
    pub auto_lock_managers: bool,
    /// Initial availability of this node.
    #[serde(default, deserialize_with = "nullable")]
    pub availability: String,
    /// Address pools (CIDR).
    #[serde(default, deserialize_with = "nullable")]
    pub default_addr_pool: Vec<String>,
    /// Subnet prefix length; 0 means 24.
    #[serde(default, deserialize_with = "nullable")]
    pub subnet_size: u32,
}

/// `POST /swarm/join` body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct JoinRequest {
    /// `host:port` for cluster traffic.
    #[serde(default, deserialize_with = "nullable")]
    pub listen_addr: String,
    /// Address to advertise.
    #[serde(default, deserialize_with = "nullable")]
    pub advertise_addr: String,
    /// Data path address.
    #[serde(default, deserialize_with = "nullable")]
    pub data_path_addr: String,
    /// Managers to contact.
    #[serde(default, deserialize_with = "nullable")]
    pub remote_addrs: Vec<String>,
    /// Worker or manager join token.
    #[serde(default, deserialize_with = "nullable")]
    pub join_token: String,
    /// Initial availability of this node.
    #[serde(default, deserialize_with = "nullable")]
    pub availability: String,
}

/// `GET /swarm/unlockkey` answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UnlockKeyResponse {
    /// The `SWMKEY-1-…` key; empty when managers are not autolocked.
    #[serde(default, deserialize_with = "nullable")]
    pub unlock_key: String,
}

/// `POST /swarm/unlock` body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UnlockRequest {
    /// The `SWMKEY-1-…` key.
    #[serde(default, deserialize_with = "nullable")]
    pub unlock_key: String,
}
