//! Secret and config shapes: `GET /secrets|/configs[/{id}]`, the bodies of create and
//! update. `Data` is base64, as Go encodes `[]byte`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::node::ObjectVersion;
use super::nullable;

/// Docker's `Driver` (a secret driver or a templating driver).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PayloadDriver {
    /// Driver name.
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    /// Driver options.
    #[serde(default, deserialize_with = "nullable")]
    pub options: BTreeMap<String, String>,
}

/// A secret's or config's spec (create and update bodies, and what inspect shows).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PayloadSpec {
    /// Name.
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    /// Labels.
    #[serde(default, deserialize_with = "nullable")]
    pub labels: BTreeMap<String, String>,
    /// Base64 payload: absent from secret inspect; absent in an update that changes labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// A secret driver (refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<PayloadDriver>,
    /// A templating driver (refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub templating: Option<PayloadDriver>,
}

/// A secret or config as inspect shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Payload {
    /// ID.
    #[serde(rename = "ID", default, deserialize_with = "nullable")]
    pub id: String,
    /// Version to send back with an update.
    #[serde(default, deserialize_with = "nullable")]
    pub version: ObjectVersion,
    /// When it was created (RFC 3339 with nanoseconds).
    #[serde(default, deserialize_with = "nullable")]
    pub created_at: String,
    /// When it was last written.
    #[serde(default, deserialize_with = "nullable")]
    pub updated_at: String,
    /// The spec.
    #[serde(default, deserialize_with = "nullable")]
    pub spec: PayloadSpec,
}

/// The answer to a create.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayloadCreateResponse {
    /// The new ID.
    #[serde(rename = "ID")]
    pub id: String,
}
