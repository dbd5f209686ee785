//! Docker Engine API JSON shapes (API 1.47), shared by the server and the client.
//!
//! Field names follow moby's `api/swagger.yaml`. Every field decodes leniently: a missing
//! field or a JSON `null` becomes the default, as Go's decoder treats them, because the docker
//! CLI sends `"Labels": null` and similar for unset maps and lists. Wrong types still fail.

pub mod container;
mod container_keys;
mod event;
mod exec;
pub mod fold;
mod image;
pub mod mount;
mod network;
mod node;
mod secret;
mod service;
mod swarm;
mod system;
mod task;
mod task_spec;
mod volume;
mod worker;

pub use event::{EventActor, EventMessage};
pub use exec::{ExecConfig, ExecInspect, ExecStartConfig, IdResponse, ProcessConfig};
pub use image::{
    BuildCachePruneResponse, DiskUsage, GraphDriver, ImageDeleteItem, ImageInspect, ImageMetadata,
    ImagePruneResponse, ImageRootFs, ImageSummary,
};
pub use network::NetworkPeer;
pub use network::{
    ConfigReference, Ipam, IpamConfig, Network, NetworkCreateRequest, NetworkCreateResponse,
    NetworksPruneResponse,
};
pub use node::{
    EngineDescription, ManagerStatus, Node, NodeDescription, NodeSpec, NodeStatus, ObjectVersion, Platform,
    PluginDescription, Resources,
};
pub use secret::{Payload, PayloadCreateResponse, PayloadDriver, PayloadSpec};
pub use service::{
    Empty, Endpoint, EndpointSpec, EndpointVirtualIp, JobStatus, PortConfig, ReplicatedJob,
    ReplicatedService, Service, ServiceCreateResponse, ServiceMode, ServiceSpec, ServiceStatus,
    ServiceUpdateResponse, UpdateConfig, UpdateStatus,
};
pub use swarm::{
    CaConfig, ClusterInfo, DispatcherConfig, Driver, EncryptionConfig, ExternalCa, InitRequest, JoinRequest,
    JoinTokens, OrchestrationConfig, RaftConfig, Swarm, SwarmSpec, TaskDefaults, TlsInfo, UnlockKeyResponse,
    UnlockRequest,
};
pub use system::{ComponentVersion, Info, PeerNode, PluginsInfo, ServerPlatform, SwarmInfo, Version};
pub use task::{ContainerStatus, PortStatus, Task, TaskStatus};
pub use task_spec::{
    ContainerSpec, HealthConfig, Limit, NetworkAttachmentConfig, Placement, PlacementPreference, Reservation,
    ResourceRequirements, RestartPolicy, SpreadOver, TaskSpec,
};
pub use volume::{Volume, VolumeCreateRequest, VolumeListResponse, VolumeUsageData, VolumesPruneResponse};
pub use worker::Worker;

use serde::{Deserialize, Deserializer, Serialize};

/// The body of every error response: `{"message": "..."}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorResponse {
    /// Human-readable reason.
    #[serde(default, deserialize_with = "nullable")]
    pub message: String,
}

/// Decodes `null` as the type's default, like Go's `encoding/json` leaves a zero value.
pub(crate) fn nullable<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// For `skip_serializing_if`: Go's `omitempty` on numbers.
pub(crate) fn is_zero<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

/// An unsigned count that Go decodes into a `uint64`: a negative or fractional value is
/// refused with a message naming `field` (the body then answers 400), not a bare type error.
fn count<'de, D>(deserializer: D, field: &str) -> Result<Option<u64>, D::Error>
where
    D: Deserializer<'de>,
{
    use serde::de::Error;
    let Some(number) = Option::<serde_json::Number>::deserialize(deserializer)? else {
        return Ok(None);
    };
    if let Some(value) = number.as_u64() {
        return Ok(Some(value));
    }
    // A whole number beyond u64 arrives as a float: say it is too large, not fractional.
    let whole_but_huge = number
        .as_f64()
        .is_some_and(|f| f.is_finite() && f > 0.0 && f.fract() == 0.0);
    let why = if number.as_i64().is_some() {
        "must not be negative"
    } else if whole_but_huge {
        "beyond the largest count (18446744073709551615); the cluster's task limit is far lower"
    } else {
        "must be a whole number"
    };
    let shown = types::excerpt(&number.to_string());
    Err(D::Error::custom(format!("invalid {field} {shown}: {why}")))
}

/// `Mode.Replicated.Replicas`.
pub(crate) fn replicas<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    count(d, "Replicas")
}

/// `Mode.ReplicatedJob.MaxConcurrent`.
pub(crate) fn max_concurrent<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    count(d, "MaxConcurrent")
}

/// `Mode.ReplicatedJob.TotalCompletions`.
pub(crate) fn total_completions<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    count(d, "TotalCompletions")
}

/// `RestartPolicy.MaxAttempts`.
pub(crate) fn max_attempts<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    count(d, "MaxAttempts")
}

/// `Placement.MaxReplicas` (null or missing: 0).
pub(crate) fn max_replicas<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    Ok(count(d, "MaxReplicas")?.unwrap_or(0))
}

/// `UpdateConfig.Parallelism` (null or missing: 0).
pub(crate) fn parallelism<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    Ok(count(d, "Parallelism")?.unwrap_or(0))
}
