//! Secret rotation (a shoal extension; Swarm has none, moby/moby#35803): one write that
//! creates the next version of a secret and moves every service using the secret to it, so
//! each service rolls its tasks as its `UpdateConfig` says.
//!
//! ```text
//! db_pw (v1) ── rotate ─► db_pw.v2 {labels: com.shoal.secret.base=db_pw, .version=2}
//!                          services referencing db_pw or any of its versions: SecretID/Name
//!                          → db_pw.v2, file target, owner and mode unchanged (spec version + 1)
//! ```
//!
//! Versions are separate secrets (Swarm's secrets are immutable), linked by two labels:
//! the base name and the version number. The base secret itself is version 1. Rotating any
//! version makes `<base>.v<highest + 1>`. Old versions stay until the user removes them
//! (removal is refused while a service still uses one, as for any secret).

use std::sync::Arc;

use state::{Op, State, Txn};
use types::secret::{MAX_SECRET_SIZE, references, with_references};
use types::{Secret, SecretData, SecretSpec, Timestamp};

use crate::{Error, Result};

/// Label naming the secret a version was rotated from (the first version's name).
pub const BASE_LABEL: &str = "com.shoal.secret.base";

/// Label with a rotated secret's version number (the base secret is version 1).
pub const VERSION_LABEL: &str = "com.shoal.secret.version";

/// What a rotation writes and what it tells the caller.
#[derive(Debug, Clone)]
pub struct Rotation {
    /// The store ops, to commit as one transaction: the new secret, then the services.
    pub ops: Vec<Op>,
    /// The new secret's ID.
    pub id: String,
    /// The new secret's name (`<base>.v<N>`).
    pub name: String,
    /// Names of the services moved to it.
    pub services: Vec<String>,
}

fn version_of(s: &Secret) -> u64 {
    s.spec
        .labels
        .get(VERSION_LABEL)
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

/// Plans rotating the secret `key` (ID, name or unique ID prefix) to `data`, the new secret
/// taking ID `id`.
pub fn rotate_secret(
    state: &State,
    key: &str,
    id: String,
    data: Vec<u8>,
    now: Timestamp,
) -> Result<Rotation> {
    let current = super::secret::get(state, key)?;
    let base = current
        .spec
        .labels
        .get(BASE_LABEL)
        .cloned()
        .unwrap_or_else(|| current.spec.name.clone());
    let chain: Vec<&Arc<Secret>> = state
        .secrets()
        .filter(|s| s.spec.name == base || s.spec.labels.get(BASE_LABEL) == Some(&base))
        .collect();
    let next = chain.iter().map(|s| version_of(s)).max().unwrap_or(1) + 1;
    let name = format!("{base}.v{next}");
    super::secret::check_spec("secret", &name, &data, MAX_SECRET_SIZE).map_err(|e| match e {
        Error::InvalidArgument(m) if m.starts_with("invalid name") => Error::InvalidArgument(format!(
            "cannot rotate secret {base}: the next version's name {name:?} is not a valid secret name"
        )),
        other => other,
    })?;
    let mut labels = current.spec.labels.clone();
    labels.insert(BASE_LABEL.into(), base.clone());
    labels.insert(VERSION_LABEL.into(), next.to_string());
    let spec = SecretSpec {
        name: name.clone(),
        labels,
        data: SecretData(data),
    };
    let create = super::secret::create(state, id.clone(), spec)?;

    // The services are planned against the state with the new secret in it, as the
    // transaction applies them after its create.
    let txn = Txn {
        id: 0,
        ops: vec![create.clone()],
        now,
    };
    let (after, _) = state
        .apply(&txn, state.index)
        .map_err(|e| Error::InvalidArgument(format!("cannot create the next version of {base}: {e}")))?;
    let versions: Vec<String> = chain.iter().map(|s| s.id.clone()).collect();
    let mut ops = vec![create];
    let mut services = Vec::new();
    for service in after.services() {
        let Ok(mut refs) = references(&service.spec.task.container.extra) else {
            continue;
        };
        let mut moved = false;
        for r in refs
            .secrets
            .iter_mut()
            .filter(|r| versions.contains(&r.secret_id))
        {
            r.secret_id = id.clone();
            r.secret_name = name.clone();
            moved = true;
        }
        if !moved {
            continue;
        }
        let mut spec = service.spec.clone();
        let mut task = (*spec.task).clone();
        task.container.extra = with_references(&task.container.extra, &refs);
        spec.task = Arc::new(task);
        ops.push(super::service::update(
            &after,
            &service.id,
            service.meta.version,
            spec,
            false,
            now,
        )?);
        services.push(service.spec.name.clone());
    }
    Ok(Rotation {
        ops,
        id,
        name,
        services,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::controlapi::secret;
    use crate::orchestrator::fixtures::World;
    use types::{ServiceMode, TaskSpec, UpdateState};

    fn world() -> World {
        let mut w = World::new();
        let spec = SecretSpec {
            name: "db_pw".into(),
            labels: BTreeMap::from([("team".to_string(), "a".to_string())]),
            data: SecretData(b"one".to_vec()),
        };
        w.commit_op(secret::create(&w.state, "s1".into(), spec).unwrap());
        let mut task = TaskSpec::default();
        task.container.image = "busybox".into();
        task.container.extra =
            r#"{"Secrets":[{"File":{"Name":"pw","UID":"0","GID":"0","Mode":256},"SecretID":"s1","SecretName":"db_pw"}]}"#
                .into();
        w.service("web", ServiceMode::Replicated { replicas: 2 }, task)
    }

    #[test]
    fn rotation_makes_the_next_version_and_moves_every_user_to_it() {
        let mut w = world();
        let before = w.state.lookup_service("web").unwrap();
        let r = rotate_secret(&w.state, "db_pw", "s2".into(), b"two".to_vec(), Timestamp(5)).unwrap();
        assert_eq!(
            (r.name.as_str(), r.services.as_slice()),
            ("db_pw.v2", &["web".to_string()][..])
        );
        w.try_commit(r.ops).unwrap();
        let s2 = w.state.secret("s2").unwrap();
        assert_eq!(s2.spec.data.0, b"two");
        assert_eq!(s2.spec.labels.get(BASE_LABEL).map(String::as_str), Some("db_pw"));
        assert_eq!(s2.spec.labels.get(VERSION_LABEL).map(String::as_str), Some("2"));
        assert_eq!(s2.spec.labels.get("team").map(String::as_str), Some("a"));
        let web = w.state.lookup_service("web").unwrap();
        assert_eq!(web.spec_version, before.spec_version + 1, "the service rolls");
        assert_eq!(
            web.update_status.as_ref().map(|u| u.state),
            Some(UpdateState::Updating)
        );
        let refs = references(&web.spec.task.container.extra).unwrap();
        assert_eq!(refs.secrets[0].secret_id, "s2");
        assert_eq!(refs.secrets[0].secret_name, "db_pw.v2");
        let file = refs.secrets[0].file.clone().unwrap();
        assert_eq!((file.name.as_str(), file.mode), ("pw", 0o400), "target unchanged");
        // The old version is free to remove now; rotating any version makes v3.
        secret::remove(&w.state, "db_pw").unwrap();
        let r = rotate_secret(&w.state, "db_pw.v2", "s3".into(), b"three".to_vec(), Timestamp(6)).unwrap();
        assert_eq!(r.name, "db_pw.v3");
        let r = rotate_secret(&w.state, "db_pw", "s3".into(), b"three".to_vec(), Timestamp(6)).unwrap();
        assert_eq!(r.name, "db_pw.v3");
    }

    #[test]
    fn rotation_refuses_what_create_refuses() {
        let w = world();
        let err = rotate_secret(&w.state, "nope", "s2".into(), b"x".to_vec(), Timestamp(5)).unwrap_err();
        assert!(matches!(err, Error::NotFound(_)), "{err}");
        let err = rotate_secret(&w.state, "db_pw", "s2".into(), Vec::new(), Timestamp(5)).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
        let mut long = World::new();
        let spec = SecretSpec {
            name: "x".repeat(63),
            labels: BTreeMap::new(),
            data: SecretData(b"one".to_vec()),
        };
        long.commit_op(secret::create(&long.state, "s1".into(), spec).unwrap());
        let err = rotate_secret(&long.state, "s1", "s2".into(), b"x".to_vec(), Timestamp(5)).unwrap_err();
        assert!(err.to_string().contains("not a valid secret name"), "{err}");
    }
}
