//! The Docker Engine API edge: HTTP in Docker's shapes, over a unix socket and TCP.
//!
//! ```text
//! docker CLI ─► server (axum; version prefix, JSON, errors) ─► Backend (daemon) ─► manager
//! ```

pub mod backend;

pub use backend::{Backend, InitRequest, JoinRequest, LocalNodeState, ManagerInfo, NodeView, SwarmStatus};
