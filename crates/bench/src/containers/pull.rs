//! `shoal-bench pull`: pull and unpack of a 100 MiB image from a registry on loopback,
//! shoal's image store beside `docker pull` by a private dockerd, in the same run.
//!
//! ```text
//!   registry: Debian's docker-registry on 127.0.0.1:<free port>
//!   image:    one layer of 25 × 4 MiB incompressible files, `docker import` + `docker push`
//!             (so the registry holds what dockerd makes: a gzip layer)
//!   rounds, alternating: shoal  ImageStore::pull (blobs, digests checked, layers unpacked)
//!                               + rootfs_layers, a fresh store each round; then the
//!                               unpack alone again over a deleted layer directory
//!                        docker `docker pull` (download + extract), `docker rmi` after
//!   → BENCHMARKS.md section `pull-peer`
//! ```

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use super::procs;
use super::registry::Registry;
use crate::peer::dockerd::Dockerd;
use crate::peer::member::{Member, docker};
use crate::peer::netns;
use crate::report::percentile;

/// Flags of `shoal-bench pull`.
#[derive(clap::Args)]
pub struct Args {
    /// Image size in MiB (files of 4 MiB).
    #[arg(long, default_value_t = 100)]
    mib: usize,
    /// Pulls per system.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// The dockerd binary (Debian's docker.io).
    #[arg(long, default_value = "dockerd")]
    dockerd: String,
    /// The docker CLI.
    #[arg(long, default_value = "docker")]
    docker: String,
    /// Debian's docker-registry binary.
    #[arg(long, default_value = "docker-registry")]
    registry: String,
    /// Report file to update.
    #[arg(long, default_value = "BENCHMARKS.md")]
    out: PathBuf,
}

/// Incompressible-looking bytes from a fixed xorshift seed.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// One shoal pull: (pull and unpack as a first task needs it, s; unpack alone, s). The store
/// unpacks while it pulls, so unpack alone is timed again over a deleted layer directory.
async fn shoal_pull(dir: &std::path::Path, reference: &str) -> anyhow::Result<(f64, f64)> {
    let _ = std::fs::remove_dir_all(dir);
    let store = image::ImageStore::open(dir)?;
    let t0 = Instant::now();
    store
        .pull(reference, &image::Credentials::default(), None, &mut |_| {})
        .await?;
    let layers = store.rootfs_layers(reference).await?;
    let total = t0.elapsed().as_secs_f64();
    for layer in &layers {
        std::fs::remove_dir_all(layer)?;
    }
    let t1 = Instant::now();
    store.rootfs_layers(reference).await?;
    let unpack = t1.elapsed().as_secs_f64();
    drop(store);
    let _ = std::fs::remove_dir_all(dir);
    Ok((total, unpack))
}

/// Runs both and writes the `pull-peer` section.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let dockerd = super::tool(&args.dockerd, "install Debian's docker.io")?;
    let cli = super::tool(&args.docker, "the docker CLI is needed")?;
    let registry_bin = super::tool(&args.registry, "install Debian's docker-registry")?;
    anyhow::ensure!(args.rounds >= 1 && args.mib >= 4, "--rounds ≥ 1 and --mib ≥ 4");
    let load_before = procs::load_average();
    let dir = tempfile::Builder::new()
        .prefix("shoal-pull-")
        .tempdir_in("/tmp")?;
    let registry = Registry::start(&registry_bin, dir.path()).await?;

    // The image: files of noise in one layer.
    let root = dir.path().join("big-rootfs");
    std::fs::create_dir_all(root.join("data"))?;
    for i in 0..args.mib / 4 {
        std::fs::File::create(root.join(format!("data/f{i}")))?.write_all(&noise(4 << 20, i as u64))?;
    }
    let tar = dir.path().join("big.tar");
    netns::run(
        Command::new("tar")
            .arg("-C")
            .arg(&root)
            .arg("-cf")
            .arg(&tar)
            .arg("."),
    )?;
    std::fs::remove_dir_all(&root)?;
    let reference = format!("{}/big:1", registry.addr);

    let mut d = Dockerd::in_root_netns(&dockerd, "pull", dir.path());
    d.start().await?;
    let socket = d.socket().to_path_buf();
    docker(&cli, &socket, &["import", &tar.to_string_lossy(), &reference]).await?;
    docker(&cli, &socket, &["push", &reference]).await?;
    docker(&cli, &socket, &["rmi", &reference]).await?;
    std::fs::remove_file(&tar)?;
    let blob_mib = registry_blob_mib(&dir.path().join("registry-data"));
    eprintln!("pull: {reference} pushed ({blob_mib:.1} MiB in the registry)");

    let (mut ours, mut unpacks, mut peer) = (Vec::new(), Vec::new(), Vec::new());
    let store_dir = dir.path().join("shoal-images");
    for i in 0..args.rounds {
        let docker_pull = || async {
            let t0 = Instant::now();
            docker(&cli, &socket, &["pull", "-q", &reference]).await?;
            let took = t0.elapsed().as_secs_f64();
            docker(&cli, &socket, &["rmi", &reference]).await?;
            anyhow::Ok(took)
        };
        if i % 2 == 0 {
            let (total, unpack) = shoal_pull(&store_dir, &reference).await?;
            ours.push(total);
            unpacks.push(unpack);
            peer.push(docker_pull().await?);
        } else {
            peer.push(docker_pull().await?);
            let (total, unpack) = shoal_pull(&store_dir, &reference).await?;
            ours.push(total);
            unpacks.push(unpack);
        }
        eprintln!(
            "pull: round {i}: shoal {:.2} s (unpack {:.2} s), docker pull {:.2} s",
            ours[i], unpacks[i], peer[i]
        );
    }
    let version = super::dockerd_version(&dockerd);
    drop(d);
    drop(registry);

    let body = section(&args, &ours, &unpacks, &peer, blob_mib, &version, &load_before);
    crate::report::write_section(&args.out, "pull-peer", &body)?;
    println!("{body}");
    Ok(())
}

/// Size of the registry's blobs (the pushed layer and config), MiB.
fn registry_blob_mib(root: &std::path::Path) -> f64 {
    fn walk(p: &std::path::Path) -> u64 {
        match std::fs::symlink_metadata(p) {
            Ok(m) if m.is_dir() => std::fs::read_dir(p)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| walk(&e.path()))
                .sum(),
            Ok(m) if p.file_name().is_some_and(|n| n == "data") => m.len(),
            _ => 0,
        }
    }
    walk(&root.join("docker/registry/v2/blobs")) as f64 / (1 << 20) as f64
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    percentile(&s, 50.0)
}

fn section(
    args: &Args,
    ours: &[f64],
    unpacks: &[f64],
    peer: &[f64],
    blob_mib: f64,
    version: &str,
    load_before: &str,
) -> String {
    let size = (args.mib / 4 * 4) as f64;
    let mut b = format!(
        "## Image pull and unpack vs `docker pull`: `pull-peer/{}_mib`\n\n",
        args.mib / 4 * 4
    );
    b.push_str(&format!(
        "Workload: one image of one layer holding {} files of 4 MiB of incompressible bytes ({size:.0} MiB\n\
         unpacked), made by `docker import` and pushed by `docker push` to Debian's `docker-registry` on\n\
         127.0.0.1 (so the registry holds a gzip layer, {blob_mib:.1} MiB of blobs). shoal: the node's\n\
         image store (`ImageStore::pull`: manifest, config and layer streamed to disk with their digests\n\
         checked, the layer unpacked; then `rootfs_layers`, what the `oci` executor's first task of the image\n\
         asks for), in a fresh store each round; \"unpack alone\" is the unpack timed again after deleting the\n\
         unpacked layer (not added to the total). Docker: `docker pull -q` through a private dockerd\n\
         ({version}; download and extraction), the image removed after each round. {} rounds per\n\
         system, alternating which goes first. Ratio: Docker's time ÷ shoal's.\n\n\
         Reproduce (root; Debian's `docker.io`, `docker-registry`): `cargo build --release -p shoal -p bench\n\
         && target/release/shoal-bench pull`\n\n",
        args.mib / 4,
        ours.len()
    ));
    b.push_str("| system | median (s) | MiB/s (unpacked size) | rounds (s) |\n|---|---:|---:|---|\n");
    let list = |v: &[f64]| v.iter().map(|x| format!("{x:.2}")).collect::<Vec<_>>().join(", ");
    let (a, p) = (median(ours), median(peer));
    b.push_str(&format!(
        "| shoal pull + unpack | **{a:.2}** | {:.0} | {} |\n| (unpack alone, not in the total) | {:.2} | – | {} |\n| `docker pull` | {p:.2} | {:.0} | {} |\n",
        size / a.max(f64::EPSILON),
        list(ours),
        median(unpacks),
        list(unpacks),
        size / p.max(f64::EPSILON),
        list(peer)
    ));
    b.push_str(&format!(
        "\nMedian ratio `docker pull` ÷ shoal: **{}**.\n\n",
        super::ratio(p, a)
    ));
    b.push_str(&super::machine_line(load_before, None));
    b.push('\n');
    b
}
