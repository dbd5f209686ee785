//! A node's named volumes: the rules dockerd's `local` driver applies, without I/O. The files
//! (`<volumes>/<name>/_data`, `<volumes>/<name>/volume.json`) are `agent::volumes`'s; the
//! Engine API's `/volumes` calls and the oci executor's mounts both go through it.
//!
//! ```text
//! POST /volumes/create ─┐                   ┌─ check_name, check_driver
//!                       ├─► agent::volumes ─┤
//! task mount (first use)┘   (files)         └─ Record (labels, created) ⇄ volume.json
//! DELETE /volumes/{name} ─► users on this node? ─► in_use (409) or removed
//! POST /volumes/prune    ─► unused ∧ (anonymous ∨ all) ∧ labels ─► removed
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::{Timestamp, excerpt};

/// The only driver nodes have: volumes are directories on the node.
pub const LOCAL_DRIVER: &str = "local";

/// The label dockerd gives a volume created without a name; `volume prune` without `all`
/// removes only these.
pub const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";

/// Why a volume request is refused (every message quotes at most an excerpt of the input).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum VolumeError {
    /// Not a local volume name (dockerd's words).
    #[error(
        "{0:?} includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
    )]
    Name(String),
    /// A driver other than `local`.
    #[error(
        "volume driver {0:?} is not supported: shoal nodes have only the local driver (volumes are directories on the node)"
    )]
    Driver(String),
    /// A `local` driver option shoal does not apply.
    #[error(
        "volume driver option {0:?} is not supported: shoal's local volumes are plain directories on the node (no type, device, o or size options)"
    )]
    Option(String),
    /// No such volume.
    #[error("get {0}: no such volume")]
    NotFound(String),
    /// The name is taken by a volume of another driver.
    #[error("a volume named {0} already exists with the {1} driver")]
    OtherDriver(String, String),
    /// Still mounted (or to be mounted) by containers of this node: dockerd's words with the
    /// containers' IDs.
    #[error("remove {name}: volume is in use - [{}]", refs.join(", "))]
    InUse {
        /// The volume.
        name: String,
        /// The containers that use it.
        refs: Vec<String>,
    },
}

/// Checks a volume name as dockerd's local driver does: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn check_name(name: &str) -> Result<(), VolumeError> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest: Vec<char> = chars.collect();
    if !first_ok
        || rest.is_empty()
        || !rest
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(*c))
    {
        return Err(VolumeError::Name(excerpt(name)));
    }
    Ok(())
}

/// Checks the driver and its options: `local` (or empty) without options. The local driver's
/// `type`/`device`/`o` (mounting a filesystem) and `size` are refused by name, never dropped.
pub fn check_driver(driver: &str, options: &BTreeMap<String, String>) -> Result<(), VolumeError> {
    if !driver.is_empty() && driver != LOCAL_DRIVER {
        return Err(VolumeError::Driver(excerpt(driver)));
    }
    if let Some(key) = options.keys().next() {
        return Err(VolumeError::Option(excerpt(key)));
    }
    Ok(())
}

/// The name of a volume created without one: 64 hex digits of `random`, as dockerd's.
pub fn generated_name(random: &[u8; 32]) -> String {
    random.iter().map(|b| format!("{b:02x}")).collect()
}

/// The name of the anonymous volume that task `task_id`'s volume mount at `target` (one
/// without a `Source`) gets: 64 hex digits like dockerd's generated names, derived from the
/// task rather than drawn at random so that a rerun of the same container finds it again and
/// the node can tell which container uses it without a record of its own.
pub fn anonymous_name(task_id: &str, target: &str) -> String {
    use sha2::Digest as _;
    let mut hash = sha2::Sha256::new();
    hash.update(b"shoal anonymous volume\0");
    hash.update(task_id.as_bytes());
    hash.update(b"\0");
    hash.update(target.as_bytes());
    generated_name(&hash.finalize().into())
}

/// The labels of a volume created by `POST /volumes/create`: a generated name marks it
/// anonymous, as dockerd does.
pub fn create_labels(named: bool, mut labels: BTreeMap<String, String>) -> BTreeMap<String, String> {
    if !named {
        labels.insert(ANONYMOUS_LABEL.into(), String::new());
    }
    labels
}

/// What a node keeps of a volume beside its `_data` (`volume.json`, 0600).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Format of this file.
    pub format: u32,
    /// When it was created (nanoseconds since the epoch).
    pub created_at: i64,
    /// Its labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// The format [`Record`] is written in.
pub const RECORD_FORMAT: u32 = 1;

impl Record {
    /// A new volume's record.
    pub fn new(created_at: Timestamp, labels: BTreeMap<String, String>) -> Record {
        Record {
            format: RECORD_FORMAT,
            created_at: created_at.0,
            labels,
        }
    }
}

/// One volume of a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    /// Its name.
    pub name: String,
    /// Where its data is on the node (`…/<name>/_data`).
    pub mountpoint: String,
    /// When it was created.
    pub created_at: Timestamp,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
}

/// What a create does with a name that may already be taken: dockerd answers with the
/// existing volume (its labels unchanged), unless the request names another driver.
pub fn create_over(existing: Option<&Volume>, name: &str, driver: &str) -> Result<bool, VolumeError> {
    match existing {
        None => Ok(true),
        Some(_) if driver.is_empty() || driver == LOCAL_DRIVER => Ok(false),
        Some(_) => Err(VolumeError::OtherDriver(excerpt(name), LOCAL_DRIVER.into())),
    }
}

/// Refuses removing `name` while `refs` (containers of this node) use it.
pub fn check_remove(name: &str, refs: &[String]) -> Result<(), VolumeError> {
    if refs.is_empty() {
        return Ok(());
    }
    Err(VolumeError::InUse {
        name: name.to_string(),
        refs: refs.to_vec(),
    })
}

/// Whether `volume prune` takes `v` (unused by any container here): every unused one with
/// `all`, else only anonymous ones (API 1.42+).
pub fn prunable(v: &Volume, refs: &[String], all: bool) -> bool {
    refs.is_empty() && (all || v.labels.contains_key(ANONYMOUS_LABEL))
}

/// The first volume mount of `mounts` (`ContainerSpec.Mounts` JSON) whose driver or options
/// a node's local volumes cannot take: its target and why.
pub fn foreign_driver(mounts: &serde_json::Value) -> Option<(String, VolumeError)> {
    let list = mounts.as_array()?;
    list.iter().find_map(|m| {
        let config = m.get("VolumeOptions")?.get("DriverConfig")?;
        let driver = config
            .get("Name")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("");
        let options: BTreeMap<String, String> = config
            .get("Options")
            .and_then(|o| o.as_object())
            .map(|o| {
                o.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default();
        let target = m.get("Target").and_then(serde_json::Value::as_str).unwrap_or("");
        check_driver(driver, &options).err().map(|e| (excerpt(target), e))
    })
}

/// [`foreign_driver`] of the mounts in a ContainerSpec's extra fields (JSON text).
pub fn foreign_driver_in_extra(extra: &str) -> Option<(String, VolumeError)> {
    if !extra.contains("DriverConfig") {
        return None;
    }
    let fields: serde_json::Value = serde_json::from_str(extra).ok()?;
    foreign_driver(fields.get("Mounts")?)
}

/// The volume names a task's mounts (`ContainerSpec.Mounts` JSON) use.
pub fn names_in_mounts(mounts: &serde_json::Value) -> Vec<String> {
    volume_mounts(mounts)
        .filter_map(|m| m.get("Source").and_then(serde_json::Value::as_str))
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// The volume names task `task_id`'s mounts use: the named ones and its anonymous ones
/// ([`anonymous_name`]).
pub fn names_in_task_mounts(task_id: &str, mounts: &serde_json::Value) -> Vec<String> {
    volume_mounts(mounts)
        .filter_map(|m| {
            let source = m.get("Source").and_then(serde_json::Value::as_str).unwrap_or("");
            if !source.is_empty() {
                return Some(source.to_string());
            }
            let target = m.get("Target").and_then(serde_json::Value::as_str)?;
            Some(anonymous_name(task_id, target))
        })
        .collect()
}

fn volume_mounts(mounts: &serde_json::Value) -> impl Iterator<Item = &serde_json::Value> {
    mounts.as_array().into_iter().flatten().filter(|m| {
        m.get("Type")
            .and_then(serde_json::Value::as_str)
            .is_some_and(|t| t.eq_ignore_ascii_case("volume"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn volume(name: &str, labels: &[(&str, &str)]) -> Volume {
        Volume {
            name: name.into(),
            mountpoint: format!("/v/{name}/_data"),
            created_at: Timestamp(1),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn names_follow_the_local_drivers_pattern() {
        for ok in ["db", "a1", "my_vol.2-x", "0abc"] {
            assert_eq!(check_name(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "a",
            ".hidden",
            "-x",
            "a/b",
            "../x",
            "with space",
            "é1",
            "/abs",
        ] {
            let err = check_name(bad).unwrap_err().to_string();
            assert!(
                err.contains("invalid characters for a local volume name"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn only_the_local_driver_without_options() {
        let none = BTreeMap::new();
        assert_eq!(check_driver("", &none), Ok(()));
        assert_eq!(check_driver("local", &none), Ok(()));
        assert_eq!(
            check_driver("nfs", &none).unwrap_err().to_string(),
            "volume driver \"nfs\" is not supported: shoal nodes have only the local driver (volumes are directories on the node)"
        );
        let opts = BTreeMap::from([("type".to_string(), "tmpfs".to_string())]);
        assert!(
            check_driver("local", &opts)
                .unwrap_err()
                .to_string()
                .starts_with("volume driver option \"type\" is not supported")
        );
    }

    #[test]
    fn generated_names_are_anonymous_hex() {
        let name = generated_name(&[0xab; 32]);
        assert_eq!(name.len(), 64);
        assert!(name.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(check_name(&name), Ok(()));
        let labels = create_labels(false, BTreeMap::from([("a".into(), "b".into())]));
        assert_eq!(labels.get(ANONYMOUS_LABEL).map(String::as_str), Some(""));
        assert_eq!(create_labels(true, BTreeMap::new()), BTreeMap::new());
    }

    #[test]
    fn an_existing_name_answers_with_the_volume_unless_another_driver() {
        let v = volume("db", &[]);
        assert_eq!(create_over(None, "db", ""), Ok(true));
        assert_eq!(create_over(Some(&v), "db", "local"), Ok(false));
        assert!(matches!(
            create_over(Some(&v), "db", "nfs"),
            Err(VolumeError::OtherDriver(..))
        ));
    }

    #[test]
    fn removal_in_use_names_the_containers_and_prune_takes_unused_anonymous_ones() {
        assert_eq!(check_remove("db", &[]), Ok(()));
        assert_eq!(
            check_remove("db", &["c1".into(), "c2".into()])
                .unwrap_err()
                .to_string(),
            "remove db: volume is in use - [c1, c2]"
        );
        let named = volume("db", &[]);
        let anon = volume("0123", &[(ANONYMOUS_LABEL, "")]);
        assert!(!prunable(&named, &[], false));
        assert!(prunable(&named, &[], true));
        assert!(prunable(&anon, &[], false));
        assert!(!prunable(&anon, &["c".into()], true));
    }

    #[test]
    fn a_mount_with_another_driver_or_options_is_found() {
        let ok = serde_json::json!([
            {"Type": "volume", "Source": "db", "Target": "/d", "VolumeOptions": {"DriverConfig": {"Name": "local"}}},
            {"Type": "volume", "Source": "x", "Target": "/x", "VolumeOptions": {"Labels": {"a": "b"}}},
        ]);
        assert_eq!(foreign_driver(&ok), None);
        let nfs = serde_json::json!([
            {"Type": "volume", "Source": "db", "Target": "/d"},
            {"Type": "volume", "Source": "n", "Target": "/n", "VolumeOptions": {"DriverConfig": {"Name": "nfs"}}},
        ]);
        assert_eq!(
            foreign_driver(&nfs),
            Some(("/n".into(), VolumeError::Driver("nfs".into())))
        );
        let opts = serde_json::json!([
            {"Type": "volume", "Source": "t", "Target": "/t",
             "VolumeOptions": {"DriverConfig": {"Name": "local", "Options": {"type": "tmpfs"}}}},
        ]);
        assert_eq!(
            foreign_driver(&opts),
            Some(("/t".into(), VolumeError::Option("type".into())))
        );
    }

    #[test]
    fn mounts_name_their_volumes() {
        let mounts = serde_json::json!([
            {"Type": "volume", "Source": "db", "Target": "/d"},
            {"Type": "bind", "Source": "/srv", "Target": "/s"},
            {"Type": "VOLUME", "Source": "logs", "Target": "/l"},
            {"Type": "volume", "Source": "", "Target": "/anon"},
        ]);
        assert_eq!(names_in_mounts(&mounts), vec!["db".to_string(), "logs".into()]);
        assert!(names_in_mounts(&serde_json::json!({"Type": "volume"})).is_empty());
        let anon = anonymous_name("task1", "/anon");
        assert_eq!(
            names_in_task_mounts("task1", &mounts),
            vec!["db".to_string(), "logs".into(), anon.clone()]
        );
        assert_ne!(names_in_task_mounts("task2", &mounts)[2], anon);
    }

    #[test]
    fn anonymous_names_are_hex_and_one_per_task_and_target() {
        let name = anonymous_name("t", "/data");
        assert_eq!(name.len(), 64);
        assert!(name.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(check_name(&name), Ok(()));
        assert_eq!(anonymous_name("t", "/data"), name);
        assert_ne!(anonymous_name("t", "/other"), name);
        // The separator keeps ("ab", "/c") and ("a", "b/c") apart.
        assert_ne!(anonymous_name("ab", "/c"), anonymous_name("a", "b/c"));
    }
}
