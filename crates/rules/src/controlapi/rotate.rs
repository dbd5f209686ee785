//! Secret and config rotation (a shoal extension; Swarm has none, moby/moby#35803): one
//! write that creates the next version of a secret (or config) and moves every service using
//! it to that version, so each service rolls its tasks as its `UpdateConfig` says.
//!
//! ```text
//! db_pw (v1) ── rotate ─► db_pw.v2 {labels: com.shoal.secret.base=db_pw, .version=2}
//!                          services referencing db_pw or any of its versions: SecretID/Name
//!                          → db_pw.v2, file target, owner and mode unchanged (spec version + 1)
//! app.conf ── rotate ─► app.conf.v2 {com.shoal.config.base, .version}, ConfigID/Name likewise
//! ```
//!
//! Versions are separate objects (Swarm's secrets and configs are immutable), linked by two
//! labels: the base name and the version number. The base object itself is version 1.
//! Rotating any version makes `<base>.v<highest + 1>`. Old versions stay until the user
//! removes them (removal is refused while a service still uses one, as for any secret).

use std::collections::BTreeMap;
use std::sync::Arc;

use state::{Op, State, Txn};
use types::secret::{MAX_CONFIG_SIZE, MAX_SECRET_SIZE, references, with_references};
use types::{Kind, Object, Timestamp};

use crate::{Error, Result};

/// Label naming the secret a version was rotated from (the first version's name).
pub const BASE_LABEL: &str = "com.shoal.secret.base";

/// Label with a rotated secret's version number (the base secret is version 1).
pub const VERSION_LABEL: &str = "com.shoal.secret.version";

/// [`BASE_LABEL`] of configs.
pub const CONFIG_BASE_LABEL: &str = "com.shoal.config.base";

/// [`VERSION_LABEL`] of configs.
pub const CONFIG_VERSION_LABEL: &str = "com.shoal.config.version";

/// What a rotation writes and what it tells the caller.
#[derive(Debug, Clone)]
pub struct Rotation {
    /// The store ops, to commit as one transaction: the new object, then the services.
    pub ops: Vec<Op>,
    /// The new object's ID.
    pub id: String,
    /// The new object's name (`<base>.v<N>`).
    pub name: String,
    /// Names of the services moved to it.
    pub services: Vec<String>,
}

/// The (base, version) labels of `kind`, its name in messages and its size limit.
fn kind_rules(kind: Kind) -> Result<(&'static str, &'static str, &'static str, usize)> {
    match kind {
        Kind::Secret => Ok((BASE_LABEL, VERSION_LABEL, "secret", MAX_SECRET_SIZE)),
        Kind::Config => Ok((CONFIG_BASE_LABEL, CONFIG_VERSION_LABEL, "config", MAX_CONFIG_SIZE)),
        other => Err(Error::Internal(format!(
            "{} cannot be rotated: only secrets and configs",
            other.as_str()
        ))),
    }
}

/// ID, name and labels of every object of `kind`.
fn all_of(state: &State, kind: Kind) -> Vec<(String, String, BTreeMap<String, String>)> {
    match kind {
        Kind::Secret => state
            .secrets()
            .map(|s| (s.id.clone(), s.spec.name.clone(), s.spec.labels.clone()))
            .collect(),
        Kind::Config => state
            .configs()
            .map(|c| (c.id.clone(), c.spec.name.clone(), c.spec.labels.clone()))
            .collect(),
        _ => Vec::new(),
    }
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
    rotate(state, Kind::Secret, key, id, data, now)
}

/// Plans rotating the config `key` to `data`, the new config taking ID `id`.
pub fn rotate_config(
    state: &State,
    key: &str,
    id: String,
    data: Vec<u8>,
    now: Timestamp,
) -> Result<Rotation> {
    rotate(state, Kind::Config, key, id, data, now)
}

/// Plans rotating the secret or config `key` of `kind` to `data` (the new object's ID `id`).
pub fn rotate(
    state: &State,
    kind: Kind,
    key: &str,
    id: String,
    data: Vec<u8>,
    now: Timestamp,
) -> Result<Rotation> {
    let (base_label, version_label, what, limit) = kind_rules(kind)?;
    let (current_name, current_labels) = match super::payload::get(state, kind, key)? {
        Object::Secret(s) => (s.spec.name, s.spec.labels),
        Object::Config(c) => (c.spec.name, c.spec.labels),
        _ => return Err(Error::Internal(format!("{what} {key} is not a {what}"))),
    };
    let base = current_labels
        .get(base_label)
        .cloned()
        .unwrap_or_else(|| current_name.clone());
    let chain: Vec<(String, String, BTreeMap<String, String>)> = all_of(state, kind)
        .into_iter()
        .filter(|(_, name, labels)| *name == base || labels.get(base_label) == Some(&base))
        .collect();
    let next = chain
        .iter()
        .map(|(_, _, labels)| {
            labels
                .get(version_label)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(1)
        })
        .max()
        .unwrap_or(1)
        + 1;
    let name = format!("{base}.v{next}");
    super::secret::check_spec(what, &name, &data, limit).map_err(|e| match e {
        Error::InvalidArgument(m) if m.starts_with("invalid name") => Error::InvalidArgument(format!(
            "cannot rotate {what} {base}: the next version's name {name:?} is not a valid {what} name"
        )),
        other => other,
    })?;
    let mut labels = current_labels;
    labels.insert(base_label.into(), base.clone());
    labels.insert(version_label.into(), next.to_string());
    let create = super::payload::create(state, kind, id.clone(), name.clone(), labels, data)?;

    // The services are planned against the state with the new object in it, as the
    // transaction applies them after its create.
    let txn = Txn {
        id: 0,
        ops: vec![create.clone()],
        now,
    };
    let (after, _) = state
        .apply(&txn, state.index)
        .map_err(|e| Error::InvalidArgument(format!("cannot create the next version of {base}: {e}")))?;
    let versions: Vec<String> = chain.into_iter().map(|(id, _, _)| id).collect();
    let mut ops = vec![create];
    let mut services = Vec::new();
    for service in after.services() {
        let Ok(mut refs) = references(&service.spec.task.container.extra) else {
            continue;
        };
        let mut moved = false;
        if kind == Kind::Secret {
            for r in refs
                .secrets
                .iter_mut()
                .filter(|r| versions.contains(&r.secret_id))
            {
                r.secret_id = id.clone();
                r.secret_name = name.clone();
                moved = true;
            }
        } else {
            for r in refs
                .configs
                .iter_mut()
                .filter(|r| versions.contains(&r.config_id))
            {
                r.config_id = id.clone();
                r.config_name = name.clone();
                moved = true;
            }
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
    use crate::controlapi::{config, secret};
    use crate::orchestrator::fixtures::World;
    use types::{ConfigSpec, SecretData, SecretSpec, ServiceMode, TaskSpec, UpdateState};

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

    #[test]
    fn a_config_rotates_the_same_way_and_moves_only_config_references() {
        let mut w = World::new();
        let secret = SecretSpec {
            name: "app.conf".into(),
            labels: BTreeMap::new(),
            data: SecretData(b"a secret with the config's name".to_vec()),
        };
        w.commit_op(secret::create(&w.state, "s1".into(), secret).unwrap());
        let spec = ConfigSpec {
            name: "app.conf".into(),
            labels: BTreeMap::from([("team".to_string(), "a".to_string())]),
            data: SecretData(b"listen 80".to_vec()),
        };
        w.commit_op(config::create(&w.state, "c1".into(), spec).unwrap());
        let mut task = TaskSpec::default();
        task.container.image = "busybox".into();
        task.container.extra = concat!(
            r#"{"Secrets":[{"File":{"Name":"s","UID":"0","GID":"0","Mode":256},"SecretID":"s1","SecretName":"app.conf"}],"#,
            r#""Configs":[{"File":{"Name":"/etc/app.conf","UID":"0","GID":"0","Mode":292},"ConfigID":"c1","ConfigName":"app.conf"}]}"#
        )
        .into();
        let mut w = w.service("web", ServiceMode::Replicated { replicas: 1 }, task);
        let before = w.state.lookup_service("web").unwrap();

        let r = rotate_config(
            &w.state,
            "app.conf",
            "c2".into(),
            b"listen 8080".to_vec(),
            Timestamp(5),
        )
        .unwrap();
        assert_eq!(
            (r.name.as_str(), r.services.as_slice()),
            ("app.conf.v2", &["web".to_string()][..])
        );
        w.try_commit(r.ops).unwrap();
        let c2 = w.state.config("c2").unwrap();
        assert_eq!(c2.spec.data.0, b"listen 8080");
        assert_eq!(
            c2.spec.labels.get(CONFIG_BASE_LABEL).map(String::as_str),
            Some("app.conf")
        );
        assert_eq!(
            c2.spec.labels.get(CONFIG_VERSION_LABEL).map(String::as_str),
            Some("2")
        );
        assert_eq!(c2.spec.labels.get("team").map(String::as_str), Some("a"));
        assert!(
            w.state.secrets().all(|s| s.spec.name == "app.conf"),
            "no secret made"
        );
        let web = w.state.lookup_service("web").unwrap();
        assert_eq!(web.spec_version, before.spec_version + 1, "the service rolls");
        let refs = references(&web.spec.task.container.extra).unwrap();
        assert_eq!(
            (
                refs.configs[0].config_id.as_str(),
                refs.configs[0].config_name.as_str()
            ),
            ("c2", "app.conf.v2")
        );
        let file = refs.configs[0].file.clone().unwrap();
        assert_eq!(
            (file.name.as_str(), file.mode),
            ("/etc/app.conf", 0o444),
            "target unchanged"
        );
        assert_eq!(
            refs.secrets[0].secret_id, "s1",
            "the secret of the same name stays"
        );

        let r = rotate_config(&w.state, "app.conf.v2", "c3".into(), b"x".to_vec(), Timestamp(6)).unwrap();
        assert_eq!(r.name, "app.conf.v3");
        let big = vec![b'x'; MAX_CONFIG_SIZE + 1];
        let err = rotate_config(&w.state, "app.conf", "c3".into(), big, Timestamp(6)).unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
        let err = rotate_config(&w.state, "nope", "c3".into(), b"x".to_vec(), Timestamp(6)).unwrap_err();
        assert!(matches!(err, Error::NotFound(_)), "{err}");
        let err = rotate(
            &w.state,
            Kind::Network,
            "x",
            "c3".into(),
            b"x".to_vec(),
            Timestamp(6),
        )
        .unwrap_err();
        assert!(matches!(err, Error::Internal(_)), "{err}");
    }
}
