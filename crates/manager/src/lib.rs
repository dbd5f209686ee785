//! The manager: the I/O around the pure rules (the `rules` crate) — Raft replica, proposals,
//! certificate authority, dispatcher and the leader's control loop that runs the reconcilers.
//!
//! ```text
//! api ─► rules::controlapi ─► Manager::propose ─► raft ─► store ─► control_loop
//!                                                    ▲         (rules: orchestrator ─► allocator ─► scheduler)
//! nodes ─► cluster port: Ca (join) · Dispatcher (sessions) · Control · Raft
//! ```
//!
//! `error` maps the rules' [`Error`] to and from the cluster RPC's gRPC status.

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
// The pure rules, under the paths this crate's loops and services name them by.
use rules::{allocator, orchestrator, roles, scheduler};
