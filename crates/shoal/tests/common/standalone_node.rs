//! A dev node on the oci executor with busybox pulled from a loopback registry, for the
//! standalone-container tests (`docker run` and friends); the including test declares the
//! `busybox`, `registry` and `build` modules beside `common`.

use std::path::PathBuf;

use crate::busybox::{self, Cleanup, skip_reason};
use crate::common::Agent;

/// A dev node running the oci executor with `bb:1` (busybox from a loopback registry)
/// pulled, and the cleanup of the standalone containers it leaves. Fields drop in order: the
/// containers first, the registry and its runtime last.
pub struct Node {
    _cleanup: StandaloneCleanup,
    pub agent: Agent,
    _root: tempfile::TempDir,
    _registry: crate::registry::Registry,
    _rt: tokio::runtime::Runtime,
}

impl Node {
    /// `None` (after saying why) where containers cannot run.
    pub fn with_busybox() -> Option<Node> {
        if let Some(why) = skip_reason() {
            eprintln!("skipping: {why}");
            return None;
        }
        let (rt, registry) = busybox::serve_busybox();
        let root = tempfile::tempdir().unwrap();
        let agent = Agent::start_default_executor(root.path(), "n1");
        let cleanup = StandaloneCleanup(agent.data_dir().to_path_buf());
        let remote = format!("{}/busybox:latest", registry.addr);
        agent.docker_ok(&["pull", &remote]);
        agent.docker_ok(&["tag", &remote, "bb:1"]);
        Some(Node {
            _cleanup: cleanup,
            agent,
            _root: root,
            _registry: registry,
            _rt: rt,
        })
    }
}

/// Ends the standalone containers a failed run leaves (`Cleanup` finds them by their
/// directories under `<data-dir>/standalone/containers`).
pub struct StandaloneCleanup(pub PathBuf);

impl Drop for StandaloneCleanup {
    fn drop(&mut self) {
        drop(Cleanup {
            data_dir: self.0.clone(),
            task_ids: Vec::new(),
        });
    }
}
