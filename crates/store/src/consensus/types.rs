//! Openraft type configuration: what a log entry carries and how members are addressed.

use std::sync::Arc;

pub use ::state::Peer;

use crate::{Txn, TxnResult};

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
