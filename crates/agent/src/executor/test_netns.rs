//! A network namespace of its own for the executors' sandbox tests, with a mark a task can
//! read from inside (`ip_default_ttl` is per namespace), and the sandbox files to go with it.
//! Removed on drop. Needs root; `None` (with the reason printed) otherwise.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::Sandbox;

/// The `ip_default_ttl` set in every test namespace (the host's is 64).
pub const MARK_TTL: &str = "42";

/// What the sandbox's resolv.conf says.
pub const RESOLV_CONF: &str = "nameserver 10.9.8.7\nsearch netexec.test\noptions ndots:0\n";

/// What the sandbox's hosts says.
pub const HOSTS: &str = "127.0.0.1\tlocalhost\n10.9.8.20\tweb-task\n";

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A pinned network namespace, deleted on drop, and the sandbox that names it.
pub struct TestNetns {
    /// Where it is pinned.
    pub path: PathBuf,
    /// Its inode: what `readlink /proc/self/ns/net` shows inside it as `net:[<inode>]`.
    pub inode: u64,
    /// The sandbox: this namespace plus resolv.conf and hosts in `files`.
    pub sandbox: Sandbox,
    _files: tempfile::TempDir,
}

impl TestNetns {
    /// A fresh namespace with lo up and the TTL mark, or `None` where namespaces cannot be made.
    pub async fn create() -> Option<TestNetns> {
        if super::process::sys::geteuid() != 0 {
            eprintln!("skipping sandbox test: making network namespaces needs root");
            return None;
        }
        let name = format!(
            "netexec-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let path = netplane::create_netns(Path::new(netplane::DEFAULT_NETNS_DIR), &name)
            .await
            .expect("creating a test network namespace");
        let marked = netplane::run_in_netns(&path, || {
            Ok(std::fs::write("/proc/sys/net/ipv4/ip_default_ttl", MARK_TTL))
        })
        .await
        .expect("entering the test namespace");
        marked.expect("setting the namespace's ttl");
        let inode = std::fs::metadata(&path).unwrap().ino();
        let files = tempfile::tempdir().unwrap();
        let resolv_conf = files.path().join("resolv.conf");
        let hosts = files.path().join("hosts");
        std::fs::write(&resolv_conf, RESOLV_CONF).unwrap();
        std::fs::write(&hosts, HOSTS).unwrap();
        Some(TestNetns {
            sandbox: Sandbox {
                netns: Some(path.clone()),
                resolv_conf: Some(resolv_conf),
                hosts: Some(hosts),
                ..Default::default()
            },
            path,
            inode,
            _files: files,
        })
    }

    /// `readlink /proc/self/ns/net` in a process inside it.
    pub fn link(&self) -> String {
        format!("net:[{}]", self.inode)
    }
}

impl Drop for TestNetns {
    fn drop(&mut self) {
        if let Err(e) = netplane::delete_netns(&self.path) {
            eprintln!("removing test namespace {}: {e}", self.path.display());
        }
    }
}
