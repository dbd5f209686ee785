//! The manager: Raft replica, control API rules, certificate authority, dispatcher and the
//! leader's control loops.
//!
//! ```text
//! api ─► controlapi (pure rules) ─► Manager::propose ─► raft ─► store ─► leader loops
//!                                                          ▲
//! nodes ─► cluster port: Ca (join) · Dispatcher (sessions) · Control · Raft
//! ```

// Tests state their expectations with unwrap; library code keeps the lint.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod assignments;
pub mod authz;
pub mod control_loop;
pub mod dispatcher;
pub mod error;
pub mod health;
pub mod logbroker;
pub mod manager;
pub mod propose;
pub mod raft_net;
pub mod read_index;
pub mod services;
pub mod status_batcher;
#[cfg(feature = "testing")]
pub mod testing;
pub mod vouch;

pub use error::{Error, Result};
pub use manager::{Manager, ManagerConfig, Start};
/// The pure rules, under their old paths for the manager's callers.
pub use rules::{allocator, constraint, controlapi, orchestrator, roles, scheduler};
