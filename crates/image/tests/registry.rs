//! Pulls from a real registry (Debian's docker-registry on loopback) into a real store:
//! tags and digests, a multi-platform index, htpasswd auth, blob reuse, whiteouts in both
//! layer layouts, hostile layers, remove and gc.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashSet;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use base64::Engine as _;
use common::build::{self, Format, Layer, Tar};
use common::registry::Registry;
use image::{Credentials, Error, ImageStore, Layout, Platform, Progress, Removed, RunConfig};
use oci_client::secrets::RegistryAuth;

/// Busybox below, and above it a layer that deletes `etc/hello`, makes `dir` opaque and adds
/// `dir/c` and `new/file`.
fn busybox_layers() -> Vec<Layer> {
    let top = Tar::default()
        .dir("etc")
        .file("etc/.wh.hello", 0o644, b"")
        .dir("dir")
        .file("dir/.wh..wh..opq", 0o644, b"")
        .file("dir/c", 0o600, b"c")
        .dir("new")
        .file("new/file", 0o644, b"new")
        .finish();
    vec![Layer::new(build::busybox_rootfs(), true), Layer::new(top, false)]
}

/// Pushes the busybox image as `repo:tag` in `format`; returns (manifest digest, config bytes).
async fn push_busybox(
    client: &oci_client::Client,
    addr: &str,
    repo: &str,
    tag: &str,
    format: Format,
) -> (String, Vec<u8>) {
    let layers = busybox_layers();
    let config = build::config(&layers, "amd64", &["sh", "-c", "echo hi"]);
    let (manifest, mt) = build::manifest(format, &config, &layers);
    let digest = build::push_image(client, addr, repo, &layers, &config, (&manifest, mt), tag).await;
    (digest, config)
}

fn collect(events: &mut Vec<Progress>) -> impl FnMut(Progress) + Send + '_ {
    |p| events.push(p)
}

fn statuses(events: &[Progress]) -> Vec<String> {
    events.iter().map(|p| p.status.clone()).collect()
}

#[tokio::test]
async fn pull_by_tag_and_digest_fetches_each_blob_once() {
    let reg = Registry::start(None).await;
    let client = build::client(&reg.addr, "bb", &RegistryAuth::Anonymous).await;
    let (digest, config) = push_busybox(&client, &reg.addr, "bb", "1", Format::Docker).await;
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(dir.path().join("images")).unwrap();
    let reference = format!("{}/bb:1", reg.addr);

    let mut events = Vec::new();
    let pulled = store
        .pull(
            &reference,
            &Credentials::default(),
            None,
            &mut collect(&mut events),
        )
        .await
        .unwrap();
    assert_eq!(pulled.id.as_str(), build::sha(&config));
    assert_eq!(pulled.digest.as_str(), digest);
    assert_eq!(pulled.fetched.len(), 3, "config and two layers");
    let s = statuses(&events);
    assert_eq!(s[0], format!("Pulling from {}/bb", reg.addr));
    for want in [
        "Pulling fs layer",
        "Downloading",
        "Download complete",
        "Extracting",
        "Pull complete",
    ] {
        assert!(s.iter().any(|x| x == want), "{want} missing from {s:?}");
    }
    assert_eq!(
        s.last().unwrap(),
        &format!("Status: Downloaded newer image for {reference}")
    );

    let images = store.list();
    assert_eq!(images.len(), 1);
    assert_eq!(images[0].repo_tags, vec![reference.clone()]);
    assert_eq!(images[0].repo_digests, vec![format!("{}/bb@{digest}", reg.addr)]);

    let run = store.run_config(&reference).unwrap();
    assert_eq!(
        run.cmd.as_deref(),
        Some(&["sh".to_owned(), "-c".into(), "echo hi".into()][..])
    );
    assert_eq!(run.env.as_deref(), Some(&["PATH=/bin".to_owned()][..]));
    assert_eq!(run.stop_signal.as_deref(), Some("SIGQUIT"));
    assert_eq!(run.healthcheck.unwrap().retries, 2);
    assert!(run.exposed_ports.unwrap().contains_key("8080/tcp"));

    // Again by tag: only the manifest is asked for.
    let mut events = Vec::new();
    let again = store
        .pull(
            &reference,
            &Credentials::default(),
            None,
            &mut collect(&mut events),
        )
        .await
        .unwrap();
    assert_eq!(again.id, pulled.id);
    assert!(again.fetched.is_empty(), "fetched {:?}", again.fetched);
    let s = statuses(&events);
    assert_eq!(s.iter().filter(|x| *x == "Already exists").count(), 2);
    assert_eq!(
        s.last().unwrap(),
        &format!("Status: Image is up to date for {reference}")
    );

    // By digest, from a fresh store too.
    let by_digest = format!("{}/bb@{digest}", reg.addr);
    let again = store
        .pull(&by_digest, &Credentials::default(), None, &mut |_| {})
        .await
        .unwrap();
    assert!(again.fetched.is_empty());
    let other = ImageStore::open(dir.path().join("other")).unwrap();
    let fresh = other
        .pull(&by_digest, &Credentials::default(), None, &mut |_| {})
        .await
        .unwrap();
    assert_eq!(fresh.id, pulled.id);
    assert_eq!(other.resolve(&by_digest).unwrap().id, pulled.id);
    assert_eq!(other.list()[0].repo_tags, Vec::<String>::new());

    // Lookups as dockerd does them: ID, short ID prefix.
    assert_eq!(store.resolve(pulled.id.short()).unwrap().id, pulled.id);
    assert_eq!(store.resolve(pulled.id.as_str()).unwrap().id, pulled.id);

    // A missing tag is the registry's "manifest unknown".
    let missing = store
        .pull(
            &format!("{}/bb:nope", reg.addr),
            &Credentials::default(),
            None,
            &mut |_| {},
        )
        .await
        .unwrap_err();
    assert!(matches!(missing, Error::ManifestUnknown(_)), "{missing}");
    assert_eq!(missing.status(), 404);
}

#[tokio::test]
async fn a_multi_platform_index_resolves_to_the_asked_platform() {
    let reg = Registry::start(None).await;
    let client = build::client(&reg.addr, "multi", &RegistryAuth::Anonymous).await;
    let amd_layers = busybox_layers();
    let amd_config = build::config(&amd_layers, "amd64", &["sh"]);
    let (amd_manifest, mt) = build::manifest(Format::Oci, &amd_config, &amd_layers);
    build::push_image(
        &client,
        &reg.addr,
        "multi",
        &amd_layers,
        &amd_config,
        (&amd_manifest, mt),
        "amd64",
    )
    .await;
    let arm_layers = vec![Layer::new(
        Tar::default().file("arm", 0o644, b"arm64").finish(),
        true,
    )];
    let arm_config = build::config(&arm_layers, "arm64", &["sh"]);
    let (arm_manifest, mt) = build::manifest(Format::Oci, &arm_config, &arm_layers);
    build::push_image(
        &client,
        &reg.addr,
        "multi",
        &arm_layers,
        &arm_config,
        (&arm_manifest, mt),
        "arm64",
    )
    .await;
    let (index, index_mt) = build::index(&[
        (
            &arm_manifest,
            "application/vnd.oci.image.manifest.v1+json",
            "arm64",
        ),
        (
            &amd_manifest,
            "application/vnd.oci.image.manifest.v1+json",
            "amd64",
        ),
    ]);
    let index_digest = build::push_manifest(&client, &reg.addr, "multi", (&index, index_mt), "1").await;

    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(dir.path()).unwrap();
    let reference = format!("{}/multi:1", reg.addr);
    let amd64 = Platform::parse("linux/amd64").unwrap();
    let pulled = store
        .pull(&reference, &Credentials::default(), Some(&amd64), &mut |_| {})
        .await
        .unwrap();
    assert_eq!(pulled.id.as_str(), build::sha(&amd_config));
    assert_eq!(
        pulled.digest.as_str(),
        index_digest,
        "the repo digest is the index's"
    );
    let record = store.resolve(&reference).unwrap();
    assert_eq!(record.manifest.unwrap().as_str(), build::sha(&amd_manifest));
    assert_eq!(
        record.repo_digests,
        vec![format!("{}/multi@{index_digest}", reg.addr)]
    );

    let arm = Platform::parse("linux/arm64").unwrap();
    let pulled = store
        .pull(&reference, &Credentials::default(), Some(&arm), &mut |_| {})
        .await
        .unwrap();
    assert_eq!(pulled.id.as_str(), build::sha(&arm_config));

    let s390x = Platform::parse("linux/s390x").unwrap();
    let err = store
        .pull(&reference, &Credentials::default(), Some(&s390x), &mut |_| {})
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NoPlatform(_)), "{err}");
}

#[tokio::test]
async fn credentials_from_x_registry_auth_open_a_protected_registry() {
    let reg = Registry::start(Some(("alice", "s3cret"))).await;
    let auth = RegistryAuth::Basic("alice".into(), "s3cret".into());
    let client = build::client(&reg.addr, "private", &auth).await;
    push_busybox(&client, &reg.addr, "private", "1", Format::Oci).await;
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(dir.path()).unwrap();
    let reference = format!("{}/private:1", reg.addr);

    let err = store
        .pull(&reference, &Credentials::default(), None, &mut |_| {})
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unauthorized(_)), "anonymous: {err}");
    let header = |user: &str, pass: &str| {
        let json = format!(
            r#"{{"username":"{user}","password":"{pass}","serveraddress":"{}"}}"#,
            reg.addr
        );
        base64::engine::general_purpose::URL_SAFE.encode(json)
    };
    let wrong = Credentials::from_header(&header("alice", "nope")).unwrap();
    let err = store
        .pull(&reference, &wrong, None, &mut |_| {})
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Unauthorized(_)), "wrong password: {err}");
    let right = Credentials::from_header(&header("alice", "s3cret")).unwrap();
    let pulled = store.pull(&reference, &right, None, &mut |_| {}).await.unwrap();
    assert_eq!(pulled.fetched.len(), 3);
}

/// Checks the unpacked busybox image in `dirs` (bottom first) for `layout`.
fn check_layers(dirs: &[std::path::PathBuf], layout: Layout) {
    let top = dirs.last().unwrap();
    let base = &dirs[0];
    let busybox = std::fs::metadata(base.join("bin/busybox")).unwrap();
    assert_eq!(busybox.mode() & 0o7777, 0o755);
    assert_eq!(
        std::fs::metadata(base.join("bin/ls")).unwrap().ino(),
        busybox.ino(),
        "hardlink kept"
    );
    assert_eq!(
        std::fs::read_link(base.join("bin/sh")).unwrap(),
        Path::new("busybox")
    );
    assert_eq!(
        std::fs::metadata(base.join("dir")).unwrap().mode() & 0o7777,
        0o755
    );
    match layout {
        Layout::Overlay => {
            assert_eq!(dirs.len(), 2);
            let hello = std::fs::metadata(base.join("etc/hello")).unwrap();
            assert_eq!(
                (hello.uid(), hello.gid(), hello.mode() & 0o7777),
                (1000, 1000, 0o640)
            );
            let wh = std::fs::symlink_metadata(top.join("etc/hello")).unwrap();
            assert!(wh.file_type().is_char_device(), "whiteout is a character device");
            assert_eq!(wh.rdev(), 0);
            let mut value = [0u8; 8];
            let n = rustix::fs::lgetxattr(top.join("dir"), "trusted.overlay.opaque", &mut value[..]).unwrap();
            assert_eq!(&value[..n], b"y");
            assert!(!top.join("dir/a").exists() && top.join("dir/c").exists());
        }
        Layout::Flat => {
            assert_eq!(dirs.len(), 1);
            assert!(!top.join("etc/hello").exists(), "whiteout deleted the file");
            let mut names: Vec<String> = std::fs::read_dir(top.join("dir"))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            assert_eq!(
                names,
                vec!["c"],
                "opaque directory keeps only this layer's entries"
            );
            assert_eq!(std::fs::read(top.join("new/file")).unwrap(), b"new");
        }
    }
}

#[tokio::test]
async fn layers_unpack_with_whiteouts_in_both_layouts() {
    let reg = Registry::start(None).await;
    let client = build::client(&reg.addr, "wh", &RegistryAuth::Anonymous).await;
    push_busybox(&client, &reg.addr, "wh", "1", Format::Oci).await;
    let reference = format!("{}/wh:1", reg.addr);
    let dir = tempfile::tempdir().unwrap();

    let flat = ImageStore::open_with(dir.path().join("flat"), Layout::Flat).unwrap();
    flat.pull(&reference, &Credentials::default(), None, &mut |_| {})
        .await
        .unwrap();
    check_layers(&flat.rootfs_layers(&reference).await.unwrap(), Layout::Flat);

    assert_eq!(
        Layout::detect(),
        Layout::Overlay,
        "this machine (root, overlayfs) gets the overlay layout"
    );
    let store = ImageStore::open(dir.path().join("overlay")).unwrap();
    store
        .pull(&reference, &Credentials::default(), None, &mut |_| {})
        .await
        .unwrap();
    let dirs = store.rootfs_layers(&reference).await.unwrap();
    check_layers(&dirs, Layout::Overlay);

    // The kernel's overlayfs reads our whiteouts: the merged view hides etc/hello and dir/{a,b}.
    let merged = dir.path().join("merged");
    std::fs::create_dir(&merged).unwrap();
    let lower = format!("lowerdir={}:{}", dirs[1].display(), dirs[0].display());
    let status = std::process::Command::new("mount")
        .args(["-t", "overlay", "overlay", "-o", &lower])
        .arg(&merged)
        .status()
        .unwrap();
    assert!(status.success(), "mount overlay");
    let seen = (
        merged.join("etc/hello").exists(),
        merged.join("dir/a").exists(),
        merged.join("dir/c").exists(),
        merged.join("bin/busybox").exists(),
    );
    let _ = std::process::Command::new("umount").arg(&merged).status();
    assert_eq!(seen, (false, false, true, true));

    // A layer left half-made (or removed) is rebuilt from its blob.
    std::fs::remove_dir_all(&dirs[1]).unwrap();
    let again = store.rootfs_layers(&reference).await.unwrap();
    check_layers(&again, Layout::Overlay);
}

#[tokio::test]
async fn import_tag_remove_and_gc() {
    let reg = Registry::start(None).await;
    let client = build::client(&reg.addr, "bb", &RegistryAuth::Anonymous).await;
    push_busybox(&client, &reg.addr, "bb", "1", Format::Docker).await;
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(dir.path()).unwrap();
    let reference = format!("{}/bb:1", reg.addr);
    let pulled = store
        .pull(&reference, &Credentials::default(), None, &mut |_| {})
        .await
        .unwrap();
    let pulled_layers = store.rootfs_layers(&reference).await.unwrap();

    let run = RunConfig {
        cmd: Some(vec!["sh".into()]),
        ..RunConfig::default()
    };
    let tar = build::busybox_rootfs();
    let imported = store
        .import(
            std::io::Cursor::new(tar),
            Some("imported"),
            run,
            Some("2026-01-01T00:00:00Z".into()),
        )
        .await
        .unwrap();
    assert_eq!(store.resolve("imported:latest").unwrap().id, imported);
    assert_eq!(
        store.run_config("imported").unwrap().cmd,
        Some(vec!["sh".to_owned()])
    );
    let imported_layers = store.rootfs_layers("imported").await.unwrap();
    assert!(imported_layers[0].join("bin/busybox").is_file());

    store.tag(&reference, "bb:other").unwrap();
    assert_eq!(store.resolve("docker.io/library/bb:other").unwrap().id, pulled.id);
    let in_use: HashSet<_> = [pulled.id.clone()].into();
    // Untagging one of two names is allowed while in use.
    let removed = store.remove(&reference, &in_use, false).await.unwrap();
    assert_eq!(removed, vec![Removed::Untagged(reference.clone())]);
    // Deleting it is not.
    let err = store.remove("bb:other", &in_use, false).await.unwrap_err();
    assert_eq!(err.status(), 409, "{err}");
    assert!(store.resolve("bb:other").is_ok(), "a refusal changes nothing");

    let removed = store.remove("bb:other", &HashSet::new(), false).await.unwrap();
    assert!(removed.contains(&Removed::Untagged("bb:other".into())));
    assert!(removed.contains(&Removed::Deleted(pulled.id.clone())));
    assert!(!store.blobs().has(&pulled.id), "config blob freed");
    // The imported busybox tar is the pulled image's base layer (same diff ID): one directory
    // serves both, and stays; the pulled image's own top layer goes.
    assert_eq!(imported_layers[0], pulled_layers[0], "layer shared");
    assert!(
        pulled_layers[0].exists(),
        "the other image keeps the shared layer"
    );
    assert!(!pulled_layers[1].exists(), "{} freed", pulled_layers[1].display());
    assert!(store.blobs().has(&imported));

    // prune: an untagged image goes unless in use; tagged ones stay without `all`.
    let untagged = store
        .import(
            std::io::Cursor::new(Tar::default().file("u", 0o644, b"u").finish()),
            None,
            RunConfig::default(),
            None,
        )
        .await
        .unwrap();
    let keep: HashSet<_> = [untagged.clone()].into();
    let (removed, _) = store.prune(&keep, false).await.unwrap();
    assert!(removed.is_empty(), "in use: {removed:?}");
    let (removed, report) = store.prune(&HashSet::new(), false).await.unwrap();
    assert_eq!(removed, vec![Removed::Deleted(untagged.clone())]);
    assert!(report.blobs.contains(&untagged));
    assert!(store.resolve("imported").is_ok(), "tagged image kept");

    let stray = store.blobs().write_bytes(b"nobody points here").unwrap();
    let report = store.gc().await.unwrap();
    assert_eq!(report.blobs, vec![stray]);
    assert!(report.layers.is_empty());

    // One process at a time (flock): a second open is refused while the first is alive.
    let second = std::process::Command::new("flock")
        .args(["-n"])
        .arg(dir.path().join("lock"))
        .arg("true")
        .status()
        .unwrap();
    assert!(!second.success(), "the lock is held");
    // The index survives a reopen.
    drop(store);
    let store = ImageStore::open(dir.path()).unwrap();
    assert_eq!(store.list().len(), 1);
    assert_eq!(
        store.list()[0].repo_tags,
        vec!["docker.io/library/imported:latest".to_owned()]
    );
    assert_eq!(std::fs::metadata(dir.path()).unwrap().mode() & 0o777, 0o700);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_pulls_of_one_image_agree() {
    let reg = Registry::start(None).await;
    let client = build::client(&reg.addr, "bb", &RegistryAuth::Anonymous).await;
    push_busybox(&client, &reg.addr, "bb", "1", Format::Oci).await;
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(dir.path()).unwrap();
    // `localhost` is loopback too: plain HTTP is allowed for it as for 127.0.0.1.
    let port = reg.addr.rsplit(':').next().unwrap();
    let by_name = format!("localhost:{port}/bb:1");
    let by_addr = format!("{}/bb:1", reg.addr);
    let pulls: Vec<_> = [by_addr.clone(), by_addr.clone(), by_name]
        .into_iter()
        .map(|r| {
            let store = store.clone();
            tokio::spawn(async move { store.pull(&r, &Credentials::default(), None, &mut |_| {}).await })
        })
        .collect();
    let mut done = Vec::new();
    for p in pulls {
        done.push(p.await.unwrap());
    }
    let [a, b, c]: [_; 3] = done.try_into().unwrap();
    let (a, b, c) = (a.unwrap(), b.unwrap(), c.unwrap());
    assert!(a.id == b.id && b.id == c.id);
    assert_eq!(store.list().len(), 1);
    assert_eq!(store.list()[0].repo_tags.len(), 2);
    check_layers(&store.rootfs_layers(&by_addr).await.unwrap(), Layout::detect());
    assert!(
        store.gc().await.unwrap().blobs.is_empty(),
        "no stray blob from the race"
    );
}
