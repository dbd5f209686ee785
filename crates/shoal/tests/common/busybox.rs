//! Fixtures of the tests that run containers: the busybox-static image, pushed to a loopback
//! `docker-registry` (needs the `build` fixtures, `crate::build`, beside it), and the cleanup
//! of what a failed test leaves (containers outlive their agent on purpose).

use std::path::{Path, PathBuf};

use oci_client::secrets::RegistryAuth;

/// Why containers cannot run here, if they cannot.
pub fn skip_reason() -> Option<&'static str> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("containers need root");
    }
    if !Path::new("/usr/bin/docker-registry").exists() || !Path::new("/bin/busybox").exists() {
        return Some("needs Debian's docker-registry and busybox-static (scripts/test.sh installs them)");
    }
    None
}

/// Pushes a one-layer busybox image as `busybox:latest`.
pub async fn push_busybox(addr: &str, auth: &RegistryAuth) {
    let client = crate::build::client(addr, "busybox", auth).await;
    let layers = vec![crate::build::Layer::new(crate::build::busybox_rootfs(), true)];
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let config = crate::build::config(&layers, arch, &["sh"]);
    let manifest = crate::build::manifest(crate::build::Format::Docker, &config, &layers);
    crate::build::push_image(
        &client,
        addr,
        "busybox",
        &layers,
        &config,
        (&manifest.0, manifest.1),
        "latest",
    )
    .await;
}

/// The cgroup directories of `task_ids` (v1: one per controller; v2: one).
pub fn task_cgroups(task_ids: &[String]) -> Vec<PathBuf> {
    let root = Path::new("/sys/fs/cgroup");
    task_ids
        .iter()
        .flat_map(|id| agent::executor::details::cgroup_dirs(root, "shoal", id))
        .collect()
}

/// Ends whatever a failed run left: the processes in the tasks' cgroups, their mounts.
pub struct Cleanup {
    /// The agent's data dir.
    pub data_dir: PathBuf,
    /// The tasks to end (besides every container whose directory the agent still keeps).
    pub task_ids: Vec<String>,
}

impl Cleanup {
    /// The oci executors' task directories: swarm tasks' and standalone containers'.
    fn container_dirs(&self) -> [PathBuf; 2] {
        [
            self.data_dir.join("containers"),
            self.data_dir.join("standalone").join("containers"),
        ]
    }

    /// The named tasks and every container still kept on disk: a standalone container a
    /// failed test did not remove runs on after its agent otherwise.
    fn all_task_ids(&self) -> Vec<String> {
        let mut ids = self.task_ids.clone();
        for dir in self.container_dirs() {
            if let Ok(entries) = std::fs::read_dir(dir) {
                ids.extend(
                    entries
                        .flatten()
                        .map(|e| e.file_name().to_string_lossy().into_owned()),
                );
            }
        }
        ids.sort();
        ids.dedup();
        ids
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let ids = self.all_task_ids();
        // Killed until the cgroups are empty (a cgroup still holding a dying process cannot be
        // removed), for up to 10 s.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let mut alive = false;
            for dir in task_cgroups(&ids) {
                let procs = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
                for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                    alive = true;
                    // SAFETY: kill(2) on a member of this test's own task cgroup.
                    unsafe {
                        libc::kill(pid, libc::SIGKILL);
                    }
                }
            }
            if !alive || std::time::Instant::now() > deadline {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        for dir in self.container_dirs() {
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            for e in entries.flatten() {
                let rootfs =
                    std::ffi::CString::new(e.path().join("bundle/rootfs").to_string_lossy().as_bytes())
                        .unwrap();
                // SAFETY: a lazy unmount of a path under this test's own data dir.
                unsafe {
                    libc::umount2(rootfs.as_ptr(), libc::MNT_DETACH);
                }
            }
        }
        for dir in task_cgroups(&ids) {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// A loopback registry (anonymous) serving `busybox:latest`, and the runtime it was pushed
/// with (tests block on it again); the set-up every container test starts with.
pub fn serve_busybox() -> (tokio::runtime::Runtime, crate::registry::Registry) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let registry = rt.block_on(crate::registry::Registry::start(None));
    rt.block_on(push_busybox(&registry.addr, &RegistryAuth::Anonymous));
    (rt, registry)
}
