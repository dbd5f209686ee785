//! The daemon's secrets and configs: the API's calls over the manager (rules in
//! `rules::controlapi::payload`).

use std::collections::BTreeMap;

use manager::{Error, Manager};
use rules::controlapi::payload;
use rules::controlapi::secret::ListFilters;
use types::{Kind, Object};

type Result<T> = std::result::Result<T, Error>;

/// Plans and commits a create; the new ID.
pub async fn create(
    m: &Manager,
    kind: Kind,
    name: String,
    labels: BTreeMap<String, String>,
    data: Vec<u8>,
) -> Result<String> {
    let id = m.new_id();
    let op = payload::create(&*m.synced_view().await, kind, id.clone(), name, labels, data)?;
    m.propose(vec![op]).await?;
    Ok(id)
}

/// The objects that pass `filters`.
pub async fn list(m: &Manager, kind: Kind, filters: &ListFilters) -> Result<Vec<Object>> {
    payload::list(&*m.synced_view().await, kind, filters)
}

/// One object by ID, name or unique ID prefix.
pub async fn get(m: &Manager, kind: Kind, key: &str) -> Result<Object> {
    payload::get(&*m.synced_view().await, kind, key)
}

/// A labels-only update.
pub async fn update(
    m: &Manager,
    kind: Kind,
    key: &str,
    version: u64,
    name: &str,
    labels: BTreeMap<String, String>,
    data: Option<&[u8]>,
) -> Result<()> {
    let op = payload::update(&*m.synced_view().await, kind, key, version, name, labels, data)?;
    m.propose(vec![op]).await?;
    Ok(())
}

/// A rotation (shoal's): the next version of a secret or config, committed with the updates
/// of the services that move to it in one transaction.
pub async fn rotate(
    m: &Manager,
    kind: Kind,
    key: &str,
    data: Vec<u8>,
    now: types::Timestamp,
) -> Result<api::backend::SecretRotated> {
    let id = m.new_id();
    let r = rules::controlapi::rotate::rotate(&*m.synced_view().await, kind, key, id, data, now)?;
    m.propose(r.ops).await?;
    Ok(api::backend::SecretRotated {
        id: r.id,
        name: r.name,
        services: r.services,
    })
}

/// A remove, refused while a service references the object.
pub async fn remove(m: &Manager, kind: Kind, key: &str) -> Result<()> {
    let op = payload::remove(&*m.synced_view().await, kind, key)?;
    m.propose(vec![op]).await?;
    Ok(())
}
