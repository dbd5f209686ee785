//! The data directory: a format marker, the node's swarm identity and its certificates.
//!
//! ```text
//! <data-dir>/shoal.json          format marker; a non-empty dir without it is refused
//! <data-dir>/swarm/state.json    node ID, cluster ID, role, addresses, known managers
//! <data-dir>/swarm/certs/        ca.pem, node.pem, node.key
//! <data-dir>/swarm/raft/         Raft log and snapshots (managers)
//! ```
//! Files are written to a temporary name, synced and renamed, so a crash never leaves half a
//! file; a file that does not parse makes the daemon refuse to start rather than start over.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use types::Role;

const MARKER: &str = "shoal.json";
const FORMAT: &str = "shoal-data-1";

#[derive(Serialize, Deserialize)]
struct Marker {
    format: String,
}

/// This node's membership, persisted across restarts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwarmState {
    /// Node ID.
    pub node_id: String,
    /// Cluster ID.
    pub cluster_id: String,
    /// Role of the certificate held.
    pub role: Role,
    /// Raft member ID while a manager.
    pub raft_id: Option<u64>,
    /// Cluster port listen address.
    pub listen_addr: String,
    /// Cluster port address other nodes use.
    pub advertise_addr: String,
    /// Managers' cluster addresses, leader first when known.
    pub remote_managers: Vec<String>,
}

/// The node's certificate material.
#[derive(Debug, Clone)]
pub struct Certs {
    /// Root CA certificate.
    pub ca_pem: String,
    /// Node certificate.
    pub cert_pem: String,
    /// Node private key.
    pub key_pem: String,
}

/// Paths inside a validated data directory.
#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp).with_context(|| format!("writing {}", tmp.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming {}", tmp.display()))?;
    Ok(())
}

impl DataDir {
    /// Opens `root`, creating it (and the marker) when missing or empty. A non-empty
    /// directory without our marker, or with a marker we cannot read, is refused.
    pub fn open(root: &Path) -> anyhow::Result<DataDir> {
        std::fs::create_dir_all(root).with_context(|| format!("creating data dir {}", root.display()))?;
        let marker = root.join(MARKER);
        if marker.exists() {
            let text = std::fs::read_to_string(&marker)?;
            let parsed: Marker = serde_json::from_str(&text).map_err(|e| {
                anyhow::anyhow!(
                    "data dir {} is corrupt: {} does not parse ({e}); refusing to start",
                    root.display(),
                    marker.display()
                )
            })?;
            if parsed.format != FORMAT {
                bail!(
                    "data dir {} has format {:?}, this shoal reads {FORMAT:?}; refusing to start",
                    root.display(),
                    parsed.format
                );
            }
        } else {
            let empty = std::fs::read_dir(root)?.next().is_none();
            if !empty {
                bail!(
                    "data dir {} is not empty and is not a shoal data dir (no {MARKER}); refusing to use it",
                    root.display()
                );
            }
            write_atomic(
                &marker,
                serde_json::to_string(&Marker {
                    format: FORMAT.into(),
                })?
                .as_bytes(),
            )?;
        }
        Ok(DataDir {
            root: root.to_path_buf(),
        })
    }

    /// The data dir itself (executors keep task state under it).
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn swarm(&self) -> PathBuf {
        self.root.join("swarm")
    }

    /// Directory of the Raft replica.
    pub fn raft_dir(&self) -> PathBuf {
        self.swarm().join("raft")
    }

    /// The persisted swarm membership, if this node is in a swarm.
    pub fn load(&self) -> anyhow::Result<Option<(SwarmState, Certs)>> {
        let state_path = self.swarm().join("state.json");
        if !state_path.exists() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&state_path)?;
        let state: SwarmState = serde_json::from_str(&text).map_err(|e| {
            anyhow::anyhow!(
                "{} is corrupt ({e}); refusing to start. Move it away to leave the swarm",
                state_path.display()
            )
        })?;
        let certs = self.swarm().join("certs");
        let read = |name: &str| {
            std::fs::read_to_string(certs.join(name)).with_context(|| {
                format!(
                    "{} is missing or unreadable; refusing to start",
                    certs.join(name).display()
                )
            })
        };
        let certs = Certs {
            ca_pem: read("ca.pem")?,
            cert_pem: read("node.pem")?,
            key_pem: read("node.key")?,
        };
        ca::PeerIdentity::from_pem(&certs.cert_pem).map_err(|e| {
            anyhow::anyhow!(
                "node certificate in {} is unusable: {e}; refusing to start",
                self.swarm().display()
            )
        })?;
        Ok(Some((state, certs)))
    }

    /// Saves the membership state.
    pub fn save_state(&self, state: &SwarmState) -> anyhow::Result<()> {
        std::fs::create_dir_all(self.swarm())?;
        write_atomic(
            &self.swarm().join("state.json"),
            serde_json::to_string_pretty(state)?.as_bytes(),
        )
    }

    /// Saves the certificate material (the key readable by its owner only).
    pub fn save_certs(&self, certs: &Certs) -> anyhow::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let dir = self.swarm().join("certs");
        std::fs::create_dir_all(&dir)?;
        write_atomic(&dir.join("ca.pem"), certs.ca_pem.as_bytes())?;
        write_atomic(&dir.join("node.pem"), certs.cert_pem.as_bytes())?;
        write_atomic(&dir.join("node.key"), certs.key_pem.as_bytes())?;
        std::fs::set_permissions(dir.join("node.key"), std::fs::Permissions::from_mode(0o600))?;
        Ok(())
    }

    /// Forgets the swarm (leave): identity, certificates and Raft data.
    pub fn clear_swarm(&self) -> anyhow::Result<()> {
        match std::fs::remove_dir_all(self.swarm()) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }

    /// Deletes the Raft replica (after demotion).
    pub fn clear_raft(&self) -> anyhow::Result<()> {
        match std::fs::remove_dir_all(self.raft_dir()) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_foreign_and_corrupt_dirs() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("something"), "x").unwrap();
        let err = DataDir::open(tmp.path()).unwrap_err().to_string();
        assert!(err.contains("not a shoal data dir"), "{err}");

        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join(MARKER), "{not json").unwrap();
        assert!(
            DataDir::open(tmp.path())
                .unwrap_err()
                .to_string()
                .contains("corrupt")
        );

        let tmp = tempfile::tempdir().unwrap();
        let dir = DataDir::open(tmp.path()).unwrap();
        assert!(dir.load().unwrap().is_none());
        std::fs::create_dir_all(tmp.path().join("swarm")).unwrap();
        std::fs::write(tmp.path().join("swarm/state.json"), "garbage").unwrap();
        assert!(dir.load().unwrap_err().to_string().contains("corrupt"));
    }
}
