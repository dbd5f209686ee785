//! Secrets and configs addressed by kind, so the API edge and its backends carry one set of
//! calls for both (`secret.rs` and `config.rs` hold the rules).

use std::collections::BTreeMap;

use state::{Op, State};
use types::{ConfigSpec, Kind, Object, SecretData, SecretSpec};

use super::secret::ListFilters;
use super::{config, secret};
use crate::{Error, Result};

fn other(kind: Kind) -> Error {
    Error::Internal(format!("{} is neither a secret nor a config", kind.as_str()))
}

/// Plans a create of a secret (`Kind::Secret`) or config.
pub fn create(
    state: &State,
    kind: Kind,
    id: String,
    name: String,
    labels: BTreeMap<String, String>,
    data: Vec<u8>,
) -> Result<Op> {
    let data = SecretData(data);
    match kind {
        Kind::Secret => secret::create(state, id, SecretSpec { name, labels, data }),
        Kind::Config => config::create(state, id, ConfigSpec { name, labels, data }),
        _ => Err(other(kind)),
    }
}

/// The secrets or configs that pass `f`.
pub fn list(state: &State, kind: Kind, f: &ListFilters) -> Result<Vec<Object>> {
    match kind {
        Kind::Secret => Ok(secret::list(state, f)
            .into_iter()
            .map(|s| Object::Secret((*s).clone()))
            .collect()),
        Kind::Config => Ok(config::list(state, f)
            .into_iter()
            .map(|c| Object::Config((*c).clone()))
            .collect()),
        _ => Err(other(kind)),
    }
}

/// One secret or config by ID, name or unique ID prefix.
pub fn get(state: &State, kind: Kind, key: &str) -> Result<Object> {
    match kind {
        Kind::Secret => Ok(Object::Secret((*secret::get(state, key)?).clone())),
        Kind::Config => Ok(Object::Config((*config::get(state, key)?).clone())),
        _ => Err(other(kind)),
    }
}

/// Plans a labels-only update.
pub fn update(
    state: &State,
    kind: Kind,
    key: &str,
    version: u64,
    name: &str,
    labels: BTreeMap<String, String>,
    data: Option<&[u8]>,
) -> Result<Op> {
    match kind {
        Kind::Secret => secret::update(state, key, version, name, labels, data),
        Kind::Config => config::update(state, key, version, name, labels, data),
        _ => Err(other(kind)),
    }
}

/// Plans a remove (refused while referenced).
pub fn remove(state: &State, kind: Kind, key: &str) -> Result<Op> {
    match kind {
        Kind::Secret => secret::remove(state, key),
        Kind::Config => config::remove(state, key),
        _ => Err(other(kind)),
    }
}
