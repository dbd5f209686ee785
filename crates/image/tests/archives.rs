//! Archives that arrive without a registry pull, and hostile ones: `docker save` archives
//! loaded, and layer tars that try to leave their directory (imported and pulled).

#![allow(clippy::unwrap_used)]

mod common;

use common::build::{self, Format, Layer, Tar};
use common::registry::Registry;
use image::{Credentials, Error, ImageStore, RunConfig};
use oci_client::secrets::RegistryAuth;

#[tokio::test]
async fn hostile_layers_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let store = ImageStore::open(dir.path().join("images")).unwrap();
    let outside_text = outside.to_string_lossy().into_owned();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "dot-dot",
            Tar::default()
                .raw(b"../../escape", tar::EntryType::Regular, b"", b"x")
                .finish(),
        ),
        (
            "through a symlink",
            Tar::default()
                .symlink("evil", &outside_text)
                .raw(b"evil/pwned", tar::EntryType::Regular, b"", b"x")
                .finish(),
        ),
        (
            "hardlink out",
            Tar::default()
                .raw(b"x", tar::EntryType::Link, b"../../etc/passwd", b"")
                .finish(),
        ),
        ("huge long name", {
            let mut t = Tar::default()
                .raw(b"././@LongLink", tar::EntryType::GNULongName, b"", b"")
                .finish();
            // Claim a 2 GiB long name: refused before anything is read into memory.
            let mut h = tar::Header::new_gnu();
            h.as_mut_bytes().copy_from_slice(&t[..512]);
            h.set_size(2 << 30);
            h.set_cksum();
            t[..512].copy_from_slice(h.as_bytes());
            t
        }),
    ];
    for (what, tar) in cases {
        let err = store
            .import(
                std::io::Cursor::new(tar),
                Some("hostile:1"),
                RunConfig::default(),
                None,
            )
            .await
            .unwrap_err();
        assert!(matches!(err, Error::HostileLayer { .. }), "{what}: {err}");
        assert_eq!(
            std::fs::read_dir(&outside).unwrap().count(),
            0,
            "{what} wrote outside"
        );
        assert!(!dir.path().join("escape").exists() && !dir.path().join("images/escape").exists());
    }
    assert!(store.list().is_empty());

    // The same through a registry.
    let reg = Registry::start(None).await;
    let client = build::client(&reg.addr, "hostile", &RegistryAuth::Anonymous).await;
    let layers = vec![Layer::new(
        Tar::default()
            .raw(b"../escape", tar::EntryType::Regular, b"", b"x")
            .finish(),
        true,
    )];
    let config = build::config(&layers, "amd64", &["sh"]);
    let (manifest, mt) = build::manifest(Format::Docker, &config, &layers);
    build::push_image(
        &client,
        &reg.addr,
        "hostile",
        &layers,
        &config,
        (&manifest, mt),
        "1",
    )
    .await;
    let err = store
        .pull(
            &format!("{}/hostile:1", reg.addr),
            &Credentials::default(),
            None,
            &mut |_| {},
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::HostileLayer { .. }), "{err}");
    assert!(store.list().is_empty());
    // gc sweeps what the refused pull left.
    let report = store.gc().await.unwrap();
    assert!(!report.blobs.is_empty());
}

/// A `docker save` archive in the legacy layout: `<id>/layer.tar`, a second image whose base
/// layer is a symlink to the first's, `manifest.json` last.
fn saved_archive() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let base = build::busybox_rootfs();
    let extra = Tar::default().file("extra", 0o644, b"extra").finish();
    let base_layer = Layer::new(base.clone(), false);
    let extra_layer = Layer::new(extra.clone(), false);
    let config_a = build::config(std::slice::from_ref(&base_layer), "amd64", &["sh"]);
    let config_b = build::config(&[base_layer, extra_layer], "amd64", &["cat", "/extra"]);
    let hex = |c: &[u8]| build::sha(c)[7..].to_owned();
    let manifest = serde_json::json!([
        {"Config": format!("{}.json", hex(&config_a)), "RepoTags": ["saved:a"], "Layers": ["aaa/layer.tar"]},
        {"Config": format!("{}.json", hex(&config_b)), "RepoTags": ["saved:b", "127.0.0.1:5000/saved:b"],
         "Layers": ["bbb/layer.tar", "ccc/layer.tar"]}
    ]);
    let tar = Tar::default()
        .dir("aaa")
        .file("aaa/layer.tar", 0o644, &base)
        .dir("bbb")
        .symlink("bbb/layer.tar", "../aaa/layer.tar")
        .dir("ccc")
        .file("ccc/layer.tar", 0o644, &extra)
        .file(&format!("{}.json", hex(&config_a)), 0o644, &config_a)
        .file(&format!("{}.json", hex(&config_b)), 0o644, &config_b)
        .file("manifest.json", 0o644, &serde_json::to_vec(&manifest).unwrap())
        .finish();
    (tar, config_a, config_b)
}

#[tokio::test]
async fn load_reads_a_docker_save_archive() {
    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(dir.path()).unwrap();
    let (tar, config_a, config_b) = saved_archive();
    let loaded = store.load(std::io::Cursor::new(tar)).await.unwrap();
    assert_eq!(loaded.len(), 2);
    assert_eq!(loaded[0].id.as_str(), build::sha(&config_a));
    assert_eq!(loaded[0].tags, vec!["docker.io/library/saved:a".to_owned()]);
    assert_eq!(loaded[1].id.as_str(), build::sha(&config_b));
    assert_eq!(store.resolve("127.0.0.1:5000/saved:b").unwrap().id, loaded[1].id);
    let a = store.rootfs_layers("saved:a").await.unwrap();
    let b = store.rootfs_layers("saved:b").await.unwrap();
    assert_eq!(a[0], b[0], "the shared base layer is unpacked once");
    assert_eq!(std::fs::read(b[1].join("extra")).unwrap(), b"extra");
    assert_eq!(
        store.run_config("saved:b").unwrap().cmd,
        Some(vec!["cat".to_owned(), "/extra".into()])
    );
    // Nothing of the upload is left behind.
    assert!(store.gc().await.unwrap().blobs.is_empty());

    // A manifest naming a file outside the archive is refused.
    let bad = Tar::default()
        .file(
            "manifest.json",
            0o644,
            br#"[{"Config":"../../etc/passwd","Layers":[]}]"#,
        )
        .finish();
    let err = store.load(std::io::Cursor::new(bad)).await.unwrap_err();
    assert_eq!(err.status(), 400, "{err}");
}
