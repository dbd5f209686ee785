//! Secrets and configs as the store holds them (Docker's `Secret` and `Config`), and the
//! references a task's container makes to them.
//!
//! ```text
//! POST /secrets/create ─► Secret { spec: name, labels, data } ─► store (sealed Raft log)
//! ContainerSpec.extra {"Secrets":[…],"Configs":[…]} ─► references() ─► dispatcher ─► agent
//! ```
//!
//! The references stay in the container spec's Docker JSON (`ContainerSpec.extra`), where
//! mounts already live, so no stored struct gains a field (postcard is not self-describing;
//! see `store/src/consensus/v1.rs`). [`references`] is the one typed reading of them.
//!
//! Secret data never reaches a log line: [`SecretData`]'s `Debug` shows only its length.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::Meta;

/// Swarm's limit on a secret's data (500 KiB).
pub const MAX_SECRET_SIZE: usize = 500 * 1024;

/// Swarm's limit on a config's data (1000 KiB).
pub const MAX_CONFIG_SIZE: usize = 1000 * 1024;

/// Bytes that must never be printed: `Debug` redacts them.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretData(pub Vec<u8>);

impl fmt::Debug for SecretData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<redacted {} bytes>", self.0.len())
    }
}

/// A secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Secret {
    /// 25-character ID.
    pub id: String,
    /// Version and timestamps.
    pub meta: Meta,
    /// What the user gave.
    pub spec: SecretSpec,
}

/// A secret's spec. No driver and no templating: both are refused at create.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretSpec {
    /// Name (unique among secrets).
    pub name: String,
    /// User labels.
    pub labels: BTreeMap<String, String>,
    /// The payload (never shown by the API).
    pub data: SecretData,
}

/// A config: like a secret, but its data is not confidential (inspect shows it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// 25-character ID.
    pub id: String,
    /// Version and timestamps.
    pub meta: Meta,
    /// What the user gave.
    pub spec: ConfigSpec,
}

/// A config's spec.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigSpec {
    /// Name (unique among configs).
    pub name: String,
    /// User labels.
    pub labels: BTreeMap<String, String>,
    /// The payload. Kept redacted in `Debug` too: configs often hold credentials anyway.
    pub data: SecretData,
}

/// Docker's rule for secret and config names: letters, digits, `-`, `_`, `.`, at most 64,
/// starting and ending with a letter or digit.
pub fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// Docker's `File` target of a reference.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FileTarget {
    /// File name (secrets: under `/run/secrets/` unless absolute; configs: absolute or
    /// relative to `/`).
    #[serde(default)]
    pub name: String,
    /// Owner user ID, as a decimal string (Docker's shape).
    #[serde(default, rename = "UID")]
    pub uid: String,
    /// Owner group ID, as a decimal string.
    #[serde(default, rename = "GID")]
    pub gid: String,
    /// File mode bits (Go's `os.FileMode`).
    #[serde(default)]
    pub mode: u32,
}

/// Docker's `SecretReference`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SecretReference {
    /// Where the file goes.
    #[serde(default)]
    pub file: Option<FileTarget>,
    /// The secret's ID.
    #[serde(default, rename = "SecretID")]
    pub secret_id: String,
    /// The secret's name.
    #[serde(default)]
    pub secret_name: String,
}

/// Docker's `ConfigReference`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ConfigReference {
    /// Where the file goes.
    #[serde(default)]
    pub file: Option<FileTarget>,
    /// A runtime config (credential specs on Windows): refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<serde_json::Value>,
    /// The config's ID.
    #[serde(default, rename = "ConfigID")]
    pub config_id: String,
    /// The config's name.
    #[serde(default)]
    pub config_name: String,
}

/// A container spec's secret and config references.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct References {
    /// `Secrets`.
    pub secrets: Vec<SecretReference>,
    /// `Configs`.
    pub configs: Vec<ConfigReference>,
}

impl References {
    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty() && self.configs.is_empty()
    }
}

/// Why a container spec's references could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {field}: {message}")]
pub struct ReferenceError {
    /// `Secrets` or `Configs`.
    pub field: &'static str,
    /// What was wrong.
    pub message: String,
}

/// The references in a `ContainerSpec.extra` text ("" or no such keys: none).
pub fn references(extra: &str) -> Result<References, ReferenceError> {
    let mut out = References::default();
    if extra.trim().is_empty() {
        return Ok(out);
    }
    let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(extra) else {
        return Ok(out);
    };
    if let Some(v) = map.get("Secrets").filter(|v| !v.is_null()) {
        out.secrets = serde_json::from_value(v.clone()).map_err(|e| ReferenceError {
            field: "Secrets",
            message: e.to_string(),
        })?;
    }
    if let Some(v) = map.get("Configs").filter(|v| !v.is_null()) {
        out.configs = serde_json::from_value(v.clone()).map_err(|e| ReferenceError {
            field: "Configs",
            message: e.to_string(),
        })?;
    }
    Ok(out)
}

/// `extra` with its references replaced by `refs` (keys dropped when empty), keys sorted as
/// the API's canonical text has them.
pub fn with_references(extra: &str, refs: &References) -> String {
    let mut map = match serde_json::from_str::<serde_json::Value>(extra) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    map.remove("Secrets");
    map.remove("Configs");
    if !refs.secrets.is_empty()
        && let Ok(v) = serde_json::to_value(&refs.secrets)
    {
        map.insert("Secrets".into(), v);
    }
    if !refs.configs.is_empty()
        && let Ok(v) = serde_json::to_value(&refs.configs)
    {
        map.insert("Configs".into(), v);
    }
    if map.is_empty() {
        String::new()
    } else {
        serde_json::Value::Object(map).to_string()
    }
}

/// Which store a delivered payload comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum PayloadKind {
    /// A [`Secret`].
    Secret,
    /// A [`Config`].
    Config,
}

/// A secret or config as the dispatcher sends it to a node that runs a task referencing it
/// (never stored: the agent keeps it in memory only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payload {
    /// Secret or config.
    pub kind: PayloadKind,
    /// Its ID (what task references name).
    pub id: String,
    /// Its name, for messages.
    pub name: String,
    /// The bytes the task's file holds.
    pub data: SecretData,
}

impl Payload {
    /// The payload of a secret.
    pub fn of_secret(s: &Secret) -> Payload {
        Payload {
            kind: PayloadKind::Secret,
            id: s.id.clone(),
            name: s.spec.name.clone(),
            data: s.spec.data.clone(),
        }
    }

    /// The payload of a config.
    pub fn of_config(c: &Config) -> Payload {
        Payload {
            kind: PayloadKind::Config,
            id: c.id.clone(),
            name: c.spec.name.clone(),
            data: c.spec.data.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_dockerd() {
        for ok in ["a", "db.password", "A-b_c.9", &"x".repeat(64)] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", "-a", "a-", ".a", "a b", "a/b", &"x".repeat(65)] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn debug_never_shows_the_data() {
        let s = SecretSpec {
            name: "pw".into(),
            labels: BTreeMap::new(),
            data: SecretData(b"hunter2".to_vec()),
        };
        let text = format!("{s:?}");
        assert!(!text.contains("hunter2") && !text.contains("104"), "{text}");
        assert!(text.contains("redacted 7 bytes"));
    }

    #[test]
    fn references_read_and_rewrite_the_extra_text() {
        let extra = r#"{"Init":false,"Secrets":[{"File":{"Name":"pw","UID":"0","GID":"0","Mode":292},"SecretID":"s1","SecretName":"pw"}],"Configs":[{"File":{"Name":"/etc/app.conf","UID":"0","GID":"0","Mode":292},"ConfigID":"c1","ConfigName":"app"}]}"#;
        let refs = references(extra).unwrap();
        assert_eq!(refs.secrets[0].secret_id, "s1");
        assert_eq!(refs.secrets[0].file.as_ref().unwrap().mode, 0o444);
        assert_eq!(refs.configs[0].config_name, "app");
        assert_eq!(references(&with_references(extra, &refs)).unwrap(), refs);
        let none = with_references(extra, &References::default());
        assert_eq!(none, r#"{"Init":false}"#);
        assert!(references("").unwrap().is_empty());
        assert!(references(r#"{"Secrets":"x"}"#).is_err());
    }
}
