//! The node's one image store, `<data-dir>/images`, and whether containers can run here.
//!
//! The store holds a process-wide lock on its directory, so the daemon opens it once and
//! shares the handle (it is an `Arc` inside) with the oci executor and the Engine API.

use anyhow::Context;

use super::datadir::DataDir;

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
