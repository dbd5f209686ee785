//! Networks: a task's addresses, and this node's containers on a network.

use std::sync::Arc;

/// A task's address on one network.
#[derive(Debug, Clone)]
pub struct Attachment {
    /// The network.
    pub network: Arc<types::Network>,
    /// The address with its prefix (`10.0.1.3/24`).
    pub address: String,
}

/// A container of this node on a network, as `docker network inspect` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkEndpoint {
    /// The container's ID (the task's or standalone container's, as `/containers` shows it).
    pub container_id: String,
    /// The container's name.
    pub name: String,
    /// The endpoint's ID (64 hex digits, stable for the address's holder on that network).
    pub endpoint_id: String,
    /// Its interface's MAC address (`02:42:…`).
    pub mac_address: String,
    /// Its address with the network's prefix (`10.0.1.3/24`).
    pub ipv4_address: String,
}
