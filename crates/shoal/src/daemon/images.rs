//! The node's one image store, `<data-dir>/images`, behind the oci executor and `/images/*`,
//! whether containers can run here, and the set of images this node's tasks use (which
//! removal and prune must leave alone).
//!
//! The store holds a process-wide lock on its directory, so the daemon opens it once and
//! shares the handle (it is an `Arc` inside) between the executor and the Engine API.

use std::collections::{HashMap, HashSet};

use anyhow::Context;
use image::{Digest, ImageDetails, ImageStore};

use super::datadir::DataDir;
use super::swarm::{Local, Swarm};

/// Opens (creating) the image store under the data dir.
pub fn open_images(dir: &DataDir) -> anyhow::Result<image::ImageStore> {
    let root = dir.root().join("images");
    image::ImageStore::open(&root).with_context(|| format!("opening the image store {}", root.display()))
}

/// Why the oci executor cannot be this node's default, or `None` when it can: it needs root,
/// overlayfs for the image layers and a mounted cgroup hierarchy for limits and cleanup.
pub fn oci_unavailable() -> Option<String> {
    if !super::is_root() {
        return Some("not running as root (containers need namespaces, mounts and cgroups)".into());
    }
    let overlay = std::fs::read_to_string("/proc/filesystems")
        .is_ok_and(|s| s.lines().any(|l| l.split_whitespace().last() == Some("overlay")));
    if !overlay {
        return Some("the kernel does not list overlayfs in /proc/filesystems".into());
    }
    let cgroup = std::path::Path::new("/sys/fs/cgroup");
    if !cgroup.join("cgroup.controllers").is_file() && !cgroup.join("memory").is_dir() {
        return Some("no cgroup hierarchy is mounted at /sys/fs/cgroup".into());
    }
    None
}

impl Swarm {
    /// Opens `<data-dir>/images` (once; a second call keeps the first store).
    pub fn open_images(&self) -> anyhow::Result<()> {
        // The oci executor already holds the store; a second open would find it locked.
        let store = match &self.executor {
            super::ExecutorChoice::Oci(store) => store.clone(),
            _ => open_images(&self.dir)?,
        };
        let _ = self.images.set(store);
        Ok(())
    }

    /// The store, or the refusal of a daemon started without one.
    pub(crate) fn image_store(&self) -> image::Result<&ImageStore> {
        self.images
            .get()
            .ok_or_else(|| image::Error::Unsupported("this daemon has no image store".into()))
    }

    /// Every image with its config.
    pub(crate) fn image_list(&self) -> image::Result<Vec<ImageDetails>> {
        let store = self.image_store()?;
        store
            .list()
            .iter()
            .map(|s| store.inspect(&s.id.to_string()))
            .collect()
    }

    /// A `docker import` time stamp: now, from the daemon's clock.
    pub(crate) fn import_time(&self) -> String {
        let now = self.clock.now();
        chrono::DateTime::from_timestamp_nanos(now.0).to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
    }

    /// `docker rmi`: refused for an image a task here uses, in dockerd's words.
    pub(crate) async fn image_remove_checked(
        &self,
        name: &str,
        force: bool,
    ) -> image::Result<Vec<image::Removed>> {
        let store = self.image_store()?;
        let in_use = self.images_in_use().await;
        let ids: HashSet<Digest> = in_use.keys().cloned().collect();
        match store.remove(name, &ids, force).await {
            Err(image::Error::InUse { .. }) => {
                let id = store.resolve(name)?.id;
                let task: String = in_use
                    .get(&id)
                    .and_then(|tasks| tasks.first())
                    .map(|t| t.chars().take(12).collect())
                    .unwrap_or_default();
                Err(image::Error::Conflict(if force {
                    format!(
                        "unable to delete {} (cannot be forced) - image is being used by running container {task}",
                        id.short()
                    )
                } else {
                    format!(
                        "unable to remove repository reference \"{name}\" (must force) - container {task} is using its referenced image {}",
                        id.short()
                    )
                }))
            }
            other => other,
        }
    }

    /// `docker image prune [-a]`: images tasks here use stay.
    pub(crate) async fn image_prune_unused(
        &self,
        all: bool,
    ) -> image::Result<(Vec<image::Removed>, image::GcReport)> {
        let store = self.image_store()?;
        let ids: HashSet<Digest> = self.images_in_use().await.into_keys().collect();
        store.prune(&ids, all).await
    }

    /// The images that tasks on this node use until they end, each with those tasks' IDs.
    /// Only a manager's view holds them; a worker (and a node outside a swarm) runs no
    /// image-based tasks yet.
    pub(crate) async fn images_in_use(&self) -> HashMap<Digest, Vec<String>> {
        let Ok(store) = self.image_store() else {
            return HashMap::new();
        };
        let Local::Active(node) = self.local() else {
            return HashMap::new();
        };
        let Some(manager) = node.manager().await else {
            return HashMap::new();
        };
        let node_id = node.state().node_id;
        let view = manager.synced_view().await;
        let filters = rules::controlapi::task::TaskFilters {
            node: vec![node_id],
            ..Default::default()
        };
        let mut used: HashMap<Digest, Vec<String>> = HashMap::new();
        for t in rules::controlapi::task::list(&view, &filters) {
            if t.status.state.is_terminal() {
                continue;
            }
            if let Ok(image) = store.resolve(&t.spec.container.image) {
                used.entry(image.id).or_default().push(t.id.clone());
            }
        }
        used
    }
}
