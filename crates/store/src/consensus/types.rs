//! Openraft type configuration: what a log entry carries and how members are addressed.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::{Txn, TxnResult};

/// How a Raft member is reached: its cluster RPC address and its node ID.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Peer {
    /// `host:port` of the member's cluster RPC listener.
    pub addr: String,
    /// The Swarm node ID (certificate CN) of the member.
    pub node_id: String,
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.node_id, self.addr)
    }
}

openraft::declare_raft_types!(
    /// Type configuration of shoal's Raft group.
    pub TypeConfig:
        // Shared, so that the log's in-memory tail, replication and the state machine read
        // one decoded copy of an entry.
        D = Arc<Txn>,
        R = TxnResult,
        NodeId = u64,
        Node = Peer,
);

/// A Raft handle over our state machine.
pub type Raft = openraft::Raft<TypeConfig, super::StateMachine>;
/// A log entry.
pub type Entry = openraft::alias::EntryOf<TypeConfig>;
/// A log ID (term + index).
pub type LogId = openraft::alias::LogIdOf<TypeConfig>;
/// A vote.
pub type Vote = openraft::alias::VoteOf<TypeConfig>;
/// Membership as last applied.
pub type StoredMembership = openraft::alias::StoredMembershipOf<TypeConfig>;
/// Snapshot metadata.
pub type SnapshotMeta = openraft::alias::SnapshotMetaOf<TypeConfig>;
/// A snapshot with its bytes.
pub type Snapshot = openraft::alias::SnapshotOf<TypeConfig, Vec<u8>>;
