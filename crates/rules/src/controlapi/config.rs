//! Configs: secrets' rules (`secret.rs`) with Swarm's larger payload limit; their data is not
//! confidential and inspect shows it.

use std::collections::BTreeMap;
use std::sync::Arc;

use state::{Op, State};
use types::secret::MAX_CONFIG_SIZE;
use types::{Config, ConfigSpec, Kind, Object};

use super::secret::{ListFilters, check_spec, in_use_message};
use crate::{Error, Result};

fn lookup(state: &State, key: &str) -> Result<Arc<Config>> {
    state.lookup_config(key).map_err(|e| match e {
        state::LookupError::NotFound { .. } => Error::NotFound(format!("config {key} not found")),
        state::LookupError::Ambiguous { .. } => Error::InvalidArgument(format!(
            "config {key} is ambiguous (multiple matches found based on ID or name prefix)"
        )),
    })
}

/// A config by ID, name or unique ID prefix.
pub fn get(state: &State, key: &str) -> Result<Arc<Config>> {
    lookup(state, key)
}

/// The configs that pass `f`, ordered by ID.
pub fn list(state: &State, f: &ListFilters) -> Vec<Arc<Config>> {
    state
        .configs()
        .filter(|c| f.matches(&c.id, &c.spec.name, &c.spec.labels))
        .cloned()
        .collect()
}

/// Plans `POST /configs/create`.
pub fn create(state: &State, id: String, spec: ConfigSpec) -> Result<Op> {
    check_spec("config", &spec.name, &spec.data.0, MAX_CONFIG_SIZE)?;
    if state.config_by_name(&spec.name).is_some() {
        return Err(Error::Conflict(format!("config {} already exists", spec.name)));
    }
    Ok(Op::Create(Object::Config(Config {
        id,
        meta: Default::default(),
        spec,
    })))
}

/// Plans `POST /configs/{id}/update?version=N`: only the labels may change.
pub fn update(
    state: &State,
    key: &str,
    version: u64,
    name: &str,
    labels: BTreeMap<String, String>,
    data: Option<&[u8]>,
) -> Result<Op> {
    let current = lookup(state, key)?;
    if (!name.is_empty() && name != current.spec.name) || data.is_some_and(|d| d != current.spec.data.0) {
        return Err(Error::InvalidArgument(
            "only updates to Labels are allowed".into(),
        ));
    }
    let mut next = (*current).clone();
    next.spec.labels = labels;
    Ok(Op::Update {
        object: Object::Config(next),
        expect_version: Some(version),
    })
}

/// Plans `DELETE /configs/{id}`; refused while a service references the config.
pub fn remove(state: &State, key: &str) -> Result<Op> {
    let c = lookup(state, key)?;
    let users = state.services_using(Kind::Config, &c.id);
    if !users.is_empty() {
        return Err(Error::InvalidArgument(in_use_message(
            "config",
            &c.spec.name,
            &users,
        )));
    }
    Ok(Op::Delete {
        kind: Kind::Config,
        id: c.id.clone(),
        expect_version: Some(c.meta.version),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orchestrator::fixtures::World;
    use types::SecretData;

    fn spec(name: &str, data: &[u8]) -> ConfigSpec {
        ConfigSpec {
            name: name.into(),
            labels: BTreeMap::new(),
            data: SecretData(data.to_vec()),
        }
    }

    #[test]
    fn configs_take_up_to_swarms_limit_and_names_are_their_own() {
        let mut w = World::new();
        // A config may be bigger than any secret.
        let big = vec![b'x'; MAX_CONFIG_SIZE - 1];
        w.commit_op(create(&w.state, "c1".into(), spec("app", &big)).unwrap());
        let err = create(&w.state, "c2".into(), spec("app", b"y")).unwrap_err();
        assert!(matches!(err, Error::Conflict(_)));
        let err = create(&w.state, "c2".into(), spec("b", &[0; MAX_CONFIG_SIZE])).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)));
        assert_eq!(get(&w.state, "app").unwrap().id, "c1");
        assert!(matches!(get(&w.state, "nope"), Err(Error::NotFound(_))));
        assert_eq!(list(&w.state, &ListFilters::default()).len(), 1);
        w.commit_op(remove(&w.state, "app").unwrap());
        assert!(w.state.config("c1").is_none());
    }
}
