//! The content-addressed blob store: `blobs/sha256/<hex>`, each file written to `tmp/` while
//! its digest is computed and renamed into place only when it matches.

use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use futures::{Stream, StreamExt};
use sha2::{Digest as _, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};

/// Manifests and configs are read whole; dockerd caps manifests at 4 MiB, configs get more room.
pub const MAX_SMALL_BLOB: u64 = 8 * 1024 * 1024;

/// Blobs under one directory.
#[derive(Debug)]
pub struct Blobs {
    dir: PathBuf,
    tmp: PathBuf,
    seq: AtomicU64,
}

/// Creates `path` (and parents) as 0700 directories.
pub(crate) fn mkdir_private(path: &Path) -> Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
        .ctx(|| format!("create {}", path.display()))
}

impl Blobs {
    /// Opens (creating) `root/blobs/sha256` with scratch space in `tmp`.
    pub(crate) fn open(root: &Path, tmp: &Path) -> Result<Self> {
        let dir = root.join("blobs").join("sha256");
        mkdir_private(&dir)?;
        Ok(Blobs {
            dir,
            tmp: tmp.to_owned(),
            seq: AtomicU64::new(0),
        })
    }

    /// Where blob `d` lives.
    pub fn path(&self, d: &Digest) -> PathBuf {
        self.dir.join(d.hex())
    }

    /// Whether blob `d` is present.
    pub fn has(&self, d: &Digest) -> bool {
        self.path(d).is_file()
    }

    /// A fresh scratch path (unique within the process; `tmp/` is emptied on open).
    pub(crate) fn scratch(&self, what: &str) -> PathBuf {
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        self.tmp.join(format!("{what}-{}-{n}", std::process::id()))
    }

    /// Streams a blob to disk, checking size and digest; the blob appears only if both match.
    /// `progress` is told the bytes written so far.
    pub async fn write_stream<S>(
        &self,
        expected: &Digest,
        size: Option<u64>,
        mut body: S,
        mut progress: impl FnMut(u64),
    ) -> Result<()>
    where
        S: Stream<Item = std::result::Result<Bytes, Error>> + Unpin,
    {
        let tmp = self.scratch("blob");
        let result = async {
            let mut file = create_private(&tmp).await?;
            let mut hasher = Sha256::new();
            let mut written = 0u64;
            while let Some(chunk) = body.next().await {
                let chunk = chunk?;
                written += chunk.len() as u64;
                if size.is_some_and(|s| written > s) {
                    return Err(Error::Corrupt(format!(
                        "blob {expected} is longer than its descriptor says"
                    )));
                }
                hasher.update(&chunk);
                file.write_all(&chunk)
                    .await
                    .ctx(|| format!("write {}", tmp.display()))?;
                progress(written);
            }
            if size.is_some_and(|s| written != s) {
                return Err(Error::Corrupt(format!(
                    "blob {expected} is shorter than its descriptor says"
                )));
            }
            let got = Digest::from_hasher(hasher);
            if &got != expected {
                return Err(Error::Corrupt(format!(
                    "blob digest mismatch: want {expected}, got {got}"
                )));
            }
            file.sync_all().await.ctx(|| format!("sync {}", tmp.display()))?;
            tokio::fs::rename(&tmp, self.path(expected))
                .await
                .ctx(|| format!("store blob {expected}"))
        }
        .await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&tmp).await;
        }
        result
    }

    /// Writes what `reader` yields to a fresh scratch file, for archives read in a second pass.
    pub(crate) async fn spool(&self, mut reader: impl AsyncRead + Unpin) -> Result<PathBuf> {
        let tmp = self.scratch("upload");
        let result = async {
            let mut file = create_private(&tmp).await?;
            tokio::io::copy(&mut reader, &mut file)
                .await
                .ctx(|| format!("write {}", tmp.display()))?;
            Ok(())
        }
        .await;
        match result {
            Ok(()) => Ok(tmp),
            Err(e) => {
                let _ = tokio::fs::remove_file(&tmp).await;
                Err(e)
            }
        }
    }

    /// Stores what `reader` yields under its digest, which is returned with the size.
    pub async fn write_reader(&self, mut reader: impl AsyncRead + Unpin) -> Result<(Digest, u64)> {
        let tmp = self.scratch("import");
        let result = async {
            let mut file = create_private(&tmp).await?;
            let mut hasher = Sha256::new();
            let mut buf = vec![0u8; 64 * 1024];
            let mut written = 0u64;
            loop {
                let n = reader.read(&mut buf).await.ctx(|| "read the upload".into())?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                file.write_all(&buf[..n])
                    .await
                    .ctx(|| format!("write {}", tmp.display()))?;
                written += n as u64;
            }
            file.sync_all().await.ctx(|| format!("sync {}", tmp.display()))?;
            let digest = Digest::from_hasher(hasher);
            tokio::fs::rename(&tmp, self.path(&digest))
                .await
                .ctx(|| format!("store blob {digest}"))?;
            Ok((digest, written))
        }
        .await;
        if result.is_err() {
            let _ = tokio::fs::remove_file(&tmp).await;
        }
        result
    }

    /// Moves the file at `path` (on the same filesystem, e.g. under `tmp/`) into the store
    /// under its digest, which is returned with the size. Blocking: call off the runtime.
    pub(crate) fn adopt(&self, path: &Path) -> Result<(Digest, u64)> {
        let mut file = std::fs::File::open(path).ctx(|| format!("open {}", path.display()))?;
        let mut hasher = Sha256::new();
        let size = std::io::copy(&mut file, &mut hasher).ctx(|| format!("read {}", path.display()))?;
        let digest = Digest::from_hasher(hasher);
        std::fs::rename(path, self.path(&digest)).ctx(|| format!("store blob {digest}"))?;
        Ok((digest, size))
    }

    /// Stores a small blob held in memory and returns its digest.
    pub fn write_bytes(&self, bytes: &[u8]) -> Result<Digest> {
        let digest = Digest::of(bytes);
        if !self.has(&digest) {
            let tmp = self.scratch("small");
            write_file_atomic(&tmp, &self.path(&digest), bytes)?;
        }
        Ok(digest)
    }

    /// Reads a small blob (manifest, config), re-checking its digest.
    pub fn read_small(&self, d: &Digest) -> Result<Vec<u8>> {
        let path = self.path(d);
        let len = std::fs::metadata(&path)
            .map_err(|_| Error::NotFound(format!("blob {d}")))?
            .len();
        if len > MAX_SMALL_BLOB {
            return Err(Error::Corrupt(format!(
                "blob {d} is too large for a manifest or config"
            )));
        }
        let bytes = std::fs::read(&path).ctx(|| format!("read {}", path.display()))?;
        if Digest::of(&bytes) != *d {
            return Err(Error::Corrupt(format!(
                "blob {d} on disk does not match its digest"
            )));
        }
        Ok(bytes)
    }

    /// Every blob present.
    pub fn list(&self) -> Result<Vec<Digest>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.dir).ctx(|| format!("list {}", self.dir.display()))? {
            let entry = entry.ctx(|| format!("list {}", self.dir.display()))?;
            if let Some(name) = entry.file_name().to_str()
                && let Ok(d) = Digest::parse(&format!("sha256:{name}"))
            {
                out.push(d);
            }
        }
        Ok(out)
    }

    /// Deletes blob `d` if present.
    pub fn remove(&self, d: &Digest) -> Result<()> {
        match std::fs::remove_file(self.path(d)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::Io {
                context: format!("remove blob {d}"),
                source: e,
            }),
            _ => Ok(()),
        }
    }
}

async fn create_private(path: &Path) -> Result<tokio::fs::File> {
    tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .await
        .ctx(|| format!("create {}", path.display()))
}

/// Writes `bytes` to `tmp`, syncs, and renames it over `dest`.
pub(crate) fn write_file_atomic(tmp: &Path, dest: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(tmp, dest)?;
        // The rename is durable only once the directory is synced.
        match dest.parent() {
            Some(dir) => std::fs::File::open(dir)?.sync_all(),
            None => Ok(()),
        }
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(tmp);
    }
    result.ctx(|| format!("write {}", dest.display()))
}
