//! The node's image store as the oci executor's [`ImageSource`].
//!
//! ```text
//! ensure(reference, auth) ─► normalise ─► lock that name ─► present? ──no──► pull (registry)
//!                                                              └─yes──┬────────┘
//!                                         layer dirs (unpacked once) + run config ◄┘
//! ```
//!
//! Swarm pulls again on every task start; this source pulls only an image that is not here
//! yet, so a restart loop does not hammer the registry. Tasks of one image on this node wait
//! on one per-name lock: the first pulls, the others find the image present.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use image::{Credentials, ImageStore, Name, RunConfig};
use types::HealthConfig;

use super::image::{ImageRootfs, ImageRunConfig, ImageSource};
use crate::executor::{Error, Result};

/// An [`ImageSource`] that pulls into, and reads from, an [`ImageStore`].
#[derive(Debug, Clone)]
pub struct StoreImageSource {
    store: ImageStore,
    /// One lock per normalised name, so concurrent tasks of one image pull it once.
    pulling: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
}

impl StoreImageSource {
    /// A source over `store` (shared with the Engine API's `/images` routes).
    pub fn new(store: ImageStore) -> StoreImageSource {
        StoreImageSource {
            store,
            pulling: Arc::default(),
        }
    }

    /// The lock of one name; entries stay (one small entry per image name this node ran).
    fn lock_for(&self, name: &str) -> Arc<tokio::sync::Mutex<()>> {
        // Every mutation is one insert, so a poisoned map is still consistent.
        let mut map = self.pulling.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(name.to_string()).or_default().clone()
    }
}

#[async_trait]
impl ImageSource for StoreImageSource {
    async fn ensure(&self, reference: &str, registry_auth: Option<&str>) -> Result<ImageRootfs> {
        let name = Name::parse(reference).map_err(|e| Error::Invalid(e.to_string()))?;
        let key = name.to_string();
        let lock = self.lock_for(&key);
        let _pulling = lock.lock().await;
        let present = match self.store.resolve(&key) {
            Ok(_) => true,
            Err(image::Error::NotFound(_)) => false,
            Err(e) => return Err(image_error(e)),
        };
        if !present {
            // The credentials are decoded here and handed to the registry client only; they
            // never appear in a message or a log line.
            let creds = Credentials::from_header(registry_auth.unwrap_or(""))
                .map_err(|e| Error::Invalid(format!("registry credentials of the service: {e}")))?;
            tracing::info!(image = %key, "pulling image");
            self.store
                .pull(&key, &creds, None, &mut |_| {})
                .await
                .map_err(image_error)?;
        }
        let layers = self.store.rootfs_layers(&key).await.map_err(image_error)?;
        let config = self.store.run_config(&key).map_err(image_error)?;
        Ok(ImageRootfs {
            layers,
            config: run_config(config),
        })
    }
}

/// The store's error with its own words (a registry's reason reaches `service ps`).
fn image_error(e: image::Error) -> Error {
    match e {
        image::Error::Reference(_) | image::Error::InvalidArgument(_) => Error::Invalid(e.to_string()),
        other => Error::Image(other.to_string()),
    }
}

/// The image config's run fields in the executor's shape.
fn run_config(c: RunConfig) -> ImageRunConfig {
    ImageRunConfig {
        entrypoint: c.entrypoint.unwrap_or_default(),
        cmd: c.cmd.unwrap_or_default(),
        env: c.env.unwrap_or_default(),
        user: c.user.unwrap_or_default(),
        working_dir: c.working_dir.unwrap_or_default(),
        stop_signal: c.stop_signal.unwrap_or_default(),
        healthcheck: c.healthcheck.map(|h| HealthConfig {
            test: h.test,
            interval: h.interval,
            timeout: h.timeout,
            // A negative count in a hand-made config means "default", as 0 does.
            retries: u64::try_from(h.retries).unwrap_or(0),
            start_period: h.start_period,
            start_interval: h.start_interval,
        }),
        labels: c.labels.unwrap_or_default(),
        volumes: c.volumes.unwrap_or_default().into_keys().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_config_maps_every_field() {
        let c = RunConfig {
            entrypoint: Some(vec!["/bin/sh".into()]),
            cmd: Some(vec!["-c".into(), "true".into()]),
            env: Some(vec!["A=1".into()]),
            user: Some("1:2".into()),
            working_dir: Some("/w".into()),
            stop_signal: Some("SIGQUIT".into()),
            healthcheck: Some(image::Healthcheck {
                test: vec!["CMD".into(), "true".into()],
                retries: -1,
                ..Default::default()
            }),
            labels: Some([("a".to_string(), "b".to_string())].into()),
            ..Default::default()
        };
        let r = run_config(c);
        assert_eq!(r.entrypoint, ["/bin/sh"]);
        assert_eq!(r.cmd, ["-c", "true"]);
        assert_eq!(r.env, ["A=1"]);
        assert_eq!(r.user, "1:2");
        assert_eq!(r.working_dir, "/w");
        assert_eq!(r.stop_signal, "SIGQUIT");
        assert_eq!(r.healthcheck.map(|h| h.retries), Some(0));
        assert_eq!(r.labels.get("a").map(String::as_str), Some("b"));
    }

    #[tokio::test]
    async fn an_image_that_is_not_there_fails_with_the_registrys_words() {
        let dir = tempfile::tempdir().unwrap();
        let store = ImageStore::open_with(dir.path().join("images"), image::Layout::Flat).unwrap();
        let source = StoreImageSource::new(store);
        // Port 1 on loopback: nothing listens, and the error says which image it was.
        let err = source.ensure("127.0.0.1:1/nope:1", None).await.unwrap_err();
        assert!(matches!(err, Error::Image(_)), "{err:?}");
        assert!(err.to_string().contains("127.0.0.1:1/nope:1"), "{err}");
        let bad = source.ensure("127.0.0.1:1/x:1", Some("%%%")).await.unwrap_err();
        assert!(matches!(bad, Error::Invalid(_)), "{bad:?}");
        assert!(!bad.to_string().contains("%%%"), "{bad}");
    }
}
