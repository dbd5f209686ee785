//! The store's pure half: the in-memory tables of cluster objects and the transactions that
//! change them, with no consensus, disk or async runtime.
//!
//! ```text
//! controlapi / reconcilers ─► Txn ─► (store: Raft log) ─► apply ─► State ─► (store: watch)
//! ```
//!
//! Every write is a [`Txn`]: a list of creates, updates and deletes that applies entirely or
//! not at all. Preconditions (object exists, version matches) are checked when the entry is
//! applied, on every replica alike, so a stale update fails the same way everywhere. An
//! object's version is the Raft index of the entry that wrote it. The `store` crate replicates
//! these transactions and re-exports this crate; the rules read [`State`] without depending
//! on the replication machinery.

// Tests state their expectations with unwrap; library code keeps the lint.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod crypto;
pub mod peer;
pub mod tables;
pub mod txn;

pub use peer::Peer;
pub use tables::{LookupError, State};
pub use txn::{
    AddressUpdate, Change, Commit, NewTask, Op, Owner, RootCaOp, TaskChange, TaskUpdate, Txn, TxnError,
    TxnResult,
};
