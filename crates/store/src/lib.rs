//! The replicated store: in-memory tables of cluster objects (the `state` crate), changed
//! only by transactions that went through the Raft log (this crate).
//!
//! ```text
//! controlapi ─► Txn ─► consensus (openraft: redb log, snapshots) ─► apply ─► State ─► watch
//! ```
//!
//! Every write is a [`Txn`]: a list of creates, updates and deletes that applies entirely or
//! not at all. Preconditions (object exists, version matches) are checked when the entry is
//! applied, on every replica alike, so a stale update fails the same way everywhere. An
//! object's version is the Raft index of the entry that wrote it.

// Tests state their expectations with unwrap; library code keeps the lint.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod consensus;
pub mod crypto;
pub mod error;
pub mod store;

/// The tables (from the `state` crate, under their old path).
pub use ::state::tables as state;
/// Transactions (from the `state` crate, under their old path).
pub use ::state::txn;

pub use ::state::State;
pub use ::state::{Change, Commit, NewTask, Op, RootCaOp, TaskChange, TaskUpdate, Txn, TxnError, TxnResult};
pub use ::state::{LookupError, Owner};
pub use error::{Error, Result};
pub use store::{Store, Watch, WatchEvent};
