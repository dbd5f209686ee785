//! Container benchmarks of the `oci` executor, each beside its Docker peer in the same run
//! (issue 11, "Benchmarks"):
//!
//! ```text
//!   start      task start latency: oci / process executor (timed in-process) vs
//!              `docker run --rm` (dockerd) and `runc run`            → section `start-latency`
//!   replicas   service create 50, scale 50 → 100 on 5 netns hosts: shoal agents (oci, docker)
//!              vs Docker Swarm (dockerd)                              → section `replicas-peer`
//!   rss        node memory idle and with 100 tasks: shoal agent (+ task-shims)
//!              vs dockerd + containerd (+ shims)                      → section `node-rss`
//!   pull       pull + unpack of a 100 MiB image from a loopback registry:
//!              shoal's image store vs `docker pull`                   → section `pull-peer`
//!   mesh       published ports on 3 netns hosts through the routing mesh (another host,
//!              route-return, the receiving host) vs direct, and encrypted vs plain overlay
//!              streams                                                → section `mesh`
//! ```
//!
//! Every daemon runs as PID 1 of a PID namespace of its own with private mounts, so killing
//! it (its owner's `Drop`) takes its supervisors, containers and overlay mounts with it; the
//! run's directory is a temporary one.

pub mod cluster;
pub mod mesh;
pub mod mesh_client;
pub mod mesh_report;
pub mod procs;
pub mod pull;
pub mod registry;
pub mod replicas;
pub mod rss;
pub mod service;
pub mod start;

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::peer::netns;

/// The image every container benchmark runs: Debian's static busybox with its applets, as
/// a root filesystem tar (`docker import` makes the same image of it for every system).
pub fn busybox_tar(dir: &Path) -> anyhow::Result<PathBuf> {
    let rootfs = dir.join("bb-rootfs");
    agent::executor::oci::image::busybox_rootfs(&rootfs)?
        .ok_or_else(|| anyhow::anyhow!("no static busybox: install Debian's busybox-static"))?;
    let tar = dir.join("bb.tar");
    netns::run(
        Command::new("tar")
            .arg("-C")
            .arg(&rootfs)
            .arg("-cf")
            .arg(&tar)
            .arg("."),
    )?;
    Ok(tar)
}

/// Checks for root and finds a binary (a path, or a name on PATH).
pub fn tool(name: &str, hint: &str) -> anyhow::Result<PathBuf> {
    anyhow::ensure!(
        netns::is_root(),
        "the container benchmarks make namespaces, mounts and cgroups: run them as root"
    );
    crate::peer::resolve(name).ok_or_else(|| anyhow::anyhow!("{name} not found: {hint}"))
}

/// The shoal release binary, absolute.
pub fn shoal_binary(path: &Path) -> anyhow::Result<PathBuf> {
    std::fs::canonicalize(path).map_err(|_| {
        anyhow::anyhow!(
            "{} not found: run `cargo build --release -p shoal` first",
            path.display()
        )
    })
}

/// `dockerd --version`, first line.
pub fn dockerd_version(dockerd: &Path) -> String {
    netns::run(Command::new(dockerd).arg("--version"))
        .map(|v| v.lines().next().unwrap_or_default().trim().to_string())
        .unwrap_or_else(|_| "dockerd (version unknown)".into())
}

/// The machine line every section ends with: facts, the builds measured, and the load
/// average around the run.
pub fn machine_line(load_before: &str, shoal: Option<&Path>) -> String {
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    let shoal = shoal.map_or(String::new(), |p| format!(", shoal binary {}", p.display()));
    format!(
        "{} Builds: shoal-bench {profile}{shoal}. Load average (1 min) at start / end: {load_before} / {} on {} cores; the machine was shared \
         with other work during this run, so absolute times may be high — the ratios come from the same run. Mount table at the end: {} \
         entries (container starts read it, in libcontainer and in dockerd, so a machine holding many mounts starts containers slower).",
        crate::report::machine_facts(),
        procs::load_average(),
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        mount_count()
    )
}

/// Entries in this process's mount table (`/proc/self/mountinfo`), 0 if it cannot be read.
fn mount_count() -> usize {
    std::fs::read_to_string("/proc/self/mountinfo").map_or(0, |t| t.lines().count())
}

/// `a ÷ b` as `N.N×`, or `–` when `b` is zero.
pub fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 {
        format!("{:.1}×", a / b)
    } else {
        "–".into()
    }
}

/// Percent-encodes a query value (the JSON of Docker's `filters`).
pub fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_percent_encoded() {
        assert_eq!(
            encode(r#"{"service":["a b"]}"#),
            "%7B%22service%22%3A%5B%22a%20b%22%5D%7D"
        );
    }

    #[test]
    fn ratio_of_zero_is_a_dash() {
        assert_eq!(ratio(1.0, 0.0), "–");
        assert_eq!(ratio(3.0, 1.5), "2.0×");
    }
}
