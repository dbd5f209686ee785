//! Pulling an image from a registry into the store.
//!
//! ```text
//! reference ─► manifest (or index ─► this platform's manifest) ─► config ─► each layer blob
//!   (skipped when present) ─► unpack each missing layer stack ─► record image, tag ─► done
//! ```
//! Every byte is checked against the digest that names it before it is kept; every read from
//! the registry is bounded (`remote.rs`).

use std::collections::HashSet;

use futures::StreamExt;
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::manifest::{
    IMAGE_MANIFEST_LIST_MEDIA_TYPE, IMAGE_MANIFEST_MEDIA_TYPE, OCI_IMAGE_INDEX_MEDIA_TYPE,
    OCI_IMAGE_MEDIA_TYPE,
};
use oci_spec::image::{Descriptor, ImageIndex, ImageManifest};

use crate::auth::Credentials;
use crate::blobs::MAX_SMALL_BLOB;
use crate::config::ImageConfig;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::index::{ImageRecord, LayerRecord};
use crate::name::Name;
use crate::platform::Platform;
use crate::progress::{Progress, ProgressFn};
use crate::remote::Remote;
use crate::store::ImageStore;

/// Manifest types we read: Docker schema 2 and OCI, single and multi-platform.
const ACCEPT: &[&str] = &[
    OCI_IMAGE_MEDIA_TYPE,
    IMAGE_MANIFEST_MEDIA_TYPE,
    OCI_IMAGE_INDEX_MEDIA_TYPE,
    IMAGE_MANIFEST_LIST_MEDIA_TYPE,
];

/// A progress line every this many bytes while downloading.
const PROGRESS_STEP: u64 = 512 * 1024;

/// What a pull did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pulled {
    /// The image ID.
    pub id: Digest,
    /// The digest the reference resolved to (the index's, for a multi-platform image).
    pub digest: Digest,
    /// Blobs downloaded (config and layers); empty when everything was already here.
    pub fetched: Vec<Digest>,
}

/// Turns a registry client error into ours, keeping the registry's words.
pub(crate) fn registry_error(name: &Name, e: OciDistributionError) -> Error {
    match e {
        OciDistributionError::UnauthorizedError { .. } | OciDistributionError::AuthenticationFailure(_) => {
            Error::Unauthorized(format!("authentication required for {}", name.repo()))
        }
        OciDistributionError::ImageManifestNotFoundError(_) => Error::ManifestUnknown(name.familiar()),
        OciDistributionError::RegistryError { envelope, .. } => {
            let codes: Vec<&OciErrorCode> = envelope.errors.iter().map(|e| &e.code).collect();
            if codes
                .iter()
                .any(|c| matches!(c, OciErrorCode::ManifestUnknown | OciErrorCode::NameUnknown))
            {
                Error::ManifestUnknown(name.familiar())
            } else if codes
                .iter()
                .any(|c| matches!(c, OciErrorCode::Unauthorized | OciErrorCode::Denied))
            {
                Error::Unauthorized(
                    envelope
                        .errors
                        .iter()
                        .map(|e| e.message.clone())
                        .collect::<Vec<_>>()
                        .join("; "),
                )
            } else {
                Error::Registry(format!("error from registry for {}: {envelope}", name.repo()))
            }
        }
        OciDistributionError::ServerError { code: 401, .. } => {
            Error::Unauthorized(format!("authentication required for {}", name.repo()))
        }
        OciDistributionError::ServerError { code: 404, .. } => Error::ManifestUnknown(name.familiar()),
        other => Error::Registry(format!("pulling {}: {other}", name.familiar())),
    }
}

impl ImageStore {
    /// Pulls `reference` for `platform` (this host's when `None`) with `creds`, reporting
    /// progress as the Engine API's pull stream. Blobs already present are not fetched again.
    pub async fn pull(
        &self,
        reference: &str,
        creds: &Credentials,
        platform: Option<&Platform>,
        progress: &mut ProgressFn<'_>,
    ) -> Result<Pulled> {
        let name = Name::parse(reference)?;
        let platform = platform.cloned().unwrap_or_else(Platform::host);
        let auth = creds.registry_auth()?;
        let _gc = self.gc_shared().await;
        let shown = name
            .tag
            .clone()
            .unwrap_or_else(|| name.digest.as_ref().map(|d| d.to_string()).unwrap_or_default());
        let repo_shown = Name {
            tag: None,
            digest: None,
            ..name.clone()
        }
        .familiar();
        progress(Progress::about(&shown, format!("Pulling from {repo_shown}")));
        let mut fetched = Vec::new();
        let client = Remote::connect(&name, &auth).await?;

        let (top_bytes, top_digest) = self.fetch_manifest(&client, &name, None).await?;
        let mut manifest_bytes = top_bytes.clone();
        let mut manifest_digest = top_digest.clone();
        if is_index(&top_bytes)? {
            let index: ImageIndex = serde_json::from_slice(&top_bytes)
                .map_err(|e| Error::Corrupt(format!("manifest list of {}: {e}", name.familiar())))?;
            let chosen = choose(&index, &platform).ok_or_else(|| Error::NoPlatform(platform.to_string()))?;
            let (bytes, digest) = self.fetch_manifest(&client, &name, Some(&chosen)).await?;
            if is_index(&bytes)? {
                return Err(Error::Unsupported(format!(
                    "nested manifest lists in {}",
                    name.familiar()
                )));
            }
            self.blobs().write_bytes(&top_bytes)?;
            manifest_bytes = bytes;
            manifest_digest = digest;
        }
        let manifest: ImageManifest = serde_json::from_slice(&manifest_bytes)
            .map_err(|e| Error::Corrupt(format!("manifest of {}: {e}", name.familiar())))?;
        self.blobs().write_bytes(&manifest_bytes)?;

        let config_desc = manifest.config();
        let config_id = Digest::parse(config_desc.digest().as_ref())?;
        if config_desc.size() > MAX_SMALL_BLOB {
            return Err(Error::Corrupt(format!(
                "config of {} is {} bytes",
                name.familiar(),
                config_desc.size()
            )));
        }
        if !self.blobs().has(&config_id) {
            self.fetch_blob(&client, (&config_id, config_desc), progress)
                .await?;
            fetched.push(config_id.clone());
        }
        let config: ImageConfig = self.config(&config_id)?;
        if !config.os.is_empty() && config.os != platform.os {
            // dockerd refuses these too; an architecture mismatch it only warns about.
            return Err(Error::Unsupported(format!(
                "image operating system {:?} cannot be used on this platform ({})",
                config.os, platform.os
            )));
        }
        if config.rootfs.diff_ids.len() != manifest.layers().len() {
            return Err(Error::Corrupt(format!(
                "{}: manifest has {} layers, config {}",
                name.familiar(),
                manifest.layers().len(),
                config.rootfs.diff_ids.len()
            )));
        }

        let mut layers = Vec::with_capacity(manifest.layers().len());
        let mut seen = HashSet::new();
        for (desc, diff_id) in manifest.layers().iter().zip(&config.rootfs.diff_ids) {
            let blob = Digest::parse(desc.digest().as_ref())?;
            if self.blobs().has(&blob) || !seen.insert(blob.clone()) {
                progress(Progress::about(blob.short(), "Already exists"));
            } else {
                progress(Progress::about(blob.short(), "Pulling fs layer"));
                self.fetch_blob(&client, (&blob, desc), progress).await?;
                progress(Progress::about(blob.short(), "Download complete"));
                fetched.push(blob.clone());
            }
            layers.push(LayerRecord {
                blob,
                diff_id: diff_id.clone(),
                size: desc.size(),
            });
        }

        let record = ImageRecord {
            id: config_id.clone(),
            manifest: Some(manifest_digest),
            repo_digests: vec![name.with_digest(&top_digest)],
            layers,
            created: config.created.clone(),
        };
        self.unpack_layers(&record, progress).await?;
        let fresh = {
            let mut index = self.lock_index();
            let before = name.tagged().and_then(|t| index.tags.get(&t).cloned());
            let entry = index
                .images
                .entry(config_id.clone())
                .or_insert_with(|| record.clone());
            let rd = name.with_digest(&top_digest);
            if !entry.repo_digests.contains(&rd) {
                entry.repo_digests.push(rd);
            }
            if let Some(t) = name.tagged() {
                index.tags.insert(t, config_id.clone());
            }
            self.save(&index)?;
            before.as_ref() != Some(&config_id)
        };
        progress(Progress::status(format!("Digest: {top_digest}")));
        progress(Progress::status(if fresh {
            format!("Status: Downloaded newer image for {}", name.familiar())
        } else {
            format!("Status: Image is up to date for {}", name.familiar())
        }));
        Ok(Pulled {
            id: config_id,
            digest: top_digest,
            fetched,
        })
    }

    /// Fetches a manifest by the name's tag/digest or by `digest` (at most
    /// [`MAX_SMALL_BLOB`] bytes read), checking it against the digest it was asked by.
    async fn fetch_manifest(
        &self,
        client: &Remote,
        name: &Name,
        digest: Option<&Digest>,
    ) -> Result<(Vec<u8>, Digest)> {
        let want = digest.or(name.digest.as_ref());
        let reference = match (want, &name.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".to_owned(),
        };
        let bytes = client.manifest(&reference, ACCEPT).await?;
        let got = Digest::of(&bytes);
        if let Some(want) = want
            && *want != got
        {
            return Err(Error::Corrupt(format!(
                "manifest digest mismatch: asked for {want}, got {got}"
            )));
        }
        Ok((bytes, got))
    }

    /// Streams one blob into the store (never more than its descriptor's size), with
    /// `Downloading` lines for layers.
    async fn fetch_blob(
        &self,
        client: &Remote,
        (digest, descriptor): (&Digest, &Descriptor),
        progress: &mut ProgressFn<'_>,
    ) -> Result<()> {
        let size = descriptor.size();
        let media_type = descriptor.media_type().to_string();
        let body = client
            .blob(digest)
            .await?
            .map(|chunk| chunk.map_err(|e| Error::Registry(format!("downloading {digest}: {e}"))));
        let report = media_type.contains("layer") || media_type.contains("rootfs");
        let mut last = 0u64;
        let short = digest.short().to_owned();
        self.blobs()
            .write_stream(digest, Some(size), Box::pin(body), |done| {
                if report && (done - last >= PROGRESS_STEP || done == size) {
                    last = done;
                    progress(Progress::bytes(&short, "Downloading", done, size));
                }
            })
            .await?;
        if report {
            progress(Progress::about(&short, "Verifying Checksum"));
        }
        Ok(())
    }
}

/// Whether manifest bytes are a list/index (by `mediaType`, or by a `manifests` array when an
/// OCI index leaves `mediaType` out).
fn is_index(bytes: &[u8]) -> Result<bool> {
    #[derive(serde::Deserialize)]
    struct Probe {
        #[serde(rename = "mediaType", default)]
        media_type: Option<String>,
        #[serde(default)]
        manifests: Option<serde_json::Value>,
    }
    let probe: Probe =
        serde_json::from_slice(bytes).map_err(|e| Error::Corrupt(format!("manifest is not JSON: {e}")))?;
    Ok(match probe.media_type.as_deref() {
        Some(OCI_IMAGE_INDEX_MEDIA_TYPE | IMAGE_MANIFEST_LIST_MEDIA_TYPE) => true,
        Some(OCI_IMAGE_MEDIA_TYPE | IMAGE_MANIFEST_MEDIA_TYPE) => false,
        Some(other) => return Err(Error::Unsupported(format!("manifest media type {other}"))),
        None => probe.manifests.is_some(),
    })
}

/// The index entry for `platform`: the first whose platform fits.
fn choose(index: &ImageIndex, platform: &Platform) -> Option<Digest> {
    index
        .manifests()
        .iter()
        .find(|m| {
            m.platform().as_ref().is_some_and(|p| {
                platform.matches(
                    &p.os().to_string(),
                    &p.architecture().to_string(),
                    p.variant().as_deref(),
                )
            })
        })
        .and_then(|m| Digest::parse(m.digest().as_ref()).ok())
}
