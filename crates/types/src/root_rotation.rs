//! Root CA rotation state, kept beside the cluster object (Swarm's `RootCA.RootRotation` and
//! `CAConfig.ForceRotate`). Stored through its own Raft op and snapshot record rather than as
//! fields of `Cluster`, whose postcard encoding must stay as it was.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// The cluster's CA settings that `Cluster` has no field for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaState {
    /// The spec's `CAConfig.ForceRotate` counter last acted on: a different value asks for a
    /// new root.
    pub force_rotate: u64,
    /// The rotation under way, if any.
    pub rotation: Option<RootRotation>,
}

/// A root CA rotation under way: node certificates are issued by the new root until every
/// node holds one, then the new root replaces the old one and the join tokens change.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootRotation {
    /// PEM of the new root certificate.
    pub ca_cert_pem: String,
    /// PEM of the new root key (managers only, sealed with the Raft log like the old key).
    pub ca_key_pem: String,
    /// The new root's certificate signed by the old root, sent after each leaf it issues.
    pub cross_signed_pem: String,
    /// Nodes that received a certificate from the new root.
    pub renewed: BTreeSet<String>,
}

impl std::fmt::Debug for RootRotation {
    // The key stays out of logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RootRotation")
            .field("renewed", &self.renewed)
            .finish_non_exhaustive()
    }
}
