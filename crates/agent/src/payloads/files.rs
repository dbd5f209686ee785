//! Where a task's secret and config files go: the pure part of delivery. Each reference of the
//! task's container spec becomes one file on the task's tmpfs (`secrets/…` or `configs/…`)
//! and one path inside the task, with the owner and mode the reference asks for.
//!
//! Paths inside the task follow Swarm: a secret's target is relative to `/run/secrets/` unless
//! absolute; a config's target is absolute, or relative to `/`; an empty target is the
//! secret's or config's name. On the tmpfs a secret with a relative target keeps it as is
//! (`secrets/<target>`, what `SHOAL_SECRETS_DIR` shows a process task); any other file keeps
//! its path inside the task without the leading `/`.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};

use types::secret::{FileTarget, References};
use types::{PayloadKind, Task};

/// Default mode of a file whose reference gives none (Docker's CLI default).
const DEFAULT_MODE: u32 = 0o444;

/// One file to write on the task's tmpfs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedFile {
    /// Secret or config.
    pub kind: PayloadKind,
    /// The secret's or config's ID.
    pub id: String,
    /// Path relative to the tmpfs root.
    pub on_tmpfs: PathBuf,
    /// Absolute path inside the task.
    pub in_task: String,
    /// Owner user ID.
    pub uid: u32,
    /// Owner group ID.
    pub gid: u32,
    /// Permission bits.
    pub mode: u32,
}

/// Why a task's references cannot become files.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PlanError(pub String);

/// The files of `task`'s references (none when it has none).
pub fn plan(task: &Task) -> Result<Vec<PlannedFile>, PlanError> {
    let refs: References =
        types::secret::references(&task.spec.container.extra).map_err(|e| PlanError(e.to_string()))?;
    let mut out = Vec::new();
    for r in &refs.secrets {
        let name = target_name(r.file.as_ref(), &r.secret_name);
        let (on_tmpfs, in_task) = if name.starts_with('/') {
            (
                Path::new("secrets").join(checked(&name, "secret", &r.secret_name)?),
                name.clone(),
            )
        } else {
            (
                Path::new("secrets").join(checked(&name, "secret", &r.secret_name)?),
                format!("/run/secrets/{name}"),
            )
        };
        out.push(file(
            PayloadKind::Secret,
            &r.secret_id,
            r.file.as_ref(),
            on_tmpfs,
            in_task,
        )?);
    }
    for r in &refs.configs {
        if r.runtime.is_some() {
            return Err(PlanError(format!(
                "config {}: runtime configs (credential specs) are not supported",
                r.config_name
            )));
        }
        let name = target_name(r.file.as_ref(), &r.config_name);
        let rel = checked(&name, "config", &r.config_name)?;
        let in_task = format!("/{}", rel.display());
        out.push(file(
            PayloadKind::Config,
            &r.config_id,
            r.file.as_ref(),
            Path::new("configs").join(rel),
            in_task,
        )?);
    }
    let mut seen = BTreeSet::new();
    for f in &out {
        if !seen.insert(f.in_task.clone()) || !seen.insert(format!("tmpfs:{}", f.on_tmpfs.display())) {
            return Err(PlanError(format!("two secrets or configs target {}", f.in_task)));
        }
    }
    Ok(out)
}

fn target_name(file: Option<&FileTarget>, name: &str) -> String {
    match file {
        Some(f) if !f.name.is_empty() => f.name.clone(),
        _ => name.to_string(),
    }
}

/// `target` without its leading `/`, refused unless every component is a plain name (no
/// `..` may leave the tmpfs or `/run/secrets`).
fn checked(target: &str, kind: &str, name: &str) -> Result<PathBuf, PlanError> {
    let mut out = PathBuf::new();
    for c in Path::new(target).components() {
        match c {
            Component::RootDir => {}
            Component::Normal(part) => out.push(part),
            _ => {
                return Err(PlanError(format!(
                    "{kind} {name}: target {target:?} must not contain '.' or '..'"
                )));
            }
        }
    }
    if out.as_os_str().is_empty() {
        return Err(PlanError(format!("{kind} {name}: empty target")));
    }
    Ok(out)
}

fn file(
    kind: PayloadKind,
    id: &str,
    target: Option<&FileTarget>,
    on_tmpfs: PathBuf,
    in_task: String,
) -> Result<PlannedFile, PlanError> {
    let id_of = |text: &str, what: &str| -> Result<u32, PlanError> {
        if text.is_empty() {
            return Ok(0);
        }
        text.parse()
            .map_err(|_| PlanError(format!("{in_task}: {what} {text:?} is not a numeric ID")))
    };
    let (uid, gid, mode) = match target {
        Some(t) => (id_of(&t.uid, "UID")?, id_of(&t.gid, "GID")?, t.mode & 0o7777),
        None => (0, 0, DEFAULT_MODE),
    };
    Ok(PlannedFile {
        kind,
        id: id.to_string(),
        on_tmpfs,
        in_task,
        uid,
        gid,
        mode,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(extra: &str) -> Task {
        let mut spec = types::TaskSpec::default();
        spec.container.extra = extra.into();
        crate::executor::conformance::task("t1", spec)
    }

    #[test]
    fn targets_follow_swarm() {
        let t = task(
            r#"{"Secrets":[{"File":{"Name":"pw","UID":"100","GID":"200","Mode":256},"SecretID":"s1","SecretName":"db"},
                          {"File":{"Name":"/etc/key","UID":"0","GID":"0","Mode":292},"SecretID":"s2","SecretName":"k"},
                          {"SecretID":"s3","SecretName":"bare"}],
                "Configs":[{"File":{"Name":"/etc/app.conf","UID":"0","GID":"0","Mode":292},"ConfigID":"c1","ConfigName":"app"},
                           {"File":{"Name":"rel.conf","UID":"","GID":"","Mode":420},"ConfigID":"c2","ConfigName":"r"}]}"#,
        );
        let files = plan(&t).unwrap();
        let brief: Vec<(&str, String, u32, u32, u32)> = files
            .iter()
            .map(|f| {
                (
                    f.in_task.as_str(),
                    f.on_tmpfs.display().to_string(),
                    f.uid,
                    f.gid,
                    f.mode,
                )
            })
            .collect();
        assert_eq!(
            brief,
            [
                ("/run/secrets/pw", "secrets/pw".to_string(), 100, 200, 0o400),
                ("/etc/key", "secrets/etc/key".to_string(), 0, 0, 0o444),
                ("/run/secrets/bare", "secrets/bare".to_string(), 0, 0, 0o444),
                ("/etc/app.conf", "configs/etc/app.conf".to_string(), 0, 0, 0o444),
                ("/rel.conf", "configs/rel.conf".to_string(), 0, 0, 0o644),
            ]
        );
        assert!(plan(&task("")).unwrap().is_empty());
    }

    #[test]
    fn escaping_or_clashing_targets_are_refused() {
        let up =
            task(r#"{"Secrets":[{"File":{"Name":"../../etc/shadow"},"SecretID":"s1","SecretName":"x"}]}"#);
        assert!(plan(&up).unwrap_err().0.contains("'..'"));
        let twice = task(
            r#"{"Secrets":[{"File":{"Name":"a"},"SecretID":"s1","SecretName":"x"},{"File":{"Name":"a"},"SecretID":"s2","SecretName":"y"}]}"#,
        );
        assert!(plan(&twice).unwrap_err().0.contains("two secrets"));
        let uid =
            task(r#"{"Secrets":[{"File":{"Name":"a","UID":"root"},"SecretID":"s1","SecretName":"x"}]}"#);
        assert!(plan(&uid).unwrap_err().0.contains("numeric"));
    }
}
