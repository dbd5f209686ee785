//! The agent's network layer: it keeps the node's network views (sent beside the assignments)
//! and drives `netplane` from them — an overlay, a resolver and peers per network, a sandbox
//! (namespace, endpoints, VIP table, `resolv.conf`, `hosts`) per task on networks.
//!
//! - `views`: the views held, as the messages change them (pure);
//! - `spec`, `peers`, `records`, `vips`: what the plane, the resolvers and a task's VIP table
//!   get from the views (pure);
//! - `mesh`: the routing mesh's published ports from the ingress view (pure);
//! - `gateway`: which of a task's networks gives its default route (pure, libnetwork's rule);
//! - `tunnels`: the node's key pair and its peers' keys for encrypted overlays;
//! - `files`: a task's `resolv.conf` and `hosts` under the data dir;
//! - `namespaces`: task namespaces, the kernel's or recorded;
//! - `liveness`: peers probed on the underlay; unreachable ones leave balancers and DNS;
//! - `join`: a sandbox joined by a process already running (`docker network connect`);
//! - `node`: [`NodeNetwork`], the I/O over all of it: `converge` (views → data plane),
//!   `sandbox` (a task's sandbox), `teardown` (recovery after a restart, leaving the swarm).

mod converge;
mod error;
pub mod files;
pub mod gateway;
pub mod join;
pub mod liveness;
pub mod mesh;
pub mod namespaces;
mod node;
pub mod peers;
pub mod records;
mod sandbox;
pub mod spec;
mod teardown;
mod tunnels;
pub mod views;
pub mod vips;

#[cfg(test)]
mod tests;

pub use error::{Error, Result};
pub use namespaces::{KernelNamespaces, RecordedNamespaces, TaskNamespaces};
pub use node::{ATTACH_DEADLINE, NetworkConfig, NodeNetwork};
pub use views::Views;
