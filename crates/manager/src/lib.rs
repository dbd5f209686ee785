//! The manager: the I/O around the pure rules (the `rules` crate) — Raft replica, proposals,
//! certificate authority, dispatcher and the leader's control loop that runs the reconcilers.
//!
//! ```text
//! api ─► rules::controlapi ─► Proposer ─► raft ─► store ─► leader loops (control_loop)
//!                                                 ▲     (rules: orchestrator ─► allocator ─► scheduler)
//! nodes ─► cluster port: grpc/{ca,control,raft} · dispatcher/session
//! ```
//!
//! Layout, bottom up (no module imports one above it; `tests/layers.rs` checks):
//! the rules and leaf parts (`workers`, `ids`, `logbroker`, `authz`, `health`,
//! `dispatcher::liveness`) → `read_index`, `leadership`, `snapshots`, `grpc` (admission) →
//! `propose` → `membership`, `dispatcher::status_batcher`, `grpc::{ca,raft}` →
//! `control_loop`, `dispatcher::session`, `grpc::control` → `manager` (assembly).
//! `error` maps the rules' [`Error`] to and from the cluster RPC's gRPC status.

// Tests state their expectations with unwrap; library code keeps the lint.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod authz;
pub mod control_loop;
pub mod dispatcher;
pub mod error;
pub mod external_ca;
pub mod grpc;
pub mod health;
pub mod ids;
pub mod leadership;
pub mod log_route;
pub mod logbroker;
pub mod manager;
pub mod membership;
pub mod propose;
pub mod raft_net;
pub mod read_index;
pub mod snapshots;
#[cfg(feature = "testing")]
pub mod testing;
pub mod vouch;
pub mod workers;

pub use error::{Error, Result};
pub use manager::{Manager, ManagerConfig, Start};
pub use workers::{WorkerState, WorkerStatus};
// The pure rules, under the paths this crate's loops and services name them by.
use rules::{allocator, orchestrator, roles, scheduler};
