//! Secret and config shapes: `GET /secrets|/configs[/{id}]`, the bodies of create and
//! update. `Data` is base64, as Go encodes `[]byte`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::node::ObjectVersion;
use super::nullable;

/// Docker's `Driver` (a secret driver or a templating driver).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayloadDriver {
    /// Driver name.
    #[serde(rename = "Name", default, deserialize_with = "nullable")]
    pub name: String,
    /// Driver options.
    #[serde(rename = "Options", default, deserialize_with = "nullable")]
    pub options: BTreeMap<String, String>,
}

/// A secret's or config's spec (create and update bodies, and what inspect shows).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayloadSpec {
    /// Name.
    #[serde(rename = "Name", default, deserialize_with = "nullable")]
    pub name: String,
    /// Labels.
    #[serde(rename = "Labels", default, deserialize_with = "nullable")]
    pub labels: BTreeMap<String, String>,
    /// Base64 payload: absent from secret inspect; absent in an update that changes labels.
    #[serde(rename = "Data", default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    /// A secret driver (refused).
    #[serde(rename = "Driver", default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<PayloadDriver>,
    /// A templating driver (refused).
    #[serde(rename = "Templating", default, skip_serializing_if = "Option::is_none")]
    pub templating: Option<PayloadDriver>,
}

/// A secret or config as inspect shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payload {
    /// ID.
    #[serde(rename = "ID", default, deserialize_with = "nullable")]
    pub id: String,
    /// Version to send back with an update.
    #[serde(rename = "Version", default, deserialize_with = "nullable")]
    pub version: ObjectVersion,
    /// When it was created (RFC 3339 with nanoseconds).
    #[serde(rename = "CreatedAt", default, deserialize_with = "nullable")]
    pub created_at: String,
    /// When it was last written.
    #[serde(rename = "UpdatedAt", default, deserialize_with = "nullable")]
    pub updated_at: String,
    /// The spec.
    #[serde(rename = "Spec", default, deserialize_with = "nullable")]
    pub spec: PayloadSpec,
}

/// The answer to a create.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayloadCreateResponse {
    /// The new ID.
    #[serde(rename = "ID")]
    pub id: String,
}
