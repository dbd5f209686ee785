//! Interop with the stock docker CLI and Debian's dockerd: an image made by `docker import`
//! and pushed by `docker push` to a real registry pulls and unpacks here, and a real
//! `docker save` archive loads.

#![allow(clippy::unwrap_used)]

mod common;

use common::build;
use common::dockerd::Dockerd;
use common::registry::Registry;
use image::{Credentials, ImageStore};

#[tokio::test]
async fn images_made_by_the_docker_cli_pull_and_load() {
    let reg = Registry::start(None).await;
    let docker = Dockerd::start().await;
    let rootfs = docker.path("rootfs.tar");
    std::fs::write(&rootfs, build::busybox_rootfs()).unwrap();
    let reference = format!("{}/dbb:1", reg.addr);
    docker.ok(&[
        "import",
        "--change",
        "CMD [\"sh\"]",
        rootfs.to_str().unwrap(),
        &reference,
    ]);
    docker.ok(&["push", &reference]);

    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(dir.path().join("images")).unwrap();
    let pulled = store
        .pull(&reference, &Credentials::default(), None, &mut |_| {})
        .await
        .unwrap();
    let docker_id = docker.ok(&["image", "inspect", "--format", "{{.Id}}", &reference]);
    assert_eq!(pulled.id.as_str(), docker_id.trim(), "same image ID as dockerd's");
    let repo_digest = docker.ok(&[
        "image",
        "inspect",
        "--format",
        "{{index .RepoDigests 0}}",
        &reference,
    ]);
    assert_eq!(format!("{}/dbb@{}", reg.addr, pulled.digest), repo_digest.trim());
    assert_eq!(
        store.run_config(&reference).unwrap().cmd,
        Some(vec!["sh".to_owned()])
    );
    let layers = store.rootfs_layers(&reference).await.unwrap();
    assert!(layers[0].join("bin/busybox").is_file());

    // docker save → load into a fresh store.
    let saved = docker.path("saved.tar");
    docker.ok(&["save", "-o", saved.to_str().unwrap(), &reference]);
    let other = ImageStore::open(dir.path().join("loaded")).unwrap();
    let file = tokio::fs::File::open(&saved).await.unwrap();
    let loaded = other.load(file).await.unwrap();
    assert_eq!(loaded.len(), 1);
    assert_eq!(loaded[0].id, pulled.id);
    assert_eq!(loaded[0].tags, vec![reference.clone()]);
    let layers = other.rootfs_layers(&reference).await.unwrap();
    assert!(layers[0].join("bin/sh").symlink_metadata().is_ok());
}
