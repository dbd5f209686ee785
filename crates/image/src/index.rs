//! The name index: which images exist, their layers, and the references that point at them,
//! persisted as `index.json` (rewritten whole through a temporary file and a rename).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::blobs::write_file_atomic;
use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};

/// Format marker of `index.json`.
const FORMAT: u32 = 1;

/// Everything `index.json` holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Index {
    /// Format marker; an unknown one is refused rather than misread.
    pub format: u32,
    /// Images by ID (the config digest).
    pub images: BTreeMap<Digest, ImageRecord>,
    /// `registry/repository:tag` → image ID.
    pub tags: BTreeMap<String, Digest>,
}

/// One image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageRecord {
    /// The image ID: digest of its config blob.
    pub id: Digest,
    /// The image manifest's digest (this platform's, for a multi-arch image); none when
    /// the image was imported rather than pulled.
    pub manifest: Option<Digest>,
    /// `registry/repository@digest` references it was pulled by (the index digest for a
    /// multi-arch image, as dockerd records it).
    pub repo_digests: Vec<String>,
    /// Layers bottom first.
    pub layers: Vec<LayerRecord>,
    /// Creation time from the config.
    pub created: Option<String>,
}

/// One layer of an image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LayerRecord {
    /// Digest of the blob as stored (compressed or not).
    pub blob: Digest,
    /// Digest of the uncompressed tar.
    pub diff_id: Digest,
    /// Size of the blob in bytes.
    pub size: u64,
}

impl ImageRecord {
    /// Sum of the layer blob sizes.
    pub fn size(&self) -> u64 {
        self.layers.iter().map(|l| l.size).sum()
    }

    /// Chain IDs of the layers, bottom first.
    pub fn chain_ids(&self) -> Vec<Digest> {
        let diffs: Vec<Digest> = self.layers.iter().map(|l| l.diff_id.clone()).collect();
        Digest::chain(&diffs)
    }
}

impl Index {
    /// Reads `path`, or an empty index if there is none yet.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Index {
                    format: FORMAT,
                    ..Index::default()
                });
            }
            Err(e) => return Err(e).ctx(|| format!("read {}", path.display())),
        };
        let index: Index = serde_json::from_slice(&bytes)
            .map_err(|e| Error::Corrupt(format!("{} does not parse: {e}", path.display())))?;
        if index.format != FORMAT {
            return Err(Error::Corrupt(format!(
                "{} has format {}, this build reads {FORMAT}",
                path.display(),
                index.format
            )));
        }
        Ok(index)
    }

    /// Writes the index to `path` atomically, using `tmp` as the scratch file.
    pub fn save(&self, path: &Path, tmp: &Path) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(self)
            .map_err(|e| Error::Corrupt(format!("encode the image index: {e}")))?;
        write_file_atomic(tmp, path, &bytes)
    }

    /// The tags pointing at `id`.
    pub fn tags_of(&self, id: &Digest) -> Vec<String> {
        self.tags
            .iter()
            .filter(|(_, target)| *target == id)
            .map(|(tag, _)| tag.clone())
            .collect()
    }
}
