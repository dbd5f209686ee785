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

pub mod allocator;
pub mod authz;
pub mod constraint;
pub mod control_loop;
pub mod controlapi;
pub mod dispatcher;
pub mod error;
pub mod grpc;
pub mod health;
pub mod ids;
pub mod leadership;
pub mod log_route;
pub mod logbroker;
pub mod manager;
pub mod membership;
pub mod orchestrator;
pub mod propose;
pub mod raft_net;
pub mod read_index;
pub mod roles;
pub mod scheduler;
pub mod snapshots;
#[cfg(feature = "testing")]
pub mod testing;
pub mod vouch;
pub mod workers;

pub use error::{Error, Result};
pub use manager::{Manager, ManagerConfig, Start};
pub use workers::{WorkerState, WorkerStatus};
