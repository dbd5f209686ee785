//! The node's key file, `<data-dir>/swarm/certs/keys.json` (0600): the node's TLS private key
//! and the data key (DEK) its Raft log and snapshots are sealed with.
//!
//! ```text
//! plain:  { "format": "shoal-keys-1",        "data_key": "<base64 32 bytes>", "node_key": "<base64 PEM>" }
//! locked: { "format": "shoal-keys-locked-1", "sealed": "<base64 of KEK-sealed plain body>" }
//!                                                        │
//!            SWMKEY-1-… ──HKDF──► KEK ──AES-256-GCM──────┘  (purpose "keys", index 0)
//! ```
//! Without autolock the keys are stored unwrapped but apart from the data they protect, as
//! SwarmKit does: a copy of `raft/` alone (a backup, a disk image of the state) reveals
//! nothing. With autolock a manager's file holds both keys sealed under the key-encryption
//! key derived from the swarm's unlock key ([`store::crypto::UnlockKey`]), so the node starts
//! locked until someone gives that key. The locked form has its own format name, so a shoal
//! from before autolock refuses it by name instead of misreading it.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use store::crypto::{CryptoError, DataKey, Purpose, UnlockKey};

/// Format marker of a plain key file.
const FORMAT: &str = "shoal-keys-1";
/// Format marker of a key file wrapped by the unlock key.
const LOCKED_FORMAT: &str = "shoal-keys-locked-1";

/// The secrets a node keeps on disk.
#[derive(Debug, Clone)]
pub struct NodeKeys {
    /// The node's TLS private key (PEM).
    pub node_key_pem: String,
    /// The key its Raft log and snapshots are sealed with.
    pub data_key: DataKey,
}

/// A key file as read: usable at once, or sealed until the unlock key is given.
#[derive(Debug, Clone)]
pub enum StoredKeys {
    /// Stored unwrapped (no autolock, or a worker).
    Plain(NodeKeys),
    /// Wrapped by the unlock key's KEK.
    Locked(LockedKeys),
}

/// A locked key file's sealed body.
#[derive(Clone)]
pub struct LockedKeys {
    sealed: Vec<u8>,
}

impl std::fmt::Debug for LockedKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LockedKeys(..)")
    }
}

/// The file's JSON as written: the format, then the body's fields.
#[derive(Serialize)]
struct FileOut<'a, T> {
    format: &'a str,
    #[serde(flatten)]
    body: T,
}

/// The format field, read first to tell which body follows.
#[derive(Deserialize)]
struct Head {
    format: String,
}

/// The secret part, as stored plain or sealed.
#[derive(Serialize, Deserialize)]
struct Secrets {
    data_key: String,
    node_key: String,
}

#[derive(Serialize, Deserialize)]
struct Sealed {
    sealed: String,
}

/// Why a key file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// Not JSON of our shape (or, writing, not serialisable).
    #[error("does not parse: {0}")]
    Parse(#[from] serde_json::Error),
    /// Another format than ours.
    #[error("has format {0:?}, this shoal reads {FORMAT:?} and {LOCKED_FORMAT:?}")]
    Format(String),
    /// A field that is not valid base64, or a key of the wrong size.
    #[error("holds an invalid {0}")]
    Field(&'static str),
    /// The unlock key given does not open the file (or the file is damaged).
    #[error("does not open with this unlock key")]
    WrongKey,
    /// Sealing failed (no randomness); retrying may help.
    #[error("cannot be sealed: {0}")]
    Crypto(#[from] CryptoError),
}

impl NodeKeys {
    /// The file's bytes: plain, or with `lock` sealed under its KEK.
    pub fn encode(&self, lock: Option<&UnlockKey>) -> Result<Vec<u8>, KeyFileError> {
        let secrets = Secrets {
            data_key: STANDARD.encode(self.data_key.bytes()),
            node_key: STANDARD.encode(self.node_key_pem.as_bytes()),
        };
        let bytes = match lock {
            None => serde_json::to_vec_pretty(&FileOut {
                format: FORMAT,
                body: &secrets,
            })?,
            Some(key) => {
                let plain = serde_json::to_vec(&secrets)?;
                let sealed = key.kek()?.seal(Purpose::KeyFile, 0, &plain)?;
                serde_json::to_vec_pretty(&FileOut {
                    format: LOCKED_FORMAT,
                    body: Sealed {
                        sealed: STANDARD.encode(sealed),
                    },
                })?
            }
        };
        Ok(bytes)
    }

    fn from_secrets(secrets: Secrets) -> Result<NodeKeys, KeyFileError> {
        let data_key = STANDARD
            .decode(&secrets.data_key)
            .ok()
            .and_then(|b| DataKey::from_bytes(&b).ok())
            .ok_or(KeyFileError::Field("data key"))?;
        let node_key_pem = STANDARD
            .decode(&secrets.node_key)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or(KeyFileError::Field("node key"))?;
        Ok(NodeKeys {
            node_key_pem,
            data_key,
        })
    }
}

impl StoredKeys {
    /// Parses the file's bytes.
    pub fn decode(bytes: &[u8]) -> Result<StoredKeys, KeyFileError> {
        let head: Head = serde_json::from_slice(bytes)?;
        match head.format.as_str() {
            FORMAT => Ok(StoredKeys::Plain(NodeKeys::from_secrets(
                serde_json::from_slice(bytes)?,
            )?)),
            LOCKED_FORMAT => {
                let sealed: Sealed = serde_json::from_slice(bytes)?;
                let sealed = STANDARD
                    .decode(&sealed.sealed)
                    .map_err(|_| KeyFileError::Field("sealed body"))?;
                Ok(StoredKeys::Locked(LockedKeys { sealed }))
            }
            _ => Err(KeyFileError::Format(head.format)),
        }
    }
}

impl LockedKeys {
    /// The keys, if `key` is the unlock key the file was sealed with.
    pub fn unlock(&self, key: &UnlockKey) -> Result<NodeKeys, KeyFileError> {
        let plain = key
            .kek()?
            .open(Purpose::KeyFile, 0, &self.sealed)
            .map_err(|_| KeyFileError::WrongKey)?;
        NodeKeys::from_secrets(serde_json::from_slice(&plain)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> NodeKeys {
        NodeKeys {
            node_key_pem: "-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n".into(),
            data_key: DataKey::generate().unwrap(),
        }
    }

    fn plain(stored: StoredKeys) -> NodeKeys {
        match stored {
            StoredKeys::Plain(k) => k,
            StoredKeys::Locked(_) => panic!("locked"),
        }
    }

    #[test]
    fn keys_round_trip_and_bad_files_are_refused() {
        let keys = keys();
        let bytes = keys.encode(None).unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(!text.contains("PRIVATE KEY"), "the PEM is stored encoded: {text}");
        let back = plain(StoredKeys::decode(&bytes).unwrap());
        assert_eq!(back.node_key_pem, keys.node_key_pem);
        assert_eq!(back.data_key, keys.data_key);

        assert!(matches!(StoredKeys::decode(b"{"), Err(KeyFileError::Parse(_))));
        let other = text.replace(FORMAT, "shoal-keys-9");
        assert!(matches!(
            StoredKeys::decode(other.as_bytes()),
            Err(KeyFileError::Format(_))
        ));
        let short = serde_json::json!({"format": FORMAT, "data_key": "AAAA", "node_key": ""});
        assert!(matches!(
            StoredKeys::decode(short.to_string().as_bytes()),
            Err(KeyFileError::Field("data key"))
        ));
        let missing = serde_json::json!({"format": FORMAT, "node_key": ""});
        assert!(matches!(
            StoredKeys::decode(missing.to_string().as_bytes()),
            Err(KeyFileError::Parse(_))
        ));
    }

    #[test]
    fn a_locked_file_holds_neither_key_and_opens_only_with_its_unlock_key() {
        let keys = keys();
        let unlock = UnlockKey::generate().unwrap();
        let bytes = keys.encode(Some(&unlock)).unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.contains(LOCKED_FORMAT), "{text}");
        // Neither key appears, raw or in the encodings a plain file uses.
        let plain_text = String::from_utf8(keys.encode(None).unwrap()).unwrap();
        let secrets: Secrets =
            serde_json::from_value(serde_json::from_str::<serde_json::Value>(&plain_text).unwrap()).unwrap();
        for secret in [&secrets.data_key, &secrets.node_key, &keys.node_key_pem] {
            assert!(!text.contains(secret.as_str()), "a key is visible in {text}");
        }
        assert!(
            !bytes
                .windows(keys.data_key.bytes().len())
                .any(|w| w == keys.data_key.bytes())
        );

        let StoredKeys::Locked(locked) = StoredKeys::decode(&bytes).unwrap() else {
            panic!("read as plain");
        };
        let opened = locked.unlock(&unlock).unwrap();
        assert_eq!(opened.data_key, keys.data_key);
        assert_eq!(opened.node_key_pem, keys.node_key_pem);
        let wrong = UnlockKey::generate().unwrap();
        assert!(matches!(locked.unlock(&wrong), Err(KeyFileError::WrongKey)));

        // Re-wrapping under a new key (rotation) keeps the same data key.
        let rotated = UnlockKey::generate().unwrap();
        let StoredKeys::Locked(again) = StoredKeys::decode(&opened.encode(Some(&rotated)).unwrap()).unwrap()
        else {
            panic!("read as plain");
        };
        assert!(matches!(again.unlock(&unlock), Err(KeyFileError::WrongKey)));
        assert_eq!(again.unlock(&rotated).unwrap().data_key, keys.data_key);

        // A damaged body does not open; a body that is not base64 is refused on read.
        let mut value: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        value["sealed"] = "!!".into();
        assert!(matches!(
            StoredKeys::decode(value.to_string().as_bytes()),
            Err(KeyFileError::Field("sealed body"))
        ));
        value["sealed"] = STANDARD.encode([1u8; 40]).into();
        let StoredKeys::Locked(damaged) = StoredKeys::decode(value.to_string().as_bytes()).unwrap() else {
            panic!("read as plain");
        };
        assert!(matches!(damaged.unlock(&unlock), Err(KeyFileError::WrongKey)));
    }
}
