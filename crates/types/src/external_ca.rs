//! External certificate authorities (Swarm's `CAConfig.ExternalCAs`, `--external-ca`): signers
//! outside the cluster that sign node certificates when the cluster does not hold the root's
//! key. Stored through their own Raft op and snapshot record rather than as a field of
//! `ClusterSpec`, whose postcard encoding must stay as it was.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The protocol an external CA speaks. Swarm knows only cfssl's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExternalCaProtocol {
    /// CloudFlare's cfssl API: `POST <url>` with a JSON sign request.
    #[default]
    Cfssl,
}

/// One external CA of the cluster spec.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExternalCa {
    /// How to talk to it.
    pub protocol: ExternalCaProtocol,
    /// Where sign requests go (`https://…`).
    pub url: String,
    /// Protocol options, kept and shown as given.
    pub options: BTreeMap<String, String>,
    /// PEM of the root it signs under; empty means the cluster's current root. Its server
    /// certificate is also verified against this root.
    pub ca_cert_pem: String,
}
