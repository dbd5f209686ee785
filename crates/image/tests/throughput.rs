//! Pull-and-unpack throughput of a 100 MiB single-layer image from the local registry, beside
//! `docker pull` of the same image by a private dockerd in the same run. Ignored by default
//! (it moves 100 MiB several times); run with
//! `cargo test -p image --test throughput -- --ignored --nocapture`.

#![allow(clippy::unwrap_used)]

mod common;

use common::build::{self, Format, Layer, Tar};
use common::dockerd::Dockerd;
use common::registry::Registry;
use image::{Credentials, ImageStore};
use oci_client::secrets::RegistryAuth;
use tokio::time::Instant;

/// Incompressible-looking bytes from a fixed xorshift seed.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

#[tokio::test]
#[ignore = "moves 100 MiB several times; run by hand for BENCHMARKS.md"]
async fn pull_and_unpack_100_mib() {
    const FILES: usize = 25;
    const FILE: usize = 4 << 20;
    let mut tar = Tar::default().dir("data");
    for i in 0..FILES {
        tar = tar.file(&format!("data/f{i}"), 0o644, &noise(FILE, i as u64));
    }
    let layers = vec![Layer::new(tar.finish(), false)];
    let size = layers[0].blob.len() as f64 / (1 << 20) as f64;
    let reg = Registry::start(None).await;
    let client = build::client(&reg.addr, "big", &RegistryAuth::Anonymous).await;
    let config = build::config(&layers, "amd64", &["sh"]);
    let (manifest, mt) = build::manifest(Format::Docker, &config, &layers);
    build::push_image(&client, &reg.addr, "big", &layers, &config, (&manifest, mt), "1").await;
    let reference = format!("{}/big:1", reg.addr);

    let dir = tempfile::tempdir().unwrap();
    let store = ImageStore::open(dir.path()).unwrap();
    let start = Instant::now();
    store
        .pull(&reference, &Credentials::default(), None, &mut |_| {})
        .await
        .unwrap();
    let pull = start.elapsed().as_secs_f64();
    let layer_dirs = store.rootfs_layers(&reference).await.unwrap();
    std::fs::remove_dir_all(&layer_dirs[0]).unwrap();
    let start = Instant::now();
    store.rootfs_layers(&reference).await.unwrap();
    let unpack = start.elapsed().as_secs_f64();

    let docker = Dockerd::start().await;
    let start = Instant::now();
    docker.ok(&["pull", "-q", &reference]);
    let docker_pull = start.elapsed().as_secs_f64();
    println!(
        "pull+unpack {size:.0} MiB: shoal {pull:.2} s ({:.0} MiB/s; unpack alone {unpack:.2} s), docker pull {docker_pull:.2} s ({:.0} MiB/s), ratio {:.2}",
        size / pull,
        size / docker_pull,
        pull / docker_pull
    );
}
