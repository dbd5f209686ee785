//! The cluster's certificate authority, join tokens and TLS configurations.
//!
//! ```text
//! swarm init ─► RootCa::generate ─► cluster object (raft)      joiner: NodeKey ─► CSR
//!                                         │                              │
//!  token = SWMTKN-1-<sha256(CA pem)>-<secret>  ◄── IssueNodeCertificate(token, CSR) ──┘
//!                                         │
//!                        RootCa::issue(CN=node ID, OU=swarm-manager|worker, O=cluster ID)
//! ```
//!
//! All node-to-node traffic is mutual TLS with these certificates; the RPC layer reads the
//! peer's identity ([`PeerIdentity`]) from its certificate to authorise each call.

// Tests state their expectations with unwrap; library code keeps the lint.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod authority;
pub mod error;
pub mod external;
pub mod identity;
pub mod key_forms;
pub mod rotation;
pub mod signing_root;
pub mod tls;
pub mod token;

pub use authority::{NodeKey, RootCa, ca_digest};
pub use error::{Error, Result};
pub use identity::PeerIdentity;
pub use rotation::{issued_by, trust_bundle};
pub use token::JoinToken;
