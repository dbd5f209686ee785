//! The node's key file, `<data-dir>/swarm/certs/keys.json` (0600): the node's TLS private key
//! and the data key (DEK) its Raft log and snapshots are sealed with.
//!
//! ```text
//! { "format": "shoal-keys-1", "data_key": "<base64 32 bytes>", "node_key": "<base64 PEM>" }
//! ```
//! As SwarmKit does without autolock, the keys are stored unwrapped but apart from the data
//! they protect: a copy of `raft/` alone (a backup, a disk image of the state) reveals
//! nothing. The `SWMKEY-1-` unlock key that would wrap them is derived in
//! [`store::crypto::UnlockKey`]; autolock itself is not offered yet and is refused at init
//! and update.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use store::crypto::DataKey;

/// The key file's format marker.
const FORMAT: &str = "shoal-keys-1";

/// The secrets a node keeps on disk.
#[derive(Debug, Clone)]
pub struct NodeKeys {
    /// The node's TLS private key (PEM).
    pub node_key_pem: String,
    /// The key its Raft log and snapshots are sealed with.
    pub data_key: DataKey,
}

#[derive(Serialize, Deserialize)]
struct KeyFile {
    format: String,
    data_key: String,
    node_key: String,
}

/// Why a key file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    /// Not JSON of our shape (or, writing, not serialisable).
    #[error("does not parse: {0}")]
    Parse(#[from] serde_json::Error),
    /// Another format than ours.
    #[error("has format {0:?}, this shoal reads {FORMAT:?}")]
    Format(String),
    /// A field that is not valid base64, or a key of the wrong size.
    #[error("holds an invalid {0}")]
    Field(&'static str),
}

impl NodeKeys {
    /// The file's bytes.
    pub fn encode(&self) -> Result<Vec<u8>, KeyFileError> {
        let file = KeyFile {
            format: FORMAT.into(),
            data_key: STANDARD.encode(self.data_key.bytes()),
            node_key: STANDARD.encode(self.node_key_pem.as_bytes()),
        };
        Ok(serde_json::to_vec_pretty(&file)?)
    }

    /// Parses the file's bytes.
    pub fn decode(bytes: &[u8]) -> Result<NodeKeys, KeyFileError> {
        let file: KeyFile = serde_json::from_slice(bytes)?;
        if file.format != FORMAT {
            return Err(KeyFileError::Format(file.format));
        }
        let data_key = STANDARD
            .decode(&file.data_key)
            .ok()
            .and_then(|b| DataKey::from_bytes(&b).ok())
            .ok_or(KeyFileError::Field("data key"))?;
        let node_key_pem = STANDARD
            .decode(&file.node_key)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or(KeyFileError::Field("node key"))?;
        Ok(NodeKeys {
            node_key_pem,
            data_key,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_bad_files_are_refused() {
        let keys = NodeKeys {
            node_key_pem: "-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n".into(),
            data_key: DataKey::generate().unwrap(),
        };
        let bytes = keys.encode().unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(!text.contains("PRIVATE KEY"), "the PEM is stored encoded: {text}");
        let back = NodeKeys::decode(&bytes).unwrap();
        assert_eq!(back.node_key_pem, keys.node_key_pem);
        assert_eq!(back.data_key, keys.data_key);

        assert!(matches!(NodeKeys::decode(b"{"), Err(KeyFileError::Parse(_))));
        let other = text.replace(FORMAT, "shoal-keys-9");
        assert!(matches!(
            NodeKeys::decode(other.as_bytes()),
            Err(KeyFileError::Format(_))
        ));
        let short = serde_json::json!({"format": FORMAT, "data_key": "AAAA", "node_key": ""});
        assert!(matches!(
            NodeKeys::decode(short.to_string().as_bytes()),
            Err(KeyFileError::Field("data key"))
        ));
    }
}
