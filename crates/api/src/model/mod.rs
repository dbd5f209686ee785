//! Docker Engine API JSON shapes (API 1.47), shared by the server and the client.
//!
//! Field names follow moby's `api/swagger.yaml`. Every field decodes leniently: a missing
//! field or a JSON `null` becomes the default, as Go's decoder treats them, because the docker
//! CLI sends `"Labels": null` and similar for unset maps and lists. Wrong types still fail.

mod node;
mod swarm;
mod system;

pub use node::{
    EngineDescription, ManagerStatus, Node, NodeDescription, NodeSpec, NodeStatus, ObjectVersion, Platform,
    PluginDescription, Resources,
};
pub use swarm::{
    CaConfig, ClusterInfo, DispatcherConfig, Driver, EncryptionConfig, ExternalCa, InitRequest, JoinRequest,
    JoinTokens, OrchestrationConfig, RaftConfig, Swarm, SwarmSpec, TaskDefaults, TlsInfo,
};
pub use system::{ComponentVersion, Info, PeerNode, PluginsInfo, ServerPlatform, SwarmInfo, Version};

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
