//! The Docker API calls of a stack's networks, secrets and configs (the client's typed
//! calls cover services and tasks): list by filters, create, update, remove.

use api::Client;
use api::client::Filters;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Value, json};

/// A network, secret or config as listed: what deploy and rm need of it.
#[derive(Debug, Clone, Deserialize)]
pub struct Listed {
    /// `Id` (networks) or `ID` (secrets, configs).
    #[serde(alias = "Id", alias = "ID", default)]
    pub id: String,
    /// Networks carry their name at the top.
    #[serde(rename = "Name", default)]
    pub name: String,
    /// Secrets and configs carry theirs in the spec.
    #[serde(rename = "Spec", default)]
    pub spec: Option<ListedSpec>,
    /// Secrets' and configs' version.
    #[serde(rename = "Version", default)]
    pub version: Option<ListedVersion>,
}

/// The part of a secret's or config's spec read here.
#[derive(Debug, Clone, Deserialize)]
pub struct ListedSpec {
    /// Its name.
    #[serde(rename = "Name", default)]
    pub name: String,
}

/// An object version.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct ListedVersion {
    /// Raft index.
    #[serde(rename = "Index", default)]
    pub index: u64,
}

impl Listed {
    /// Its name wherever the API put it.
    pub fn name(&self) -> &str {
        match &self.spec {
            Some(s) if self.name.is_empty() => &s.name,
            _ => &self.name,
        }
    }
}

/// The kinds of object handled here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `/networks`.
    Network,
    /// `/secrets`.
    Secret,
    /// `/configs`.
    Config,
}

impl Kind {
    /// The API path.
    fn path(self) -> &'static str {
        match self {
            Kind::Network => "/networks",
            Kind::Secret => "/secrets",
            Kind::Config => "/configs",
        }
    }

    /// The word docker prints.
    pub fn word(self) -> &'static str {
        match self {
            Kind::Network => "network",
            Kind::Secret => "secret",
            Kind::Config => "config",
        }
    }
}

/// Objects of `kind` matching `filters`.
pub async fn list(client: &Client, kind: Kind, filters: &Filters) -> anyhow::Result<Vec<Listed>> {
    let query = vec![("filters", serde_json::to_string(filters)?)];
    Ok(client.get(kind.path(), &query).await?)
}

/// The object of `kind` named exactly `name`, if any.
pub async fn find(client: &Client, kind: Kind, name: &str) -> anyhow::Result<Option<Listed>> {
    let mut filters = Filters::new();
    filters.insert("name".into(), vec![name.to_string()]);
    let found = list(client, kind, &filters).await?;
    Ok(found.into_iter().find(|o| o.name() == name))
}

/// Creates a network.
pub async fn create_network(client: &Client, spec: &types::NetworkSpec) -> anyhow::Result<()> {
    let ipam: Vec<Value> = spec
        .ipam
        .iter()
        .map(|c| {
            let mut entry = serde_json::Map::new();
            for (key, value) in [
                ("Subnet", &c.subnet),
                ("IPRange", &c.ip_range),
                ("Gateway", &c.gateway),
            ] {
                if !value.is_empty() {
                    entry.insert(key.into(), json!(value));
                }
            }
            Value::Object(entry)
        })
        .collect();
    let body = json!({
        "Name": spec.name,
        "Driver": spec.driver,
        "Scope": "swarm",
        "Attachable": spec.attachable,
        "Internal": spec.internal,
        "Options": spec.options,
        "Labels": spec.labels,
        "IPAM": {"Driver": "default", "Config": ipam},
    });
    let _: Value = client.post("/networks/create", &[], &body).await?;
    Ok(())
}

/// Creates a secret or config, or updates its labels when it exists (its data cannot change:
/// the daemon refuses that, as dockerd does).
pub async fn put_payload(
    client: &Client,
    kind: Kind,
    name: &str,
    labels: &std::collections::BTreeMap<String, String>,
    data: &[u8],
) -> anyhow::Result<bool> {
    let body = json!({
        "Name": name,
        "Labels": labels,
        "Data": base64::engine::general_purpose::STANDARD.encode(data),
    });
    match find(client, kind, name).await? {
        Some(existing) => {
            let version = existing.version.map_or(0, |v| v.index);
            let path = format!("{}/{}/update", kind.path(), existing.id);
            client
                .post_unit(&path, &[("version", version.to_string())], Some(&body))
                .await?;
            Ok(false)
        }
        None => {
            let _: Value = client
                .post(&format!("{}/create", kind.path()), &[], &body)
                .await?;
            Ok(true)
        }
    }
}

/// Removes an object by ID.
pub async fn remove(client: &Client, kind: Kind, id: &str) -> anyhow::Result<()> {
    client.delete(&format!("{}/{id}", kind.path()), &[]).await?;
    Ok(())
}
