//! The cluster's object model: what the Raft-replicated store holds.
//!
//! ```text
//! docker CLI ─► api (Docker JSON) ─► controlapi ─► store (these types) ─► raft log (postcard)
//! ```
//!
//! Nothing here does I/O or reads the clock: timestamps and IDs are produced by callers and
//! passed in, so every reconciler over these types is a pure function.

// Tests state their expectations with unwrap; library code keeps the lint.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod clock;
pub mod cluster;
pub mod error;
pub mod excerpt;
pub mod external_ca;
pub mod generic;
pub mod id;
pub mod meta;
pub mod mount;
pub mod netview;
pub mod network;
pub mod node;
pub mod object;
pub mod reference;
pub mod restart_window;
pub mod root_rotation;
pub mod secret;
pub mod service;
pub mod task;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod volume;

pub use clock::Clock;
pub use cluster::{Cluster, ClusterSpec, JoinTokens, RootCa};
pub use error::{Error, Result};
pub use excerpt::excerpt;
pub use external_ca::{ExternalCa, ExternalCaProtocol};
pub use meta::{Meta, Timestamp};
pub use netview::{EndpointView, NetworkDelta, NetworkView, PeerKey, ServiceView};
pub use network::{IpamConfig, NetAddr, Network, NetworkSpec, Pool, Subnet};
pub use node::{
    Availability, EngineDescription, ManagerStatus, Node, NodeDescription, NodeSpec, NodeState, NodeStatus,
    Platform, Reachability, Resources, Role,
};
pub use object::{Kind, Object};
pub use root_rotation::{CaState, RootRotation};
pub use secret::{Config, ConfigSpec, Payload, PayloadKind, Secret, SecretData, SecretSpec};
pub use service::{
    ContainerSpec, Driver, Endpoint, EndpointSpec, FailureAction, HealthConfig, JobStatus, Limits,
    NetworkAttachment, Placement, PortConfig, Reservations, ResourceRequirements, RestartCondition,
    RestartPolicy, Service, ServiceMode, ServiceSpec, TaskSpec, UpdateConfig, UpdateOrder, UpdateState,
    UpdateStatus,
};
pub use task::{ATTACHMENT_RUNTIME, ContainerStatus, Task, TaskState, TaskStatus};
