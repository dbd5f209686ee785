//! The data directory: a format marker, the node's swarm identity and its certificates.
//!
//! ```text
//! <data-dir>/shoal.json          format marker; a non-empty dir without it is refused
//! <data-dir>/swarm/state.json    node ID, cluster ID, role, addresses, known managers
//! <data-dir>/swarm/certs/        ca.pem, node.pem, keys.json (node key + data key, wrapped
//!                                by the unlock key while autolock is on)
//! <data-dir>/swarm/raft/         Raft log and snapshots (managers), sealed with the data key
//! ```
//! Files are written to a temporary name, synced and renamed, so a crash never leaves half a
//! file; a file that does not parse makes the daemon refuse to start rather than start over.
//!
//! Everything is owner-only: the process umask (0077, set first thing in `main`) creates it
//! so, and [`DataDir::open`] takes group and other bits off whatever an older version left.
//! A `certs/node.key` from before the key file is moved into `keys.json` on load.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use store::crypto::{DataKey, UnlockKey};
use types::Role;

use super::keys::{KeyFileError, LockedKeys, NodeKeys, StoredKeys};

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
    /// The key the node's Raft log and snapshots are sealed with.
    pub data_key: DataKey,
    /// The unlock key the key file is wrapped with (autolock on a manager); none: plain.
    pub unlock_key: Option<UnlockKey>,
}

/// What the data dir holds for a node in a swarm.
#[derive(Debug)]
pub enum Membership {
    /// Everything readable: the node can start.
    Ready(SwarmState, Certs),
    /// The key file is wrapped by the unlock key: the node waits for it.
    Locked(SwarmState, LockedCerts),
}

/// Certificate material whose keys are still wrapped by the unlock key.
#[derive(Debug, Clone)]
pub struct LockedCerts {
    ca_pem: String,
    cert_pem: String,
    keys: LockedKeys,
}

impl LockedCerts {
    /// The usable material, if `key` is the unlock key the key file was wrapped with.
    pub fn unlock(&self, key: &UnlockKey) -> Result<Certs, KeyFileError> {
        let keys = self.keys.unlock(key)?;
        Ok(Certs {
            ca_pem: self.ca_pem.clone(),
            cert_pem: self.cert_pem.clone(),
            key_pem: keys.node_key_pem,
            data_key: keys.data_key,
            unlock_key: Some(key.clone()),
        })
    }
}

/// Paths inside a validated data directory.
#[derive(Debug, Clone)]
pub struct DataDir {
    root: PathBuf,
}

fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    // Owner-only whatever the umask: these files hold identities and keys.
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming {}", tmp.display()))?;
    Ok(())
}

fn remove_if_present(path: &Path) -> anyhow::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("removing {}", path.display()))
        }
        _ => Ok(()),
    }
}

/// Subtrees of the data dir that hold containers' own files (image layers, root filesystems
/// and their writes, volumes, task working files, a sandbox's `resolv.conf`): their modes are
/// what processes in containers see, often as users other than root, so what they hold is
/// never tightened (the folders themselves are). The data dir's own 0700 keeps other host
/// users out of them.
const CONTAINER_FILES: &[&str] = &[
    "images/layers",
    "containers",
    "standalone/containers",
    "volumes",
    "tasks",
    "sandboxes",
];

/// Takes group and other permissions off `root` and everything under it (data dirs written
/// by versions that created them 0755/0644), but for [`CONTAINER_FILES`] and other file
/// systems mounted below (a running container's root). Symbolic links are not followed.
fn tighten(root: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let device = std::fs::symlink_metadata(root)?.dev();
    tighten_under(root, Path::new(""), device)
}

fn tighten_under(root: &Path, relative: &Path, device: u64) -> std::io::Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    // The folder itself is tightened like the rest (the data dir's 0700 already keeps other
    // users out of it); what it holds is not.
    let holds_container_files = CONTAINER_FILES.iter().any(|c| relative == Path::new(c));
    let path = root.join(relative);
    let meta = std::fs::symlink_metadata(&path)?;
    if meta.file_type().is_symlink() || meta.dev() != device {
        return Ok(());
    }
    let mode = meta.permissions().mode();
    if mode & 0o077 != 0 {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode & 0o7700))?;
    }
    if meta.is_dir() && !holds_container_files {
        for entry in std::fs::read_dir(&path)? {
            tighten_under(root, &relative.join(entry?.file_name()), device)?;
        }
    }
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
        tighten(root).with_context(|| format!("restricting permissions under {}", root.display()))?;
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
    pub fn load(&self) -> anyhow::Result<Option<Membership>> {
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
        let (ca_pem, cert_pem) = (read("ca.pem")?, read("node.pem")?);
        ca::PeerIdentity::from_pem(&cert_pem).map_err(|e| {
            anyhow::anyhow!(
                "node certificate in {} is unusable: {e}; refusing to start",
                self.swarm().display()
            )
        })?;
        Ok(Some(match self.load_keys()? {
            StoredKeys::Plain(keys) => Membership::Ready(
                state,
                Certs {
                    ca_pem,
                    cert_pem,
                    key_pem: keys.node_key_pem,
                    data_key: keys.data_key,
                    unlock_key: None,
                },
            ),
            StoredKeys::Locked(keys) => Membership::Locked(
                state,
                LockedCerts {
                    ca_pem,
                    cert_pem,
                    keys,
                },
            ),
        }))
    }

    /// Saves the membership state.
    pub fn save_state(&self, state: &SwarmState) -> anyhow::Result<()> {
        std::fs::create_dir_all(self.swarm())?;
        write_atomic(
            &self.swarm().join("state.json"),
            serde_json::to_string_pretty(state)?.as_bytes(),
        )
    }

    /// The key file; a data dir from before it has `node.key` instead, which becomes a key
    /// file with a new data key (the Raft data is still plain then and is sealed with it when
    /// the replica opens).
    fn load_keys(&self) -> anyhow::Result<StoredKeys> {
        let certs = self.swarm().join("certs");
        let path = certs.join("keys.json");
        let legacy = certs.join("node.key");
        if path.exists() {
            let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            let keys = StoredKeys::decode(&bytes)
                .map_err(|e| anyhow::anyhow!("{} {e}; refusing to start", path.display()))?;
            // A crash between writing the key file and removing the old key leaves both.
            remove_if_present(&legacy)?;
            return Ok(keys);
        }
        let node_key_pem = std::fs::read_to_string(&legacy)
            .with_context(|| format!("{} is missing or unreadable; refusing to start", path.display()))?;
        let keys = NodeKeys {
            node_key_pem,
            data_key: DataKey::generate()?,
        };
        write_atomic(&path, &keys.encode(None)?)?;
        remove_if_present(&legacy)?;
        tracing::info!(path = %path.display(), "moved the node key into the key file");
        Ok(StoredKeys::Plain(keys))
    }

    /// Saves the certificate material; the private keys go to the owner-only key file,
    /// wrapped by `certs.unlock_key` when there is one.
    pub fn save_certs(&self, certs: &Certs) -> anyhow::Result<()> {
        let dir = self.swarm().join("certs");
        std::fs::create_dir_all(&dir)?;
        write_atomic(&dir.join("ca.pem"), certs.ca_pem.as_bytes())?;
        write_atomic(&dir.join("node.pem"), certs.cert_pem.as_bytes())?;
        let keys = NodeKeys {
            node_key_pem: certs.key_pem.clone(),
            data_key: certs.data_key.clone(),
        };
        write_atomic(&dir.join("keys.json"), &keys.encode(certs.unlock_key.as_ref())?)?;
        remove_if_present(&dir.join("node.key"))
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

    #[test]
    fn a_locked_key_file_round_trips_through_save_and_load() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = DataDir::open(tmp.path()).unwrap();
        let unlock = UnlockKey::generate().unwrap();
        let certs = Certs {
            ca_pem: "ca".into(),
            cert_pem: "cert".into(),
            key_pem: "-----BEGIN PRIVATE KEY-----\nkey\n-----END PRIVATE KEY-----\n".into(),
            data_key: DataKey::generate().unwrap(),
            unlock_key: Some(unlock.clone()),
        };
        dir.save_certs(&certs).unwrap();
        let StoredKeys::Locked(keys) = dir.load_keys().unwrap() else {
            panic!("saved plain")
        };
        let locked = LockedCerts {
            ca_pem: certs.ca_pem.clone(),
            cert_pem: certs.cert_pem.clone(),
            keys,
        };
        assert!(matches!(
            locked.unlock(&UnlockKey::generate().unwrap()),
            Err(KeyFileError::WrongKey)
        ));
        let opened = locked.unlock(&unlock).unwrap();
        assert_eq!(opened.data_key, certs.data_key);
        assert_eq!(opened.key_pem, certs.key_pem);
        assert_eq!(opened.unlock_key, Some(unlock), "saved again, it stays wrapped");
        // Autolock off: the same material is written plain again.
        dir.save_certs(&Certs {
            unlock_key: None,
            ..opened
        })
        .unwrap();
        assert!(matches!(dir.load_keys().unwrap(), StoredKeys::Plain(_)));
    }

    #[test]
    fn an_old_dir_is_tightened_and_its_node_key_moves_into_the_key_file() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("data");
        let dir = DataDir::open(&root).unwrap();
        let certs = Certs {
            ca_pem: "ca".into(),
            cert_pem: "cert".into(),
            key_pem: "-----BEGIN PRIVATE KEY-----\nkey\n-----END PRIVATE KEY-----\n".into(),
            data_key: DataKey::generate().unwrap(),
            unlock_key: None,
        };
        dir.save_certs(&certs).unwrap();
        let certs_dir = root.join("swarm/certs");
        assert_eq!(mode(&certs_dir.join("keys.json")), 0o600);
        assert!(!certs_dir.join("node.key").exists());

        // As an older version left it: a node.key instead of keys.json, all world-readable.
        std::fs::remove_file(certs_dir.join("keys.json")).unwrap();
        std::fs::write(certs_dir.join("node.key"), &certs.key_pem).unwrap();
        for p in [&root, &root.join("swarm"), &certs_dir] {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        for f in ["ca.pem", "node.pem", "node.key"] {
            std::fs::set_permissions(certs_dir.join(f), std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        let dir = DataDir::open(&root).unwrap();
        for p in [&root, &root.join("swarm"), &certs_dir] {
            assert_eq!(mode(p), 0o700, "{}", p.display());
        }
        assert_eq!(mode(&certs_dir.join("ca.pem")), 0o600);
        let StoredKeys::Plain(keys) = dir.load_keys().unwrap() else {
            panic!("locked")
        };
        assert_eq!(keys.node_key_pem, certs.key_pem);
        assert!(!certs_dir.join("node.key").exists(), "moved, not copied");
        assert_eq!(mode(&certs_dir.join("keys.json")), 0o600);
        // The new data key is kept: the next load returns the same one.
        let StoredKeys::Plain(again) = dir.load_keys().unwrap() else {
            panic!("locked")
        };
        assert_eq!(again.data_key, keys.data_key);
    }

    /// Containers' files keep their modes across restarts: a layer's `/bin/sh` 0755 stays
    /// executable for the container (and its non-root users).
    #[test]
    fn containers_files_are_not_tightened() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("data");
        DataDir::open(&root).unwrap();
        let kept: Vec<_> = CONTAINER_FILES
            .iter()
            .map(|c| root.join(c).join("x/bin/sh"))
            .collect();
        let own = root.join("images/blobs/sha256/abc");
        for f in kept.iter().chain([&own]) {
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(f, "#!").unwrap();
            std::fs::set_permissions(f, std::fs::Permissions::from_mode(0o755)).unwrap();
            std::fs::set_permissions(f.parent().unwrap(), std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        DataDir::open(&root).unwrap();
        for f in &kept {
            assert_eq!(mode(f), 0o755, "{}", f.display());
            assert_eq!(mode(f.parent().unwrap()), 0o755, "{}", f.display());
        }
        for c in CONTAINER_FILES {
            assert_eq!(mode(&root.join(c)), 0o700, "the folder {c} itself is tightened");
        }
        assert_eq!(mode(&own), 0o700, "the daemon's own files are tightened");
    }
}
