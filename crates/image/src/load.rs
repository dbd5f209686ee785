//! `docker load`: the tar `docker save` writes (`manifest.json` naming each image's config
//! and layer files, in the legacy `<id>/layer.tar` or the OCI `blobs/sha256/<hex>` layout).
//!
//! ```text
//! upload ─► tmp file ─► safe extraction of its regular files and symlinks into tmp/load-N
//!        ─► manifest.json ─► per image: config blob, layer files moved into blobs/
//!        ─► unpack layers ─► record image and its RepoTags
//! ```

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use tar::EntryType;
use tokio::io::AsyncRead;

use crate::blobs::MAX_SMALL_BLOB;
use crate::config::ImageConfig;
use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::index::{ImageRecord, LayerRecord};
use crate::name::Name;
use crate::store::ImageStore;
use crate::tree;

/// Longest GNU long name or PAX header accepted in a saved archive.
const MAX_EXTENSION_HEADER: u64 = 1024 * 1024;
/// Most symlinks followed when resolving one path (the legacy format links shared layers).
const MAX_LINK_HOPS: usize = 8;

/// One image a load brought in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loaded {
    /// The image ID.
    pub id: Digest,
    /// The tags it now has, normalised.
    pub tags: Vec<String>,
}

/// An entry of `manifest.json`.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SavedImage {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// The extracted archive: a scratch directory plus the symlinks it held.
struct Extracted {
    dir: PathBuf,
    links: HashMap<PathBuf, PathBuf>,
}

impl Extracted {
    /// The scratch file a path in the archive names, following the archive's symlinks.
    fn file(&self, name: &str) -> Result<PathBuf> {
        let mut rel = tree::clean(name.as_bytes()).map_err(|r| refused(format!("manifest.json: {r}")))?;
        for _ in 0..MAX_LINK_HOPS {
            match self.links.get(&rel) {
                Some(next) => rel = next.clone(),
                None => {
                    let path = self.dir.join(&rel);
                    let present = std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file());
                    return if present || moved(&path).is_some() {
                        Ok(path)
                    } else {
                        Err(refused(format!("{name} is not in the archive")))
                    };
                }
            }
        }
        Err(refused(format!("{name}: too many symlinks")))
    }
}

fn refused(reason: String) -> Error {
    Error::InvalidArgument(format!("invalid docker save archive: {reason}"))
}

impl ImageStore {
    /// Loads every image of a `docker save` archive; returns them with their tags.
    pub async fn load(&self, reader: impl AsyncRead + Unpin) -> Result<Vec<Loaded>> {
        let _gc = self.gc_shared().await;
        // The upload goes to disk first: the archive names its files in manifest.json, which
        // may come last, and nothing of it is held in memory.
        let upload_path = self.blobs().spool(reader).await?;
        let dir = self.blobs().scratch("load");
        let extracted = {
            let (dir, upload_path) = (dir.clone(), upload_path.clone());
            tokio::task::spawn_blocking(move || extract(&upload_path, dir))
                .await
                .map_err(|e| Error::Corrupt(format!("load thread failed: {e}")))?
        };
        let _ = std::fs::remove_file(&upload_path);
        let result = match extracted {
            Ok(extracted) => self.load_extracted(&extracted).await,
            Err(e) => Err(e),
        };
        let _ = tree::remove_any(&dir);
        result
    }

    async fn load_extracted(&self, ex: &Extracted) -> Result<Vec<Loaded>> {
        let manifest_path = ex.file("manifest.json")?;
        let len = std::fs::metadata(&manifest_path).map(|m| m.len()).unwrap_or(0);
        if len > MAX_SMALL_BLOB {
            return Err(refused(format!("manifest.json of {len} bytes")));
        }
        let bytes = std::fs::read(&manifest_path).ctx(|| "read manifest.json".into())?;
        let saved: Vec<SavedImage> =
            serde_json::from_slice(&bytes).map_err(|e| refused(format!("manifest.json: {e}")))?;
        let mut out = Vec::with_capacity(saved.len());
        for image in saved {
            let config_path = ex.file(&image.config)?;
            if std::fs::metadata(&config_path).map(|m| m.len()).unwrap_or(0) > MAX_SMALL_BLOB {
                return Err(refused(format!("config {} too large", image.config)));
            }
            let config_bytes = std::fs::read(&config_path).ctx(|| format!("read {}", image.config))?;
            let config: ImageConfig = serde_json::from_slice(&config_bytes)
                .map_err(|e| refused(format!("config {}: {e}", image.config)))?;
            if config.rootfs.diff_ids.len() != image.layers.len() {
                return Err(refused(format!(
                    "{} lists {} layers, its config {}",
                    image.config,
                    image.layers.len(),
                    config.rootfs.diff_ids.len()
                )));
            }
            let id = self.blobs().write_bytes(&config_bytes)?;
            let mut layers = Vec::with_capacity(image.layers.len());
            for (layer, diff_id) in image.layers.iter().zip(&config.rootfs.diff_ids) {
                let path = ex.file(layer)?;
                // A layer listed twice (or shared by two images) was moved in already.
                let (blob, size) = if let Some(done) = moved(&path) {
                    done
                } else {
                    let store = self.clone();
                    let p = path.clone();
                    let (blob, size) = tokio::task::spawn_blocking(move || store.blobs().adopt(&p))
                        .await
                        .map_err(|e| Error::Corrupt(format!("load thread failed: {e}")))??;
                    mark_moved(&path, &blob, size)?;
                    (blob, size)
                };
                layers.push(LayerRecord {
                    blob,
                    diff_id: diff_id.clone(),
                    size,
                });
            }
            let record = ImageRecord {
                id: id.clone(),
                manifest: None,
                repo_digests: Vec::new(),
                layers,
                created: config.created.clone(),
            };
            self.unpack_layers(&record, &mut |_| {}).await?;
            let tags: Vec<String> = image
                .repo_tags
                .unwrap_or_default()
                .iter()
                .map(|t| Name::parse(t).map(|n| n.tagged().unwrap_or_else(|| n.repo())))
                .collect::<Result<_>>()?;
            let mut index = self.lock_index();
            index.images.entry(id.clone()).or_insert(record);
            for t in &tags {
                index.tags.insert(t.clone(), id.clone());
            }
            self.save(&index)?;
            out.push(Loaded { id, tags });
        }
        Ok(out)
    }
}

/// A moved layer leaves a small note in its place naming the blob it became.
fn moved(path: &Path) -> Option<(Digest, u64)> {
    let note = std::fs::read_to_string(path.with_extension("moved")).ok()?;
    let (d, size) = note.split_once(' ')?;
    Some((Digest::parse(d).ok()?, size.parse().ok()?))
}

fn mark_moved(path: &Path, blob: &Digest, size: u64) -> Result<()> {
    std::fs::write(path.with_extension("moved"), format!("{blob} {size}")).ctx(|| "note a moved layer".into())
}

/// Extracts the archive's regular files into `dir` and notes its symlinks, refusing paths
/// that leave it; devices and the like are not part of a saved image and are skipped.
fn extract(archive_path: &Path, dir: PathBuf) -> Result<Extracted> {
    crate::blobs::mkdir_private(&dir)?;
    let file = std::fs::File::open(archive_path).ctx(|| "open the upload".into())?;
    let mut archive = tar::Archive::new(std::io::BufReader::new(file));
    let mut links = HashMap::new();
    let mut long_name: Option<Vec<u8>> = None;
    let mut long_link: Option<Vec<u8>> = None;
    let bad = |e: std::io::Error| refused(e.to_string());
    for entry in archive.entries().map_err(bad)?.raw(true) {
        let mut entry = entry.map_err(bad)?;
        let kind = entry.header().entry_type();
        if matches!(
            kind,
            EntryType::GNULongName | EntryType::GNULongLink | EntryType::XHeader | EntryType::XGlobalHeader
        ) {
            let size = entry.header().size().map_err(bad)?;
            if size > MAX_EXTENSION_HEADER {
                return Err(refused(format!("extension header of {size} bytes")));
            }
            let mut body = Vec::new();
            entry.read_to_end(&mut body).map_err(bad)?;
            let trimmed = body
                .iter()
                .rposition(|b| *b != 0)
                .map_or(Vec::new(), |i| body[..=i].to_vec());
            match kind {
                EntryType::GNULongName => long_name = Some(trimmed),
                EntryType::GNULongLink => long_link = Some(trimmed),
                EntryType::XHeader => {
                    for ext in tar::PaxExtensions::new(&body).flatten() {
                        match ext.key_bytes() {
                            b"path" => long_name = Some(ext.value_bytes().to_vec()),
                            b"linkpath" => long_link = Some(ext.value_bytes().to_vec()),
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
            continue;
        }
        let path = long_name
            .take()
            .unwrap_or_else(|| entry.header().path_bytes().into_owned());
        let link = long_link
            .take()
            .or_else(|| entry.header().link_name_bytes().map(|l| l.into_owned()));
        let rel = tree::clean(&path).map_err(refused)?;
        if rel.as_os_str().is_empty() {
            continue;
        }
        match kind {
            EntryType::Regular | EntryType::Continuous => {
                tree::ensure_parents(&dir, &rel).map_err(refused)?;
                let dest = dir.join(&rel);
                tree::remove_any(&dest).ctx(|| format!("replace {}", rel.display()))?;
                let mut out = std::fs::File::create_new(&dest).ctx(|| format!("create {}", rel.display()))?;
                std::io::copy(&mut entry, &mut out).ctx(|| format!("write {}", rel.display()))?;
            }
            EntryType::Symlink | EntryType::Link => {
                let target = link.ok_or_else(|| refused(format!("link {} has no target", rel.display())))?;
                // A symlink's target is relative to its directory, a hardlink's to the root.
                let base = match kind {
                    EntryType::Symlink => rel.parent().unwrap_or(Path::new("")).to_path_buf(),
                    _ => PathBuf::new(),
                };
                let joined = base.join(std::ffi::OsStr::new(&*String::from_utf8_lossy(&target)));
                let resolved = lexical(&joined)
                    .ok_or_else(|| refused(format!("link {} leaves the archive", rel.display())))?;
                links.insert(rel, resolved);
            }
            _ => {}
        }
    }
    Ok(Extracted { dir, links })
}

/// Resolves `.` and `..` in a relative path without leaving it; None if it would.
fn lexical(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            std::path::Component::Normal(p) => out.push(p),
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            _ => return None,
        }
    }
    Some(out)
}
