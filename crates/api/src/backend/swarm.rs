//! The swarm and its nodes as the API sees them: this node's state, `/info`'s facts, init and join.

use std::sync::Arc;

use types::{Availability, Cluster, ClusterSpec, Node, Reachability};

/// This node's relation to a swarm (Docker's `LocalNodeState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalNodeState {
    /// Not in a swarm.
    Inactive,
    /// Joining.
    Pending,
    /// In a swarm.
    Active,
    /// Something failed; see the error.
    Error,
    /// Autolocked and waiting for the unlock key.
    Locked,
}

impl LocalNodeState {
    /// Docker's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            LocalNodeState::Inactive => "inactive",
            LocalNodeState::Pending => "pending",
            LocalNodeState::Active => "active",
            LocalNodeState::Error => "error",
            LocalNodeState::Locked => "locked",
        }
    }
}

/// The swarm facts `/_ping` and `/info` report about this node.
#[derive(Debug, Clone)]
pub struct SwarmStatus {
    /// Local state.
    pub state: LocalNodeState,
    /// Node ID once joined.
    pub node_id: String,
    /// The address the node is reached at (IP, no port).
    pub node_addr: String,
    /// True on a manager that can serve control calls.
    pub control_available: bool,
    /// Last error, if state is `Error`.
    pub error: String,
    /// Known managers: (node ID, `host:port`).
    pub remote_managers: Vec<(String, String)>,
}

/// Extra `/info` facts only a manager knows.
#[derive(Debug, Clone)]
pub struct ManagerInfo {
    /// Number of nodes.
    pub nodes: usize,
    /// Number of managers.
    pub managers: usize,
    /// The cluster object.
    pub cluster: Arc<Cluster>,
    /// The cluster spec's external CAs (kept beside the spec).
    pub external_cas: Vec<types::ExternalCa>,
}

/// A node with the facts computed at read time.
#[derive(Debug, Clone)]
pub struct NodeView {
    /// The stored node.
    pub node: Arc<Node>,
    /// True if it currently leads Raft.
    pub leader: bool,
    /// How reachable it is as a manager.
    pub reachability: Reachability,
}

/// `POST /swarm/init`, decoded.
#[derive(Debug, Clone, Default)]
pub struct InitRequest {
    /// `host:port` to listen on for cluster traffic (Docker default `0.0.0.0:2377`).
    pub listen_addr: String,
    /// `host[:port]` or interface to advertise; empty means choose.
    pub advertise_addr: String,
    /// Data path address (recorded).
    pub data_path_addr: String,
    /// VXLAN port; 0 means default.
    pub data_path_port: u32,
    /// Rebuild a one-manager cluster from this node's state.
    pub force_new_cluster: bool,
    /// Cluster spec; fields left at their defaults keep Swarm's defaults.
    pub spec: ClusterSpec,
    /// Initial availability of this node.
    pub availability: Option<Availability>,
    /// Address pools (CIDRs); empty means `10.0.0.0/8`.
    pub default_addr_pool: Vec<String>,
    /// Subnet prefix length; 0 means 24.
    pub subnet_size: u32,
    /// The spec's external CAs (`--external-ca`), kept beside the spec.
    pub external_cas: Vec<types::ExternalCa>,
}

/// `POST /swarm/join`, decoded.
#[derive(Debug, Clone, Default)]
pub struct JoinRequest {
    /// `host:port` to listen on for cluster traffic.
    pub listen_addr: String,
    /// Address to advertise; empty means choose.
    pub advertise_addr: String,
    /// Data path address (recorded).
    pub data_path_addr: String,
    /// Managers to contact.
    pub remote_addrs: Vec<String>,
    /// The join token.
    pub join_token: String,
    /// Initial availability of this node.
    pub availability: Option<Availability>,
}
