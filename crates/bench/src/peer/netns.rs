//! The benchmark's private network: one namespace per simulated host, joined by a bridge that
//! lives in a namespace of its own, so no packet reaches the root namespace or the outside.
//!
//! ```text
//!   {prefix}-br:  br0 ── veth1 ── veth2 ── veth3 ── veth4
//!                  │        │        │        │
//!   {prefix}-N:    └ eth0 = 10.77.0.N/24 in each host namespace (lo up too)
//! ```
//!
//! The bridge stays out of the root namespace because a dockerd's FORWARD DROP rules there
//! would drop bridged traffic. Dropping a [`Topology`] kills every process still inside its
//! namespaces and deletes them, so nothing outlives the run even when it fails.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Prefix of every namespace and lock this benchmark makes.
pub const PREFIX: &str = "shoalbench";

/// The first three octets of the host addresses.
const SUBNET: &str = "10.77.0";

/// Runs `cmd`, failing with its stderr when it exits non-zero.
pub fn run(cmd: &mut Command) -> anyhow::Result<String> {
    let out = cmd.output().map_err(|e| anyhow::anyhow!("{cmd:?}: {e}"))?;
    anyhow::ensure!(
        out.status.success(),
        "{cmd:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn ip(args: &[&str]) -> anyhow::Result<String> {
    run(Command::new("ip").args(args))
}

/// Namespace names in `ip netns list` output that start with `prefix-`.
pub fn ours(list: &str, prefix: &str) -> Vec<String> {
    list.lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('-')))
        .map(str::to_string)
        .collect()
}

/// Kills every process inside namespace `ns` and waits until none is left.
fn empty(ns: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let pids: Vec<String> = ip(&["netns", "pids", ns])
            .map(|s| s.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default();
        if pids.is_empty() || Instant::now() > deadline {
            return;
        }
        for pid in &pids {
            let _ = Command::new("kill").args(["-9", pid]).output();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Kills what runs in, and deletes, every namespace named `prefix-*`.
pub fn sweep(prefix: &str) -> Vec<String> {
    let names = ours(&ip(&["netns", "list"]).unwrap_or_default(), prefix);
    for ns in &names {
        empty(ns);
        let _ = ip(&["netns", "del", ns]);
    }
    names
}

/// Where each run keeps its daemons' files and sockets (short: socket paths fit in 108 bytes).
const DIR_PREFIX: &str = "shoal-peer-";

/// Host namespaces on one bridge and the run's directory; on drop, whatever still runs in the
/// namespaces is killed, then the namespaces and the directory are deleted.
pub struct Topology {
    dir: Option<tempfile::TempDir>,
    _lock: File,
}

impl Topology {
    /// Creates `hosts` host namespaces (10.77.0.1 …) and the bridge namespace.
    ///
    /// One run at a time: a lock in /run says whether namespaces left over from an earlier
    /// run belong to a live run (refuse) or a dead one (sweep them first).
    pub fn create(hosts: usize) -> anyhow::Result<Topology> {
        anyhow::ensure!(
            is_root(),
            "the peer benchmark makes network namespaces and runs dockerd: run it as root"
        );
        for tool in ["ip", "nsenter", "unshare"] {
            anyhow::ensure!(
                on_path(tool),
                "`{tool}` not found: install iproute2 and util-linux"
            );
        }
        let lock = File::create(format!("/run/{PREFIX}-peer.lock"))?;
        lock.try_lock()
            .map_err(|_| anyhow::anyhow!("another `shoal-bench peer` run holds /run/{PREFIX}-peer.lock"))?;
        let mut stale = sweep(PREFIX);
        for entry in std::fs::read_dir("/tmp")?.flatten() {
            if entry.file_name().to_string_lossy().starts_with(DIR_PREFIX) {
                let _ = std::fs::remove_dir_all(entry.path());
                stale.push(entry.path().display().to_string());
            }
        }
        if !stale.is_empty() {
            eprintln!("peer: removed what an earlier run left: {}", stale.join(", "));
        }
        let dir = tempfile::Builder::new().prefix(DIR_PREFIX).tempdir_in("/tmp")?;
        let topology = Topology {
            dir: Some(dir),
            _lock: lock,
        };
        let br = topology.bridge_ns();
        ip(&["netns", "add", &br])?;
        ip(&["-n", &br, "link", "set", "lo", "up"])?;
        ip(&["-n", &br, "link", "add", "br0", "type", "bridge"])?;
        ip(&["-n", &br, "link", "set", "br0", "up"])?;
        for i in 1..=hosts {
            let ns = topology.ns(i);
            let (host_end, bridge_end) = (format!("{PREFIX}h{i}"), format!("veth{i}"));
            ip(&["netns", "add", &ns])?;
            ip(&[
                "link",
                "add",
                &host_end,
                "netns",
                &ns,
                "type",
                "veth",
                "peer",
                "name",
                &bridge_end,
                "netns",
                &br,
            ])?;
            ip(&["-n", &ns, "link", "set", &host_end, "name", "eth0"])?;
            ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{}/24", topology.addr(i)),
                "dev",
                "eth0",
            ])?;
            ip(&["-n", &ns, "link", "set", "eth0", "up"])?;
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
            ip(&["-n", &br, "link", "set", &bridge_end, "master", "br0"])?;
            ip(&["-n", &br, "link", "set", &bridge_end, "up"])?;
        }
        Ok(topology)
    }

    /// Name of host `i`'s namespace (1-based).
    pub fn ns(&self, i: usize) -> String {
        format!("{PREFIX}-{i}")
    }

    /// The bind-mounted namespace file `nsenter --net=` takes.
    pub fn ns_path(&self, i: usize) -> PathBuf {
        PathBuf::from(format!("/run/netns/{}", self.ns(i)))
    }

    /// Host `i`'s address.
    pub fn addr(&self, i: usize) -> String {
        format!("{SUBNET}.{i}")
    }

    /// The run's directory (daemon data, logs, sockets).
    pub fn dir(&self) -> &Path {
        self.dir.as_ref().map_or(Path::new("/tmp"), |d| d.path())
    }

    fn bridge_ns(&self) -> String {
        format!("{PREFIX}-br")
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        // Processes first: their files go only once nothing writes to them any more.
        sweep(PREFIX);
        drop(self.dir.take());
    }
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

/// Whether `tool` is an executable on PATH.
pub fn on_path(tool: &str) -> bool {
    which(tool).is_some()
}

/// Full path of `tool` on PATH.
pub fn which(tool: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(tool))
            .find(|f| f.is_file())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ours_matches_the_prefix_and_a_dash_only() {
        let list = "shoalbench-br\nshoalbench-1 (id: 3)\nshoalbench2-1\nother-1\nshoalbenchx\n";
        assert_eq!(ours(list, "shoalbench"), vec!["shoalbench-br", "shoalbench-1"]);
    }
}
