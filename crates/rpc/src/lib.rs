//! Cluster RPC: the gRPC services on port 2377, their messages, and mutual-TLS plumbing.
//!
//! ```text
//!  client ── Pool::call::<C>(addr, &req) ── TLS (node cert) ──► server::serve ── PeerInfo ──► handler
//! ```
//!
//! Each RPC `C` is bound to its request and response types in [`calls`]; handlers decode with
//! `C::request` and answer with `C::reply`.
//!
//! Handlers read who is calling from [`PeerInfo`] (taken from the client certificate during
//! the handshake) and refuse calls the caller's role may not make.

// Tests state their expectations with unwrap; library code keeps the lint.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod calls;
pub mod client;
mod codec;
pub mod error;
pub mod messages;
pub mod reason;
pub mod server;

/// Generated gRPC code (tonic + prost) for `proto/shoal.proto`.
#[allow(missing_docs, clippy::all)]
pub mod pb {
    tonic::include_proto!("shoal.v1");
}

pub use calls::Call;
pub use client::{Incoming, Pool, TlsIdentity};
pub use error::{Error, Result};
pub use reason::Reason;
pub use server::{PeerInfo, ServerHandle, require_manager, require_node, serve};
