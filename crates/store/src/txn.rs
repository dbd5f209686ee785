//! Transactions: the only way the store changes, and the payload of every Raft entry.

use std::fmt;

use serde::{Deserialize, Serialize};
use types::{Kind, Object, Timestamp};

/// One store write: all ops apply or none do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Txn {
    /// Proposal ID for de-duplication (0: none). A proposer that cannot tell whether its
    /// entry committed (the leader died mid-call) resends the same ID; the store then answers
    /// with the first result instead of applying twice.
    pub id: u128,
    /// The changes, applied in order.
    pub ops: Vec<Op>,
    /// Wall-clock time at the proposer, stamped into `created_at`/`updated_at` so that every
    /// replica applies the entry identically.
    pub now: Timestamp,
}

impl fmt::Display for Txn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "txn({} ops)", self.ops.len())
    }
}

/// One change inside a transaction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Op {
    /// Insert a new object; fails if the ID exists.
    Create(Object),
    /// Replace an object. With `expect_version`, fails unless the stored version matches
    /// (optimistic concurrency); without it the write is unconditional (control loops that
    /// own the field being written).
    Update {
        /// The new value; its `meta` is restamped by the store.
        object: Object,
        /// Version the writer read.
        expect_version: Option<u64>,
    },
    /// Remove an object; fails if it is missing or, with `expect_version`, changed.
    Delete {
        /// Kind of the object.
        kind: Kind,
        /// Its ID.
        id: String,
        /// Version the writer read.
        expect_version: Option<u64>,
    },
}

/// Why a transaction was refused. Carried back through Raft to the proposer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum TxnError {
    /// The object does not exist.
    #[error("{} {id} not found", kind.as_str())]
    NotFound {
        /// Kind of the object.
        kind: Kind,
        /// Its ID.
        id: String,
    },
    /// An object with this ID exists already.
    #[error("{} {id} already exists", kind.as_str())]
    Exists {
        /// Kind of the object.
        kind: Kind,
        /// Its ID.
        id: String,
    },
    /// The object changed since the writer read it (Swarm's wording).
    #[error("update out of sequence")]
    OutOfSequence {
        /// Kind of the object.
        kind: Kind,
        /// Its ID.
        id: String,
    },
}

/// What applying an entry returns to the proposer: the index it committed at, or why not.
pub type TxnResult = std::result::Result<u64, TxnError>;

/// One applied change, as watchers see it.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// A new object.
    Created(Object),
    /// An object replaced; `old` is the value before.
    Updated {
        /// Value before the change.
        old: Object,
        /// Value after the change.
        new: Object,
    },
    /// A removed object (its last value).
    Deleted(Object),
}

impl Change {
    /// The object after the change (or the removed one).
    pub fn object(&self) -> &Object {
        match self {
            Change::Created(o) | Change::Deleted(o) => o,
            Change::Updated { new, .. } => new,
        }
    }
}

/// All changes of one applied entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Commit {
    /// Raft index of the entry.
    pub index: u64,
    /// What changed.
    pub changes: Vec<Change>,
}
