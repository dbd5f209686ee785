//! The image store: blobs, the name index and unpacked layers under one root.
//!
//! ```text
//! <root>/                 0700
//!   index.json            images, layers and tags (index.rs)
//!   layout                "overlay" or "flat": how layers/ is laid out
//!   blobs/sha256/<hex>    manifests, configs, layer tars, each checked against its digest
//!   layers/<chain hex>/   unpacked layer stacks
//!   tmp/                  downloads and unpacks in progress (emptied on open)
//!   lock                  flock held by the one process that has the store open
//! ```

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::RwLock;

use crate::blobs::{Blobs, mkdir_private};
use crate::config::{ImageConfig, RunConfig};
use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::index::{ImageRecord, Index};
use crate::layers::{self, LayerJob};
use crate::name::Name;
use crate::progress::{Progress, ProgressFn};
use crate::tree;
use crate::unpack::Layout;

/// A store of images under one directory; cheap to clone and share between tasks.
#[derive(Clone, Debug)]
pub struct ImageStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    root: PathBuf,
    tmp: PathBuf,
    layers: PathBuf,
    layout: Layout,
    blobs: Blobs,
    index: Mutex<Index>,
    /// Pulls and imports hold it shared, gc exclusively: gc never removes a blob or layer a
    /// pull in flight has written but not yet recorded.
    gc_lock: RwLock<()>,
    /// Held (flock) while the store is open: a second process would empty `tmp/` under us.
    _lock: std::fs::File,
}

/// An image as `docker images` lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageSummary {
    /// Image ID.
    pub id: Digest,
    /// `registry/repository:tag` names.
    pub repo_tags: Vec<String>,
    /// `registry/repository@digest` names.
    pub repo_digests: Vec<String>,
    /// Sum of the layer blob sizes.
    pub size: u64,
    /// Creation time from the config.
    pub created: Option<String>,
}

/// An image as `docker image inspect` needs it.
#[derive(Debug, Clone)]
pub struct ImageDetails {
    /// Names and sizes.
    pub summary: ImageSummary,
    /// The stored record (layers, manifest).
    pub record: ImageRecord,
    /// The parsed config.
    pub config: ImageConfig,
}

/// One line of an image removal, as `DELETE /images/{name}` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removed {
    /// A name no longer points at the image.
    Untagged(String),
    /// The image is gone.
    Deleted(Digest),
}

/// What [`ImageStore::gc`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Blobs deleted.
    pub blobs: Vec<Digest>,
    /// Layer stacks deleted (chain IDs).
    pub layers: Vec<Digest>,
    /// Bytes of blobs freed.
    pub bytes: u64,
}

impl ImageStore {
    /// Opens (creating) a store at `root`, choosing overlay or flat layers for this kernel.
    pub fn open(root: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(root, Layout::detect())
    }

    /// Opens a store with a given layer layout; layers made under another layout are dropped
    /// (they are rebuilt from the blobs when next needed).
    pub fn open_with(root: impl AsRef<Path>, layout: Layout) -> Result<Self> {
        let root = root.as_ref().to_path_buf();
        mkdir_private(&root)?;
        // An existing directory (a data dir made by hand) is tightened too: blobs may hold
        // private images.
        std::fs::set_permissions(&root, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .ctx(|| format!("chmod {}", root.display()))?;
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(root.join("lock"))
            .ctx(|| format!("open {}/lock", root.display()))?;
        rustix::fs::flock(&lock, rustix::fs::FlockOperation::NonBlockingLockExclusive).map_err(|_| {
            Error::Conflict(format!(
                "image store {} is open in another process",
                root.display()
            ))
        })?;
        let tmp = root.join("tmp");
        tree::remove_any(&tmp).ctx(|| format!("clear {}", tmp.display()))?;
        mkdir_private(&tmp)?;
        let layers = root.join("layers");
        let layout_file = root.join("layout");
        let previous = std::fs::read_to_string(&layout_file).ok();
        if previous.as_deref().map(str::trim) != Some(layout.name()) {
            tree::remove_any(&layers).ctx(|| format!("clear {}", layers.display()))?;
            crate::blobs::write_file_atomic(&tmp.join("layout"), &layout_file, layout.name().as_bytes())?;
        }
        mkdir_private(&layers)?;
        let blobs = Blobs::open(&root, &tmp)?;
        let index = Index::load(&root.join("index.json"))?;
        Ok(ImageStore {
            inner: Arc::new(Inner {
                root,
                tmp,
                layers,
                layout,
                blobs,
                index: Mutex::new(index),
                gc_lock: RwLock::new(()),
                _lock: lock,
            }),
        })
    }

    /// The layer layout in use.
    pub fn layout(&self) -> Layout {
        self.inner.layout
    }

    /// The blob store.
    pub fn blobs(&self) -> &Blobs {
        &self.inner.blobs
    }

    pub(crate) fn lock_index(&self) -> MutexGuard<'_, Index> {
        // A panic while holding the lock leaves a consistent index (it is saved whole),
        // so a poisoned lock is still usable.
        self.inner.index.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) async fn gc_shared(&self) -> tokio::sync::RwLockReadGuard<'_, ()> {
        self.inner.gc_lock.read().await
    }

    /// Persists `index` (call with the lock held, after changing it).
    pub(crate) fn save(&self, index: &Index) -> Result<()> {
        index.save(
            &self.inner.root.join("index.json"),
            &self.inner.blobs.scratch("index"),
        )
    }

    /// Finds the image `text` names: a tag, a `name@digest`, a full ID or a unique ID prefix.
    pub fn resolve(&self, text: &str) -> Result<ImageRecord> {
        let index = self.lock_index();
        resolve_in(&index, text).cloned()
    }

    /// Every image.
    pub fn list(&self) -> Vec<ImageSummary> {
        let index = self.lock_index();
        index.images.values().map(|r| summary(&index, r)).collect()
    }

    /// An image with its config.
    pub fn inspect(&self, text: &str) -> Result<ImageDetails> {
        let (record, summary) = {
            let index = self.lock_index();
            let record = resolve_in(&index, text)?.clone();
            let summary = summary(&index, &record);
            (record, summary)
        };
        let config = self.config(&record.id)?;
        Ok(ImageDetails {
            summary,
            record,
            config,
        })
    }

    /// The parsed config of image `id`.
    pub fn config(&self, id: &Digest) -> Result<ImageConfig> {
        let bytes = self.inner.blobs.read_small(id)?;
        serde_json::from_slice(&bytes).map_err(|e| Error::Corrupt(format!("image config {id}: {e}")))
    }

    /// How to run a container of the image `text` names.
    pub fn run_config(&self, text: &str) -> Result<RunConfig> {
        let record = self.resolve(text)?;
        Ok(self.config(&record.id)?.config)
    }

    /// The directories that make the image's root filesystem, bottom first, unpacking any that
    /// are missing. With the overlay layout they are overlayfs lower dirs; with the flat layout
    /// there is one, a whole root filesystem shared by every user, to be copied (or mounted
    /// read-only) by the runtime, never written.
    pub async fn rootfs_layers(&self, text: &str) -> Result<Vec<PathBuf>> {
        let record = self.resolve(text)?;
        let _gc = self.gc_shared().await;
        let dirs = self.unpack_layers(&record, &mut |_| {}).await?;
        Ok(match self.inner.layout {
            Layout::Overlay => dirs,
            Layout::Flat => dirs.last().cloned().into_iter().collect(),
        })
    }

    /// Unpacks each missing layer of `record` (caller holds the gc lock shared) and returns
    /// all the layer directories, bottom first.
    pub(crate) async fn unpack_layers(
        &self,
        record: &ImageRecord,
        progress: &mut ProgressFn<'_>,
    ) -> Result<Vec<PathBuf>> {
        let chains = record.chain_ids();
        let mut dirs: Vec<PathBuf> = Vec::with_capacity(chains.len());
        for (layer, chain) in record.layers.iter().zip(&chains) {
            let dest = layers::layer_dir(&self.inner.layers, chain);
            let job = LayerJob {
                blob_path: self.inner.blobs.path(&layer.blob),
                blob: layer.blob.clone(),
                diff_id: layer.diff_id.clone(),
                dest: dest.clone(),
                parent: dirs.last().cloned(),
                scratch: self.inner.blobs.scratch("layer"),
                layout: self.inner.layout,
            };
            if !dest.is_dir() {
                if !self.inner.blobs.has(&layer.blob) {
                    return Err(Error::NotFound(format!(
                        "layer blob {} (pull the image again)",
                        layer.blob
                    )));
                }
                progress(Progress::about(layer.blob.short(), "Extracting"));
                tokio::task::spawn_blocking(move || layers::ensure(job))
                    .await
                    .map_err(|e| Error::Corrupt(format!("unpacking thread failed: {e}")))??;
                progress(Progress::about(layer.blob.short(), "Pull complete"));
            }
            dirs.push(dest);
        }
        Ok(dirs)
    }

    /// Points `target` (normalised, with `latest` by default) at the image `source` names.
    pub fn tag(&self, source: &str, target: &str) -> Result<()> {
        let name = Name::parse(target)?;
        let tagged = name.tagged().filter(|_| name.digest.is_none()).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "refusing to create a tag with a digest reference: {target}"
            ))
        })?;
        let mut index = self.lock_index();
        let id = resolve_in(&index, source)?.id.clone();
        index.tags.insert(tagged, id);
        self.save(&index)
    }

    /// Removes the name `text` (or, for an ID, the image with all its names), as `docker rmi`.
    /// An image whose ID is in `in_use` is never deleted; `force` deletes an image that has
    /// several names when it is asked for by ID. Blobs and layers nothing else uses are freed.
    pub async fn remove(&self, text: &str, in_use: &HashSet<Digest>, force: bool) -> Result<Vec<Removed>> {
        let _gc = self.inner.gc_lock.write().await;
        let mut out = Vec::new();
        {
            let mut index = self.lock_index();
            let record = resolve_in(&index, text)?.clone();
            let id = record.id.clone();
            let tags = index.tags_of(&id);
            let name = Name::parse(text).ok();
            let tag = name
                .as_ref()
                .and_then(Name::tagged)
                .filter(|t| name.as_ref().is_some_and(|n| n.digest.is_none()) && tags.contains(t));
            let repo_digest = name
                .as_ref()
                .and_then(|n| n.digest.as_ref().map(|d| n.with_digest(d)))
                .filter(|rd| record.repo_digests.contains(rd));
            // What goes, decided before anything changes so a refusal leaves all in place.
            let (untag, drop_digest, delete) = match (&tag, &repo_digest) {
                (Some(t), _) => (vec![t.clone()], None, tags.len() == 1),
                (None, Some(rd)) => (
                    vec![],
                    Some(rd.clone()),
                    tags.is_empty() && record.repo_digests.len() == 1,
                ),
                (None, None) => {
                    if tags.len() > 1 && !force {
                        return Err(Error::Conflict(format!(
                            "unable to delete {} (must be forced) - image is referenced in multiple repositories",
                            id.short()
                        )));
                    }
                    (tags.clone(), None, true)
                }
            };
            if delete && in_use.contains(&id) {
                return Err(Error::InUse {
                    image: text.to_owned(),
                });
            }
            for t in untag {
                index.tags.remove(&t);
                out.push(Removed::Untagged(
                    Name::parse(&t).map(|n| n.familiar()).unwrap_or(t),
                ));
            }
            if let (Some(rd), Some(rec)) = (&drop_digest, index.images.get_mut(&id)) {
                rec.repo_digests.retain(|x| x != rd);
                out.push(Removed::Untagged(rd.clone()));
            }
            if delete && let Some(rec) = index.images.remove(&id) {
                // The last name gone, the image goes with its digest references, as in dockerd.
                out.extend(rec.repo_digests.into_iter().map(Removed::Untagged));
                out.push(Removed::Deleted(id));
            }
            self.save(&index)?;
        }
        self.collect()?;
        Ok(out)
    }

    /// Deletes images without a tag (all images with `all`) that are not in `in_use`, as
    /// `docker image prune`, then frees their blobs and layers.
    pub async fn prune(&self, in_use: &HashSet<Digest>, all: bool) -> Result<(Vec<Removed>, GcReport)> {
        let _gc = self.inner.gc_lock.write().await;
        let mut out = Vec::new();
        {
            let mut index = self.lock_index();
            let doomed: Vec<Digest> = index
                .images
                .keys()
                .filter(|id| !in_use.contains(*id) && (all || index.tags_of(id).is_empty()))
                .cloned()
                .collect();
            for id in doomed {
                for t in index.tags_of(&id) {
                    index.tags.remove(&t);
                    out.push(Removed::Untagged(
                        Name::parse(&t).map(|n| n.familiar()).unwrap_or(t),
                    ));
                }
                if let Some(rec) = index.images.remove(&id) {
                    out.extend(rec.repo_digests.into_iter().map(Removed::Untagged));
                }
                out.push(Removed::Deleted(id));
            }
            self.save(&index)?;
        }
        let report = self.collect()?;
        Ok((out, report))
    }

    /// Deletes every blob and layer no image refers to, and partial downloads.
    pub async fn gc(&self) -> Result<GcReport> {
        let _gc = self.inner.gc_lock.write().await;
        self.collect()
    }

    /// The body of [`ImageStore::gc`]; the caller holds the gc lock exclusively.
    fn collect(&self) -> Result<GcReport> {
        let (blobs, chains) = {
            let index = self.lock_index();
            let mut blobs = BTreeSet::new();
            let mut chains = HashSet::new();
            for r in index.images.values() {
                blobs.insert(r.id.clone());
                blobs.extend(r.manifest.clone());
                blobs.extend(r.layers.iter().map(|l| l.blob.clone()));
                for rd in &r.repo_digests {
                    if let Some((_, d)) = rd.split_once('@')
                        && let Ok(d) = Digest::parse(d)
                    {
                        blobs.insert(d);
                    }
                }
                chains.extend(r.chain_ids().into_iter().map(|c| c.hex().to_owned()));
            }
            (blobs, chains)
        };
        let mut report = GcReport::default();
        for d in self.inner.blobs.list()? {
            if !blobs.contains(&d) {
                report.bytes += std::fs::metadata(self.inner.blobs.path(&d))
                    .map(|m| m.len())
                    .unwrap_or(0);
                self.inner.blobs.remove(&d)?;
                report.blobs.push(d);
            }
        }
        let layers = &self.inner.layers;
        for entry in std::fs::read_dir(layers).ctx(|| format!("list {}", layers.display()))? {
            let entry = entry.ctx(|| format!("list {}", layers.display()))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !chains.contains(&name) {
                tree::remove_any(&entry.path()).ctx(|| format!("remove layer {name}"))?;
                if let Ok(d) = Digest::parse(&format!("sha256:{name}")) {
                    report.layers.push(d);
                }
            }
        }
        // Nothing is in flight while we hold the lock exclusively, so scratch files are stale.
        for entry in std::fs::read_dir(&self.inner.tmp).ctx(|| "list tmp".into())? {
            let entry = entry.ctx(|| "list tmp".into())?;
            tree::remove_any(&entry.path()).ctx(|| "clear tmp".into())?;
        }
        Ok(report)
    }
}

fn summary(index: &Index, r: &ImageRecord) -> ImageSummary {
    ImageSummary {
        id: r.id.clone(),
        repo_tags: index.tags_of(&r.id),
        repo_digests: r.repo_digests.clone(),
        size: r.size(),
        created: r.created.clone(),
    }
}

/// Looks `text` up as dockerd does: a name first, then an ID or ID prefix.
fn resolve_in<'a>(index: &'a Index, text: &str) -> Result<&'a ImageRecord> {
    let not_found = || Error::NotFound(text.to_owned());
    if let Some(hex) = text.strip_prefix("sha256:") {
        return by_id_prefix(index, hex).ok_or_else(not_found);
    }
    if let Ok(name) = Name::parse(text) {
        if let Some(d) = &name.digest {
            let wanted = name.with_digest(d);
            if let Some(r) = index.images.values().find(|r| r.repo_digests.contains(&wanted)) {
                return Ok(r);
            }
        } else if let Some(id) = name.tagged().and_then(|t| index.tags.get(&t)) {
            return index.images.get(id).ok_or_else(not_found);
        }
    }
    by_id_prefix(index, text).ok_or_else(not_found)
}

fn by_id_prefix<'a>(index: &'a Index, hex: &str) -> Option<&'a ImageRecord> {
    if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut found = index.images.values().filter(|r| r.id.hex().starts_with(hex));
    let first = found.next()?;
    // An ambiguous prefix names nothing.
    found.next().is_none().then_some(first)
}
