//! The Rust types carried in `Msg` bodies; `calls.rs` binds each call to its own.

use serde::{Deserialize, Serialize};
use store::consensus::{Peer, SnapshotMeta, Vote};
use types::{Availability, NodeDescription, Role, Task, TaskStatus, Timestamp};

/// `Ca.GetRootCa` reply.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RootCaResponse {
    /// PEM of the root certificate.
    pub ca_cert_pem: String,
}

/// `Ca.IssueNodeCertificate`: a joiner presents its token and CSR.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IssueRequest {
    /// The join token; its secret decides the role.
    pub token: String,
    /// PEM CSR for the joiner's key.
    pub csr_pem: String,
    /// What the joiner knows about itself.
    pub description: NodeDescription,
    /// `host:port` where the joiner listens for cluster RPC (used if it becomes a manager).
    pub advertise_addr: String,
    /// Initial availability requested with `swarm join --availability`.
    pub availability: Option<Availability>,
}

/// Reply to a certificate request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IssueResponse {
    /// The node's ID (new on join, unchanged on renewal).
    pub node_id: String,
    /// The cluster's ID.
    pub cluster_id: String,
    /// Role the certificate carries.
    pub role: Role,
    /// PEM of the signed certificate.
    pub cert_pem: String,
    /// PEM of the root certificate.
    pub ca_cert_pem: String,
}

/// `Ca.RenewNodeCertificate`: a node asks for a certificate for its current desired role.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RenewRequest {
    /// PEM CSR for the node's key.
    pub csr_pem: String,
}

/// `Control.Propose` reply: the commit index, or why the store refused.
pub type ProposeResponse = Result<u64, store::TxnError>;

/// `Control.JoinRaft`: a manager-to-be asks the leader to add it to the Raft group.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JoinRaftRequest {
    /// The joining node (a forwarding manager passes the original caller's ID).
    pub node_id: String,
    /// Its Raft member ID.
    pub raft_id: u64,
    /// Its cluster RPC address.
    pub addr: String,
}

/// `Control.JoinRaft` reply.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JoinRaftResponse {
    /// Members after the change.
    pub members: Vec<(u64, Peer)>,
}

/// `Dispatcher.Session`: a node opens its session.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionRequest {
    /// What the node reports about itself.
    pub description: NodeDescription,
    /// The node's current WireGuard public key (encrypted overlays), if it runs a data plane;
    /// the dispatcher hands it to the nodes sharing an encrypted network with it.
    pub tunnel_key: Option<[u8; 32]>,
}

/// One message on a session stream: the node's view of the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionMessage {
    /// Managers' cluster RPC addresses (leader first), for reconnecting.
    pub managers: Vec<String>,
    /// The role operators want this node to have; the node renews its certificate when it
    /// differs from the one it holds.
    pub desired_role: Role,
    /// Heartbeat period in milliseconds.
    pub heartbeat_period_ms: u64,
    /// Log subscriptions this node should serve (for its tasks among `tasks`).
    pub log_subscriptions: Vec<LogSubscription>,
    /// PEM of the root CA certificates the node should trust now (two during a root
    /// rotation); empty from a manager that does not say.
    pub ca_trust_pem: String,
    /// During a root rotation, PEM of the new root: a node whose certificate it did not
    /// issue renews it. Empty otherwise.
    pub ca_renew_under_pem: String,
    /// How often the node renews its WireGuard key pair, in milliseconds (0: never).
    pub tunnel_key_rotation_ms: u64,
}

/// A request for task logs, as the log broker hands it to nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogSubscription {
    /// Broker-wide ID; batches name it.
    pub id: u64,
    /// Tasks whose logs are wanted.
    pub tasks: Vec<String>,
    /// Which lines.
    pub options: LogSelection,
}

/// Which log lines to send.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogSelection {
    /// Keep sending new lines.
    pub follow: bool,
    /// Last N lines per task.
    pub tail: Option<u64>,
    /// Lines at or after.
    pub since: Option<Timestamp>,
    /// Lines before.
    pub until: Option<Timestamp>,
    /// Include stdout.
    pub stdout: bool,
    /// Include stderr.
    pub stderr: bool,
}

/// One log line of one task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogRecord {
    /// Task it came from.
    pub task_id: String,
    /// True for stderr.
    pub stderr: bool,
    /// When it was written.
    pub timestamp: Timestamp,
    /// The line without its newline.
    pub line: Vec<u8>,
}

/// Lines for one subscription; `done` when the sender has nothing more to send.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogBatch {
    /// Subscription ID.
    pub subscription: u64,
    /// Lines, in order per task.
    pub records: Vec<LogRecord>,
    /// No more lines will follow from this sender.
    pub done: bool,
}

/// `Control.SubscribeLogs`: a follower asks the leader for logs of these tasks.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LogRequest {
    /// Tasks by node.
    pub tasks_by_node: Vec<(String, Vec<String>)>,
    /// Which lines.
    pub options: LogSelection,
}

/// `Dispatcher.Heartbeat` request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HeartbeatRequest {
    /// The node's current WireGuard public key, as in [`SessionRequest`]: a renewed key
    /// reaches the leader with the heartbeat sent right after the renewal.
    pub tunnel_key: Option<[u8; 32]>,
}

/// `Dispatcher.Leave` request: the calling node is leaving the swarm.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LeaveRequest {}

/// `Dispatcher.Heartbeat` reply.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HeartbeatResponse {
    /// When to send the next heartbeat, in milliseconds.
    pub period_ms: u64,
}

/// One chunk of a streamed snapshot; the first carries the header.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SnapshotChunk {
    /// Leader's vote and the snapshot's meta, in the first chunk only.
    pub header: Option<(Vote, SnapshotMeta)>,
    /// Bytes of the snapshot.
    pub data: Vec<u8>,
}

/// Snapshot chunk size: 1 MiB, well under gRPC's 4 MiB default message limit.
pub const SNAPSHOT_CHUNK: usize = 1 << 20;

/// `Dispatcher.Assignments` request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AssignmentsRequest {}

/// One message of the assignments stream.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AssignmentsMessage {
    /// True: `tasks` is the node's whole set (drop anything not in it). False: a delta.
    pub full: bool,
    /// Tasks added or changed.
    pub tasks: Vec<Task>,
    /// IDs of tasks no longer assigned (deleted or moved).
    pub removed: Vec<String>,
    /// Networks added or changed, each complete (replaces the node's view of that network).
    /// With `full`, the node drops every network not listed.
    pub networks: Vec<types::NetworkView>,
    /// IDs of networks this node no longer has tasks on.
    pub networks_removed: Vec<String>,
    /// Changes to networks the node already holds (applied after `networks`).
    pub network_deltas: Vec<types::NetworkDelta>,
    /// Secrets and configs new to the node, which its tasks reference (applied before the
    /// tasks). With `full`, the node drops every payload not listed.
    pub payloads: Vec<types::Payload>,
    /// Secrets and configs no task of the node references any more: dropped from its memory.
    pub payloads_removed: Vec<(types::PayloadKind, String)>,
    /// Public keys, new or changed, of the nodes sharing an encrypted network with this one
    /// (the node keeps the keys of the nodes its encrypted views list).
    pub peer_keys: Vec<types::PeerKey>,
}

/// `Dispatcher.UpdateTaskStatus`: observed states of this node's tasks.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskStatusBatch {
    /// (task ID, status) pairs.
    pub updates: Vec<(String, TaskStatus)>,
}

/// `Dispatcher.AttachNetwork` request: one of the calling node's standalone containers joins
/// an attachable network.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AttachNetworkRequest {
    /// The network's ID, name or ID prefix.
    pub network: String,
    /// The container's name (the attachment's endpoint name).
    pub container: String,
    /// More names it answers to on the network.
    pub aliases: Vec<String>,
    /// The address asked for (`--ip`).
    pub address: Option<std::net::Ipv4Addr>,
    /// The attachments the node's containers hold: the node's others older than a grace
    /// period are deleted first (left by a crash between making one and recording it).
    pub held: Vec<String>,
}

/// `Dispatcher.AttachNetwork` response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttachNetworkResponse {
    /// The attachment task as created.
    pub task: types::Task,
    /// The network's name.
    pub network_name: String,
    /// Attachments of the node deleted as no container holds them.
    pub collected: Vec<String>,
}

/// `Dispatcher.DetachNetwork` request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DetachNetworkRequest {
    /// The calling node's attachment task.
    pub task_id: String,
}
