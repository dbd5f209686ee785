//! Builds layer tars, configs, manifests and indexes, and pushes them to a registry with
//! oci-client: real registry traffic, no dockerd needed.

use std::io::Write;

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use serde_json::json;
use sha2::{Digest as _, Sha256};

/// `sha256:<hex>` of `bytes`.
pub fn sha(bytes: &[u8]) -> String {
    let sum = Sha256::digest(bytes);
    let hex: String = sum.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// Manifest flavour.
#[derive(Clone, Copy)]
pub enum Format {
    /// Docker v2 schema 2.
    Docker,
    /// OCI image manifest.
    Oci,
}

/// A layer as pushed.
#[derive(Clone)]
pub struct Layer {
    /// Bytes as stored in the registry.
    pub blob: Vec<u8>,
    /// Digest of the uncompressed tar.
    pub diff_id: String,
    /// Whether `blob` is gzip.
    pub gzip: bool,
}

impl Layer {
    /// Wraps a tar, gzipped or not.
    pub fn new(tar: Vec<u8>, gzip: bool) -> Layer {
        let diff_id = sha(&tar);
        let blob = if gzip {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(&tar).unwrap();
            enc.finish().unwrap()
        } else {
            tar
        };
        Layer { blob, diff_id, gzip }
    }

    fn media_type(&self, format: Format) -> &'static str {
        match (format, self.gzip) {
            (Format::Docker, true) => "application/vnd.docker.image.rootfs.diff.tar.gzip",
            (Format::Docker, false) => "application/vnd.docker.image.rootfs.diff.tar",
            (Format::Oci, true) => "application/vnd.oci.image.layer.v1.tar+gzip",
            (Format::Oci, false) => "application/vnd.oci.image.layer.v1.tar",
        }
    }
}

/// A tar built entry by entry.
pub struct Tar(tar::Builder<Vec<u8>>);

impl Default for Tar {
    fn default() -> Self {
        Tar(tar::Builder::new(Vec::new()))
    }
}

impl Tar {
    fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(size);
        h.set_mtime(1_700_000_000);
        h.set_uid(0);
        h.set_gid(0);
        h
    }

    /// A directory.
    pub fn dir(mut self, path: &str) -> Self {
        let mut h = Self::header(tar::EntryType::Directory, 0o755, 0);
        self.0.append_data(&mut h, path, std::io::empty()).unwrap();
        self
    }

    /// A regular file owned by `uid`.
    pub fn file_owned(mut self, path: &str, mode: u32, uid: u64, data: &[u8]) -> Self {
        let mut h = Self::header(tar::EntryType::Regular, mode, data.len() as u64);
        h.set_uid(uid);
        h.set_gid(uid);
        self.0.append_data(&mut h, path, data).unwrap();
        self
    }

    /// A regular file owned by root.
    pub fn file(self, path: &str, mode: u32, data: &[u8]) -> Self {
        self.file_owned(path, mode, 0, data)
    }

    /// A symlink.
    pub fn symlink(mut self, path: &str, target: &str) -> Self {
        let mut h = Self::header(tar::EntryType::Symlink, 0o777, 0);
        self.0.append_link(&mut h, path, target).unwrap();
        self
    }

    /// A hardlink to an earlier entry.
    pub fn hardlink(mut self, path: &str, target: &str) -> Self {
        let mut h = Self::header(tar::EntryType::Link, 0o644, 0);
        self.0.append_link(&mut h, path, target).unwrap();
        self
    }

    /// An entry whose name is written verbatim (the builder refuses `..`, which is the point).
    pub fn raw(mut self, name: &[u8], kind: tar::EntryType, link: &[u8], data: &[u8]) -> Self {
        let mut h = Self::header(kind, 0o644, data.len() as u64);
        let gnu = h.as_gnu_mut().unwrap();
        gnu.name = [0; 100];
        gnu.name[..name.len()].copy_from_slice(name);
        gnu.linkname = [0; 100];
        gnu.linkname[..link.len()].copy_from_slice(link);
        h.set_cksum();
        self.0.append(&h, data).unwrap();
        self
    }

    /// The tar bytes.
    pub fn finish(self) -> Vec<u8> {
        self.0.into_inner().unwrap()
    }
}

/// A busybox root filesystem: `bin/busybox` from Debian's busybox-static, `bin/sh` a symlink,
/// `bin/ls` a hardlink, plus `etc/hello` and `dir/{a,b}` for whiteout tests.
pub fn busybox_rootfs() -> Vec<u8> {
    let busybox = std::fs::read("/bin/busybox")
        .expect("/bin/busybox missing: install Debian's busybox-static (scripts/test.sh does)");
    Tar::default()
        .dir("bin")
        .file("bin/busybox", 0o755, &busybox)
        .symlink("bin/sh", "busybox")
        .hardlink("bin/ls", "bin/busybox")
        .dir("etc")
        .file_owned("etc/hello", 0o640, 1000, b"hello\n")
        .dir("dir")
        .file("dir/a", 0o644, b"a")
        .file("dir/b", 0o644, b"b")
        .finish()
}

/// An image config for `layers` on `arch`.
pub fn config(layers: &[Layer], arch: &str, cmd: &[&str]) -> Vec<u8> {
    let diff_ids: Vec<&str> = layers.iter().map(|l| l.diff_id.as_str()).collect();
    serde_json::to_vec(&json!({
        "architecture": arch,
        "os": "linux",
        "created": "2026-01-01T00:00:00Z",
        "config": {
            "Cmd": cmd,
            "Env": ["PATH=/bin"],
            "WorkingDir": "/",
            "StopSignal": "SIGQUIT",
            "ExposedPorts": {"8080/tcp": {}},
            "Labels": {"test": "yes"},
            "Healthcheck": {"Test": ["CMD", "true"], "Interval": 1000000000, "Retries": 2}
        },
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": []
    }))
    .unwrap()
}

fn descriptor(media_type: &str, bytes: &[u8]) -> serde_json::Value {
    json!({"mediaType": media_type, "digest": sha(bytes), "size": bytes.len()})
}

/// An image manifest.
pub fn manifest(format: Format, config: &[u8], layers: &[Layer]) -> (Vec<u8>, &'static str) {
    let (mt, config_mt) = match format {
        Format::Docker => (
            "application/vnd.docker.distribution.manifest.v2+json",
            "application/vnd.docker.container.image.v1+json",
        ),
        Format::Oci => (
            "application/vnd.oci.image.manifest.v1+json",
            "application/vnd.oci.image.config.v1+json",
        ),
    };
    let layers: Vec<_> = layers
        .iter()
        .map(|l| descriptor(l.media_type(format), &l.blob))
        .collect();
    let body = json!({
        "schemaVersion": 2,
        "mediaType": mt,
        "config": descriptor(config_mt, config),
        "layers": layers,
    });
    (serde_json::to_vec(&body).unwrap(), mt)
}

/// A multi-platform index over `(manifest bytes, manifest media type, arch)`.
pub fn index(entries: &[(&[u8], &str, &str)]) -> (Vec<u8>, &'static str) {
    let mt = "application/vnd.oci.image.index.v1+json";
    let manifests: Vec<_> = entries
        .iter()
        .map(|(bytes, entry_mt, arch)| {
            let mut d = descriptor(entry_mt, bytes);
            d["platform"] = json!({"os": "linux", "architecture": arch});
            d
        })
        .collect();
    let body = json!({"schemaVersion": 2, "mediaType": mt, "manifests": manifests});
    (serde_json::to_vec(&body).unwrap(), mt)
}

/// A client for a loopback registry, logged in for pushing when `auth` is given.
pub async fn client(addr: &str, repo: &str, auth: &RegistryAuth) -> oci_client::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = oci_client::Client::new(ClientConfig {
        protocol: ClientProtocol::Http,
        ..ClientConfig::default()
    });
    let r = oci_client::Reference::with_tag(addr.into(), repo.into(), "x".into());
    client
        .auth(&r, auth, oci_client::RegistryOperation::Push)
        .await
        .unwrap();
    client
}

/// Pushes blobs (layers and config) and then a manifest under `reference` (tag or digest).
pub async fn push_image(
    client: &oci_client::Client,
    addr: &str,
    repo: &str,
    layers: &[Layer],
    config: &[u8],
    manifest: (&[u8], &str),
    tag: &str,
) -> String {
    let r = oci_client::Reference::with_tag(addr.into(), repo.into(), tag.into());
    for blob in layers.iter().map(|l| l.blob.as_slice()).chain([config]) {
        client.push_blob(&r, blob.to_vec(), &sha(blob)).await.unwrap();
    }
    push_manifest(client, addr, repo, manifest, tag).await
}

/// Pushes a manifest or index under `tag`; returns its digest.
pub async fn push_manifest(
    client: &oci_client::Client,
    addr: &str,
    repo: &str,
    manifest: (&[u8], &str),
    tag: &str,
) -> String {
    let r = oci_client::Reference::with_tag(addr.into(), repo.into(), tag.into());
    client
        .push_manifest_raw(
            &r,
            manifest.0.to_vec(),
            http::HeaderValue::from_str(manifest.1).unwrap(),
        )
        .await
        .unwrap();
    sha(manifest.0)
}
