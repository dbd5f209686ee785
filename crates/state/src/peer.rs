//! How a Raft member is addressed. A plain value here (not in `store::consensus`) so that
//! the role rules can read the voter set without naming the consensus library. Stored in
//! the Raft log's membership entries: its shape is part of the log format.

use std::fmt;

use serde::{Deserialize, Serialize};

/// How a Raft member is reached: its cluster RPC address and its node ID.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Peer {
    /// `host:port` of the member's cluster RPC listener.
    pub addr: String,
    /// The Swarm node ID (certificate CN) of the member.
    pub node_id: String,
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.node_id, self.addr)
    }
}
