//! What the oci executor needs of an image, and a directory-backed source for tests.
//!
//! The executor does not pull: an [`ImageSource`] turns a reference into unpacked layer
//! directories and the image's run configuration. The image crate (registry pulls, content
//! store) implements it for the daemon; [`DirImageSource`] serves rootfs directories already
//! on disk, which is what the tests use.

use std::collections::BTreeMap;
use std::path::PathBuf;

use async_trait::async_trait;
use types::HealthConfig;

use crate::executor::{Error, Result};

/// What the executor needs of an image: its unpacked layers and how to run it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImageRootfs {
    /// Unpacked layer directories, bottom first (overlayfs lowerdirs in reverse).
    pub layers: Vec<PathBuf>,
    /// The image's defaults for running it.
    pub config: ImageRunConfig,
}

/// The image config fields that shape a container (Docker's `config` object of an image).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImageRunConfig {
    /// `Entrypoint`.
    pub entrypoint: Vec<String>,
    /// `Cmd`.
    pub cmd: Vec<String>,
    /// `Env`, `KEY=value`.
    pub env: Vec<String>,
    /// `User` ("" = root).
    pub user: String,
    /// `WorkingDir` ("" = /).
    pub working_dir: String,
    /// `StopSignal` ("" = SIGTERM).
    pub stop_signal: String,
    /// `Healthcheck`, used when the task's spec has none.
    pub healthcheck: Option<HealthConfig>,
    /// `Labels`.
    pub labels: BTreeMap<String, String>,
    /// `Volumes`: paths that get an anonymous volume unless a mount covers them.
    pub volumes: Vec<String>,
}

/// Supplies unpacked images to the executor.
#[async_trait]
pub trait ImageSource: Send + Sync + 'static {
    /// Makes `reference` available locally (pulling it if needed, with the base64
    /// `X-Registry-Auth` credentials when given) and returns its layers and config.
    async fn ensure(&self, reference: &str, registry_auth: Option<&str>) -> Result<ImageRootfs>;
}

/// Serves images that are plain directories already on disk: each reference maps to a list
/// of layer directories and a config. For tests and for running a rootfs by hand.
#[derive(Debug, Clone, Default)]
pub struct DirImageSource {
    images: BTreeMap<String, ImageRootfs>,
}

impl DirImageSource {
    /// An empty source (every reference is unknown).
    pub fn new() -> DirImageSource {
        DirImageSource::default()
    }

    /// Adds (or replaces) `reference`.
    pub fn insert(&mut self, reference: &str, image: ImageRootfs) {
        self.images.insert(reference.to_string(), image);
    }
}

#[async_trait]
impl ImageSource for DirImageSource {
    async fn ensure(&self, reference: &str, _registry_auth: Option<&str>) -> Result<ImageRootfs> {
        let image = self
            .images
            .get(reference)
            .ok_or_else(|| Error::Invalid(format!("No such image: {reference}")))?;
        if let Some(missing) = image.layers.iter().find(|l| !l.is_dir()) {
            return Err(Error::Invalid(format!(
                "image {reference}: layer directory {} is missing",
                missing.display()
            )));
        }
        Ok(image.clone())
    }
}

/// The source of a node that has no image store yet: every image is refused, with a message
/// that says so (the image crate provides the real source).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoImageStore;

#[async_trait]
impl ImageSource for NoImageStore {
    async fn ensure(&self, reference: &str, _registry_auth: Option<&str>) -> Result<ImageRootfs> {
        Err(Error::Invalid(format!(
            "cannot run image {reference}: this node has no image store to pull it into yet"
        )))
    }
}

/// Builds a busybox rootfs in `dir` from the host's static busybox (Debian's
/// `busybox-static`): `/bin/busybox`, a symlink per applet, and the directories a container
/// expects. Returns `None` when no static busybox is installed.
pub fn busybox_rootfs(dir: &std::path::Path) -> Result<Option<PathBuf>> {
    let Some(busybox) = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
    else {
        return Ok(None);
    };
    let io = |what: &str, e| Error::io(format!("building busybox rootfs: {what}"), e);
    for sub in ["bin", "etc", "proc", "sys", "dev", "tmp", "root"] {
        std::fs::create_dir_all(dir.join(sub)).map_err(|e| io(sub, e))?;
    }
    std::fs::copy(&busybox, dir.join("bin/busybox")).map_err(|e| io("copying busybox", e))?;
    let list = std::process::Command::new(&busybox)
        .arg("--list")
        .output()
        .map_err(|e| io("listing applets", e))?;
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        let applet = applet.trim();
        if applet.is_empty() || applet.contains('/') || applet == "busybox" {
            continue;
        }
        let link = dir.join("bin").join(applet);
        if !link.exists() {
            std::os::unix::fs::symlink("busybox", &link).map_err(|e| io(applet, e))?;
        }
    }
    std::fs::write(
        dir.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n",
    )
    .map_err(|e| io("etc/passwd", e))?;
    std::fs::write(dir.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").map_err(|e| io("etc/group", e))?;
    Ok(Some(dir.to_path_buf()))
}
