//! `docker import`: a root filesystem tar (plain or compressed) becomes a one-layer image.

use tokio::io::AsyncRead;

use crate::config::{ImageConfig, RootFs, RunConfig};
use crate::digest::{Digest, HashingReader};
use crate::error::{Error, Result};
use crate::index::{ImageRecord, LayerRecord};
use crate::name::Name;
use crate::platform::Platform;
use crate::store::ImageStore;
use crate::unpack;

impl ImageStore {
    /// Imports the tar `reader` yields as a one-layer image with `run` as its config (empty
    /// for plain `docker import`), created at `created` (RFC 3339, passed in: time is an
    /// input), tagged `reference` if given. Returns the image ID.
    pub async fn import(
        &self,
        reader: impl AsyncRead + Unpin,
        reference: Option<&str>,
        run: RunConfig,
        created: Option<String>,
    ) -> Result<Digest> {
        let tag = reference
            .map(|r| {
                let n = Name::parse(r)?;
                n.tagged()
                    .filter(|_| n.digest.is_none())
                    .ok_or_else(|| Error::InvalidArgument(format!("cannot import to a digest reference {r}")))
            })
            .transpose()?;
        let _gc = self.gc_shared().await;
        let (blob, size) = self.blobs().write_reader(reader).await?;
        let path = self.blobs().path(&blob);
        let diff_id = tokio::task::spawn_blocking(move || {
            let input = unpack::decompressed(&path)?;
            HashingReader::new(input).finish().map(|(d, _)| d)
        })
        .await
        .map_err(|e| Error::Corrupt(format!("hashing thread failed: {e}")))?
        .map_err(|e| Error::HostileLayer {
            layer: blob.to_string(),
            reason: format!("cannot decompress: {e}"),
        })?;
        let host = Platform::host();
        let config = ImageConfig {
            architecture: host.architecture,
            os: host.os,
            variant: None,
            created: created.clone(),
            config: run,
            rootfs: RootFs {
                kind: "layers".into(),
                diff_ids: vec![diff_id.clone()],
            },
        };
        let bytes = serde_json::to_vec(&config).map_err(|e| Error::Corrupt(format!("encode config: {e}")))?;
        let id = self.blobs().write_bytes(&bytes)?;
        let record = ImageRecord {
            id: id.clone(),
            manifest: None,
            repo_digests: Vec::new(),
            layers: vec![LayerRecord { blob, diff_id, size }],
            created,
        };
        self.unpack_layers(&record, &mut |_| {}).await?;
        let mut index = self.lock_index();
        index.images.entry(id.clone()).or_insert(record);
        if let Some(t) = tag {
            index.tags.insert(t, id.clone());
        }
        self.save(&index)?;
        Ok(id)
    }
}
