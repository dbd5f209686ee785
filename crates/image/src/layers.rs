//! Unpacked layers: `layers/<chain-id hex>/`, one per distinct stack of layers, made once
//! and shared by every image that has that stack.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::tree;
use crate::unpack::{self, Layout};

/// What unpacking one layer needs, owned so it can move to a blocking thread.
pub(crate) struct LayerJob {
    /// The layer's blob file.
    pub blob_path: PathBuf,
    /// The blob's digest (for messages).
    pub blob: Digest,
    /// The uncompressed digest the image config promises.
    pub diff_id: Digest,
    /// Where the finished layer goes.
    pub dest: PathBuf,
    /// The layer below, already unpacked (the flat layout copies it first).
    pub parent: Option<PathBuf>,
    /// Scratch directory to build in.
    pub scratch: PathBuf,
    /// On-disk layout.
    pub layout: Layout,
}

/// Directory of the layer stack `chain`.
pub(crate) fn layer_dir(layers: &Path, chain: &Digest) -> PathBuf {
    layers.join(chain.hex())
}

/// Unpacks one layer into its directory unless it is already there. Runs on a blocking
/// thread: tar extraction is plain file I/O.
pub(crate) fn ensure(job: LayerJob) -> Result<()> {
    if job.dest.is_dir() {
        return Ok(());
    }
    let result = build(&job);
    if result.is_err() {
        let _ = tree::remove_any(&job.scratch);
    }
    result
}

fn build(job: &LayerJob) -> Result<()> {
    match (&job.parent, job.layout) {
        (Some(parent), Layout::Flat) => tree::copy_tree(parent, &job.scratch)?,
        _ => {
            std::fs::create_dir(&job.scratch).ctx(|| format!("create {}", job.scratch.display()))?;
            // The layer's root is the container's `/` (or part of it): world-readable as usual.
            std::fs::set_permissions(&job.scratch, std::fs::Permissions::from_mode(0o755))
                .ctx(|| format!("chmod {}", job.scratch.display()))?;
        }
    }
    let diff_id = unpack::unpack(&job.blob_path, &job.blob, &job.scratch, job.layout)?;
    if diff_id != job.diff_id {
        return Err(Error::Corrupt(format!(
            "layer {} unpacks to {diff_id}, the image config says {}",
            job.blob, job.diff_id
        )));
    }
    match std::fs::rename(&job.scratch, &job.dest) {
        Ok(()) => Ok(()),
        // Another pull of an image sharing this stack finished first: theirs is as good.
        Err(_) if job.dest.is_dir() => tree::remove_any(&job.scratch).ctx(|| "remove scratch layer".into()),
        Err(e) => Err(e).ctx(|| format!("store layer {}", job.dest.display())),
    }
}
