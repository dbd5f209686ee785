//! Secrets: the rules for create, update (labels only), remove (refused while a service
//! references it) and list filters, with dockerd's messages. The pieces configs share with
//! secrets (names, payload size, filters, plugin refusals) live here too.

use std::collections::BTreeMap;
use std::sync::Arc;

use state::{Op, State};
use types::secret::{MAX_SECRET_SIZE, valid_name};
use types::{Kind, Object, Secret, SecretSpec};

use crate::{Error, Result};

/// `GET /secrets` and `GET /configs` filters, as dockerd reads them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilters {
    /// `id`: ID prefixes.
    pub ids: Vec<String>,
    /// `name`: name prefixes.
    pub name_prefixes: Vec<String>,
    /// `names`: exact names.
    pub names: Vec<String>,
    /// `label`: `key` or `key=value`.
    pub labels: Vec<String>,
}

impl ListFilters {
    /// Whether an object with this ID, name and labels passes (each given filter must match
    /// one of its values; labels must all match).
    pub fn matches(&self, id: &str, name: &str, labels: &BTreeMap<String, String>) -> bool {
        (self.ids.is_empty() || self.ids.iter().any(|p| id.starts_with(p.as_str())))
            && (self.name_prefixes.is_empty()
                || self.name_prefixes.iter().any(|p| name.starts_with(p.as_str())))
            && (self.names.is_empty() || self.names.iter().any(|n| n == name))
            && super::service::labels_match(labels, &self.labels)
    }
}

/// Refuses what shoal does not run: secret/config driver plugins and templating.
pub fn refuse_plugins(what: &str, driver: &str, templating: &str) -> Result<()> {
    if !driver.is_empty() {
        return Err(Error::Unimplemented(format!(
            "{what} drivers are not supported: shoal keeps {what} data in its own encrypted store (driver {:?})",
            types::excerpt(driver)
        )));
    }
    if !templating.is_empty() {
        return Err(Error::Unimplemented(format!(
            "{what} templating ({:?}) is not supported: the data is delivered as given",
            types::excerpt(templating)
        )));
    }
    Ok(())
}

/// Checks a name and payload size as Swarm does.
pub(super) fn check_spec(what: &str, name: &str, data: &[u8], max: usize) -> Result<()> {
    if !valid_name(name) {
        return Err(Error::InvalidArgument(format!(
            "invalid name {:?}, only 64 [a-zA-Z0-9-_.] characters allowed, and the start and end character must be [a-zA-Z0-9]",
            types::excerpt(name)
        )));
    }
    if data.is_empty() || data.len() >= max {
        return Err(Error::InvalidArgument(format!(
            "{what} data must be larger than 0 and less than {} bytes",
            max
        )));
    }
    Ok(())
}

/// The `'a', 'b'` list of names dockerd shows in an in-use refusal.
pub(super) fn in_use_message(what: &str, name: &str, services: &[Arc<types::Service>]) -> String {
    let names: Vec<&str> = services.iter().map(|s| s.spec.name.as_str()).collect();
    format!(
        "{what} '{name}' is in use by the following service{}: {}",
        if names.len() == 1 { "" } else { "s" },
        names.join(", ")
    )
}

fn lookup(state: &State, key: &str) -> Result<Arc<Secret>> {
    state.lookup_secret(key).map_err(|e| match e {
        state::LookupError::NotFound { .. } => Error::NotFound(format!("secret {key} not found")),
        state::LookupError::Ambiguous { .. } => Error::InvalidArgument(format!(
            "secret {key} is ambiguous (multiple matches found based on ID or name prefix)"
        )),
    })
}

/// A secret by ID, name or unique ID prefix.
pub fn get(state: &State, key: &str) -> Result<Arc<Secret>> {
    lookup(state, key)
}

/// The secrets that pass `f`, ordered by ID.
pub fn list(state: &State, f: &ListFilters) -> Vec<Arc<Secret>> {
    state
        .secrets()
        .filter(|s| f.matches(&s.id, &s.spec.name, &s.spec.labels))
        .cloned()
        .collect()
}

/// Plans `POST /secrets/create`.
pub fn create(state: &State, id: String, spec: SecretSpec) -> Result<Op> {
    check_spec("secret", &spec.name, &spec.data.0, MAX_SECRET_SIZE)?;
    if state.secret_by_name(&spec.name).is_some() {
        return Err(Error::Conflict(format!("secret {} already exists", spec.name)));
    }
    Ok(Op::Create(Object::Secret(Secret {
        id,
        meta: Default::default(),
        spec,
    })))
}

/// Plans `POST /secrets/{id}/update?version=N`: only the labels may change. `data` is the
/// payload the request carried, if any (an unchanged copy is accepted).
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
        object: Object::Secret(next),
        expect_version: Some(version),
    })
}

/// Plans `DELETE /secrets/{id}`; refused while a service references the secret.
pub fn remove(state: &State, key: &str) -> Result<Op> {
    let s = lookup(state, key)?;
    let users = state.services_using(Kind::Secret, &s.id);
    if !users.is_empty() {
        return Err(Error::InvalidArgument(in_use_message(
            "secret",
            &s.spec.name,
            &users,
        )));
    }
    Ok(Op::Delete {
        kind: Kind::Secret,
        id: s.id.clone(),
        expect_version: Some(s.meta.version),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orchestrator::fixtures::World;
    use types::SecretData;

    pub(crate) fn spec(name: &str, data: &[u8]) -> SecretSpec {
        SecretSpec {
            name: name.into(),
            labels: BTreeMap::new(),
            data: SecretData(data.to_vec()),
        }
    }

    #[test]
    fn create_checks_names_sizes_and_duplicates_as_dockerd() {
        let mut w = World::new();
        w.commit_op(create(&w.state, "s1".into(), spec("db.pw", b"x")).unwrap());
        let err = |s| create(&w.state, "s2".into(), s).unwrap_err();
        assert!(matches!(err(spec("db.pw", b"y")), Error::Conflict(_)));
        for bad in ["-a", "a-", "a b", &"x".repeat(65)] {
            assert!(matches!(err(spec(bad, b"y")), Error::InvalidArgument(_)), "{bad}");
        }
        assert!(matches!(err(spec("e", b"")), Error::InvalidArgument(_)));
        let big = vec![0u8; MAX_SECRET_SIZE];
        assert!(matches!(err(spec("big", &big)), Error::InvalidArgument(_)));
        create(&w.state, "s2".into(), spec("ok", &big[1..])).unwrap();
        assert!(matches!(
            refuse_plugins("secret", "", "golang"),
            Err(Error::Unimplemented(m)) if m.contains("templating")
        ));
        assert!(refuse_plugins("secret", "", "").is_ok());
    }

    #[test]
    fn update_changes_labels_only() {
        let mut w = World::new();
        w.commit_op(create(&w.state, "s1".into(), spec("pw", b"x")).unwrap());
        let v = w.state.secret("s1").unwrap().meta.version;
        let labels: BTreeMap<String, String> = [("a".to_string(), "b".to_string())].into();
        w.commit_op(update(&w.state, "pw", v, "pw", labels.clone(), None).unwrap());
        assert_eq!(w.state.secret("s1").unwrap().spec.labels, labels);
        let err = update(&w.state, "pw", v, "other", BTreeMap::new(), None).unwrap_err();
        assert_eq!(err.to_string(), "only updates to Labels are allowed");
        let err = update(&w.state, "pw", v, "pw", BTreeMap::new(), Some(b"new")).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)));
        // A stale version is refused by the store.
        let op = update(&w.state, "pw", v, "pw", BTreeMap::new(), Some(b"x")).unwrap();
        assert!(w.try_commit(vec![op]).is_err());
    }

    #[test]
    fn filters_match_ids_names_and_labels() {
        let f = ListFilters {
            name_prefixes: vec!["db".into()],
            labels: vec!["env=prod".into()],
            ..Default::default()
        };
        let prod: BTreeMap<String, String> = [("env".to_string(), "prod".to_string())].into();
        assert!(f.matches("x", "db.pw", &prod));
        assert!(!f.matches("x", "web", &prod));
        assert!(!f.matches("x", "db.pw", &BTreeMap::new()));
        let exact = ListFilters {
            names: vec!["db".into()],
            ids: vec!["ab".into()],
            ..Default::default()
        };
        assert!(exact.matches("abc", "db", &BTreeMap::new()));
        assert!(!exact.matches("abc", "db.pw", &BTreeMap::new()));
        assert!(!exact.matches("xbc", "db", &BTreeMap::new()));
    }
}
