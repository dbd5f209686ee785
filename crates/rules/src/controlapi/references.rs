//! A service's secret and config references (`ContainerSpec.Secrets` / `.Configs`, kept in
//! the spec's Docker JSON): checked and resolved to the stored objects at service create
//! and update, so tasks and the dispatcher find them by ID.
//!
//! As Swarm: a reference names an existing object (by ID, or by name when no ID is given),
//! has a file target, and no two references of a spec write the same file. Defaults as the
//! docker CLI fills them: target = the object's name, UID/GID `0`, mode 0444.

use std::sync::Arc;

use state::State;
use types::ServiceSpec;
use types::secret::{FileTarget, References, references, with_references};

use crate::{Error, Result};

/// Docker's default mode for a delivered file.
const DEFAULT_MODE: u32 = 0o444;

fn bad(message: String) -> Error {
    Error::InvalidArgument(message)
}

/// Fills a file target's defaults and checks it.
fn check_file(what: &str, name: &str, file: Option<&FileTarget>) -> Result<FileTarget> {
    let mut file = file.cloned().unwrap_or_default();
    if file.name.is_empty() {
        file.name = name.to_string();
    }
    for (field, id) in [("UID", &mut file.uid), ("GID", &mut file.gid)] {
        if id.is_empty() {
            *id = "0".into();
        }
        if id.parse::<u32>().is_err() {
            return Err(bad(format!(
                "{what} reference {name}: {field} {:?} is not a number",
                types::excerpt(id)
            )));
        }
    }
    if file.mode == 0 {
        file.mode = DEFAULT_MODE;
    }
    if file.mode & !0o7777 != 0 {
        return Err(bad(format!(
            "{what} reference {name}: invalid file mode {:o}",
            file.mode
        )));
    }
    if file.name.split('/').any(|part| part == "..") || file.name.contains('\0') {
        return Err(bad(format!(
            "{what} reference {name}: target {:?} may not leave its directory",
            types::excerpt(&file.name)
        )));
    }
    Ok(file)
}

/// The path a secret's file takes in the container: relative targets under `/run/secrets`.
pub fn secret_path(target: &str) -> String {
    if target.starts_with('/') {
        target.to_string()
    } else {
        format!("/run/secrets/{target}")
    }
}

/// The path a config's file takes in the container: relative targets under `/`.
pub fn config_path(target: &str) -> String {
    if target.starts_with('/') {
        target.to_string()
    } else {
        format!("/{target}")
    }
}

/// Resolves the references of `spec` to stored secrets and configs (rewriting IDs and names
/// as stored); an unknown one, a missing or clashing target, or a runtime config is refused.
pub fn resolve_spec(state: &State, spec: &mut ServiceSpec) -> Result<()> {
    let refs = references(&spec.task.container.extra).map_err(|e| bad(e.to_string()))?;
    if refs.is_empty() {
        return Ok(());
    }
    let mut out = References::default();
    let mut targets: Vec<String> = Vec::new();
    let mut claim = |path: String| -> Result<()> {
        if targets.contains(&path) {
            return Err(bad(format!("reference target {path} already in use")));
        }
        targets.push(path);
        Ok(())
    };
    for r in &refs.secrets {
        let key = if r.secret_id.is_empty() {
            &r.secret_name
        } else {
            &r.secret_id
        };
        let secret = state
            .secret(key)
            .or_else(|| state.secret_by_name(key))
            .ok_or_else(|| bad(format!("secret not found: {}", types::excerpt(key))))?;
        let file = check_file("secret", &secret.spec.name, r.file.as_ref())?;
        claim(secret_path(&file.name))?;
        let mut r = r.clone();
        r.secret_id = secret.id.clone();
        r.secret_name = secret.spec.name.clone();
        r.file = Some(file);
        out.secrets.push(r);
    }
    for r in &refs.configs {
        let key = if r.config_id.is_empty() {
            &r.config_name
        } else {
            &r.config_id
        };
        let config = state
            .config(key)
            .or_else(|| state.config_by_name(key))
            .ok_or_else(|| bad(format!("config not found: {}", types::excerpt(key))))?;
        if r.runtime.is_some() {
            return Err(Error::Unimplemented(format!(
                "config reference {}: Runtime targets (credential specs) are not supported; use a File target",
                config.spec.name
            )));
        }
        let file = check_file("config", &config.spec.name, r.file.as_ref())?;
        claim(config_path(&file.name))?;
        let mut r = r.clone();
        r.config_id = config.id.clone();
        r.config_name = config.spec.name.clone();
        r.file = Some(file);
        out.configs.push(r);
    }
    let extra = with_references(&spec.task.container.extra, &out);
    if extra != spec.task.container.extra {
        Arc::make_mut(&mut spec.task).container.extra = extra;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controlapi::{config, secret};
    use crate::orchestrator::fixtures::World;
    use std::collections::BTreeMap;
    use types::{ConfigSpec, SecretData, SecretSpec, TaskSpec};

    fn world() -> World {
        let mut w = World::new();
        let s = SecretSpec {
            name: "pw".into(),
            labels: BTreeMap::new(),
            data: SecretData(b"x".to_vec()),
        };
        w.commit_op(secret::create(&w.state, "sid".into(), s).unwrap());
        let c = ConfigSpec {
            name: "app".into(),
            labels: BTreeMap::new(),
            data: SecretData(b"x".to_vec()),
        };
        w.commit_op(config::create(&w.state, "cid".into(), c).unwrap());
        w
    }

    fn spec(extra: &str) -> ServiceSpec {
        let mut task = TaskSpec::default();
        task.container.extra = extra.into();
        types::testing::service("web").task(task).spec()
    }

    #[test]
    fn references_resolve_by_name_or_id_with_dockers_defaults() {
        let w = world();
        let mut s = spec(
            r#"{"Secrets":[{"SecretName":"pw"}],"Configs":[{"ConfigID":"cid","File":{"Name":"/etc/app.conf"}}]}"#,
        );
        resolve_spec(&w.state, &mut s).unwrap();
        let refs = references(&s.task.container.extra).unwrap();
        assert_eq!(refs.secrets[0].secret_id, "sid");
        let file = refs.secrets[0].file.clone().unwrap();
        assert_eq!(
            (file.name.as_str(), file.uid.as_str(), file.mode),
            ("pw", "0", 0o444)
        );
        assert_eq!(refs.configs[0].config_name, "app");
        // Resolving again changes nothing (an inspect → update round trip).
        let before = s.clone();
        resolve_spec(&w.state, &mut s).unwrap();
        assert_eq!(s, before);
    }

    #[test]
    fn unknown_clashing_and_runtime_references_are_refused() {
        let w = world();
        let err = |extra: &str| resolve_spec(&w.state, &mut spec(extra)).unwrap_err();
        assert!(
            err(r#"{"Secrets":[{"SecretName":"nope"}]}"#)
                .to_string()
                .contains("secret not found: nope")
        );
        assert!(matches!(
            err(r#"{"Secrets":[{"SecretName":"pw"},{"SecretID":"sid"}]}"#),
            Error::InvalidArgument(m) if m.contains("already in use")
        ));
        assert!(matches!(
            err(r#"{"Configs":[{"ConfigName":"app","Runtime":{}}]}"#),
            Error::Unimplemented(_)
        ));
        assert!(matches!(
            err(r#"{"Secrets":[{"SecretName":"pw","File":{"Name":"../x"}}]}"#),
            Error::InvalidArgument(_)
        ));
        assert!(matches!(
            err(r#"{"Secrets":[{"SecretName":"pw","File":{"Name":"x","UID":"root"}}]}"#),
            Error::InvalidArgument(_)
        ));
    }

    #[test]
    fn a_referenced_secret_cannot_be_removed_and_the_users_are_named() {
        let mut w = world();
        let mut s = spec(r#"{"Secrets":[{"SecretName":"pw"}]}"#);
        Arc::make_mut(&mut s.task).container.image = "busybox".into();
        let op = crate::controlapi::service::create(&w.state, "svc".into(), s, w.now).unwrap();
        w.commit_op(op);
        let err = secret::remove(&w.state, "pw").unwrap_err();
        assert_eq!(
            err.to_string(),
            "secret 'pw' is in use by the following service: web"
        );
        config::remove(&w.state, "app").unwrap();
    }
}
