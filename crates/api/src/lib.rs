//! The Docker Engine API edge: HTTP in Docker's shapes, over a unix socket and TCP, and the
//! typed client our CLI uses.
//!
//! ```text
//! docker CLI / shoal CLI (client) ─► server (axum; version prefix, JSON, errors)
//!     ─► convert (Docker JSON ⇄ types) ─► Backend (the daemon) ─► manager
//! ```
//!
//! The edge depends on the pure `rules` crate (filter types, [`rules::Error`]), not on the
//! manager: no Raft, disk or gRPC server behind these routes but the daemon's.
//!
//! `model` holds Docker's JSON shapes, `convert` the pure conversions, `server` the routes,
//! `client` the caller's side, `backend` the trait the daemon implements.

// Unit tests state their expectations with unwrap; library code keeps the lint.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod backend;
pub mod client;
pub mod containers;
pub mod convert;
pub mod error;
pub mod host;
pub mod model;
pub mod server;
pub mod socket;
pub mod version;

pub use backend::AttachOptions;
pub use backend::Attachment;
pub use backend::EventFeed;
pub use backend::NetworkEndpoint;
pub use backend::{
    Backend, ImageProgress, ImageUpload, InitRequest, JoinRequest, LocalNodeState, LogLine, LogOptions,
    LogStream, LogTarget, ManagerInfo, NodeView, ServiceView, SwarmStatus,
};
pub use backend::{ExecCreate, ExecStreams, ExecView};
pub use backend::{VolumeCreate, VolumeUsage, VolumeView};
pub use client::Client;
pub use error::{Error, Result};
pub use server::{bind_unix, router, serve_tcp, serve_unix, serve_unix_listener};
pub use socket::default_socket_path;
