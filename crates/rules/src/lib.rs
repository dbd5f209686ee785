//! The rules: what the cluster should look like, as pure functions of a store snapshot.
//! No I/O, no clock, no async runtime (this crate cannot name tokio, tonic, openraft or redb);
//! time, IDs and randomness are passed in, and every answer is data — store ops to commit or
//! an error to show.
//!
//! ```text
//! api ─► controlapi ─► Txn ─► (store) ─► orchestrator ─► allocator ─► scheduler ─► (dispatcher)
//!                                  roles: a demoted manager leaves the Raft group
//! ```
//!
//! The manager runs these on the leader (`control_loop`) and proposes their ops; the API
//! edge uses the filter types and [`Error`].

// Tests state their expectations with unwrap; library code keeps the lint.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod allocator;
pub mod constraint;
pub mod controlapi;
pub mod error;
pub mod executor;
pub mod netview;
pub mod orchestrator;
pub mod roles;
pub mod root_rotation;
pub mod scheduler;
#[cfg(any(test, feature = "testing"))]
pub mod settle;

pub use error::{Error, Result};
