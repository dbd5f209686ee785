//! Resource limits through cgroups: one child cgroup per task named after it, with the memory,
//! CPU and pids limits written before the task's first instruction runs (the supervisor's
//! pre-exec hook writes the task into each directory's `cgroup.procs`).
//!
//! Two layouts, as dockerd supports both:
//! - cgroup v2 (unified): `<root>/shoal/<task>/` with `memory.max`, `cpu.max`, `pids.max`;
//! - cgroup v1 (one hierarchy per controller, e.g. Debian 11 or a hybrid host):
//!   `<root>/memory/shoal/<task>/memory.limit_in_bytes`,
//!   `<root>/cpu/shoal/<task>/cpu.cfs_{period,quota}_us`, `<root>/pids/shoal/<task>/pids.max`.
//!
//! Limits are best effort: on a host with neither writable layout (e.g. an unprivileged
//! agent) tasks run unlimited and we say so once in the log, as the brief for the embedded
//! executor asks; the Docker executor is the choice where limits must hold.

use std::path::{Path, PathBuf};

use types::Limits;

/// Period of CPU quotas, microseconds (the kernel's default).
const CPU_PERIOD_US: i64 = 100_000;

/// How often, and how far apart, removing a busy cgroup is retried (5 s in all).
const REMOVE_ATTEMPTS: u32 = 250;
const REMOVE_RETRY: std::time::Duration = std::time::Duration::from_millis(20);

/// The directory under each hierarchy that holds the task cgroups.
const PARENT: &str = "shoal";

/// A controller whose limits we set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Controller {
    /// `memory`.
    Memory,
    /// `cpu` (CFS quota).
    Cpu,
    /// `pids`.
    Pids,
}

impl Controller {
    const ALL: [Controller; 3] = [Controller::Memory, Controller::Cpu, Controller::Pids];

    /// Name in `cgroup.subtree_control` and of the v1 mount directory.
    fn name(self) -> &'static str {
        match self {
            Controller::Memory => "memory",
            Controller::Cpu => "cpu",
            Controller::Pids => "pids",
        }
    }

    /// A file the root of this controller's v1 hierarchy has, proving it is that controller.
    fn v1_marker(self) -> &'static str {
        match self {
            Controller::Memory => "memory.limit_in_bytes",
            Controller::Cpu => "cpu.cfs_quota_us",
            // The root pids cgroup has no pids.* files; the mount's name is what we go by.
            Controller::Pids => "tasks",
        }
    }
}

/// The cgroup hierarchies we create task cgroups in.
#[derive(Debug, Clone)]
pub enum Cgroups {
    /// Unified hierarchy: every limit in the task's one directory under `parent`.
    V2 {
        /// `<root>/shoal`.
        parent: PathBuf,
    },
    /// Per-controller hierarchies: the task gets a directory under each parent.
    V1 {
        /// `<root>/<controller>/shoal` for each controller that is mounted and writable.
        parents: Vec<(Controller, PathBuf)>,
    },
}

impl Cgroups {
    /// Uses the cgroup2 hierarchy mounted at `root` or, failing that, the v1 hierarchies
    /// mounted under it, if we can write to them. Returns `None` (and logs why) otherwise.
    pub fn detect(root: &Path) -> Option<Cgroups> {
        if root.join("cgroup.controllers").is_file() {
            return Self::detect_v2(root);
        }
        let mut parents = Vec::new();
        for c in Controller::ALL {
            let mount = root.join(c.name());
            if !mount.join(c.v1_marker()).is_file() {
                continue;
            }
            let parent = mount.join(PARENT);
            match std::fs::create_dir_all(&parent) {
                Ok(()) => parents.push((c, parent)),
                Err(e) => {
                    tracing::info!(controller = c.name(), error = %e, "cgroup v1 hierarchy not writable")
                }
            }
        }
        if parents.is_empty() {
            tracing::info!(root = %root.display(), "no writable cgroup hierarchy: task resource limits are not enforced");
            return None;
        }
        Some(Cgroups::V1 { parents })
    }

    fn detect_v2(root: &Path) -> Option<Cgroups> {
        let parent = root.join(PARENT);
        if let Err(e) = std::fs::create_dir_all(&parent) {
            tracing::info!(error = %e, "cgroup v2 not writable: task resource limits are not enforced");
            return None;
        }
        // Enabling controllers for children can fail (e.g. processes in the root of a cgroup
        // namespace); limits whose files then do not exist are skipped per task.
        for dir in [root, parent.as_path()] {
            for c in Controller::ALL {
                let _ = std::fs::write(dir.join("cgroup.subtree_control"), format!("+{}", c.name()));
            }
        }
        Some(Cgroups::V2 { parent })
    }

    /// Creates the task's cgroup(s) with its limits; returns the directories the task joins.
    pub fn create(&self, task_id: &str, limits: &Limits) -> std::io::Result<Vec<PathBuf>> {
        let dirs: Vec<(PathBuf, Vec<(&'static str, String)>)> = match self {
            Cgroups::V2 { parent } => vec![(parent.join(task_id), limit_files_v2(limits))],
            Cgroups::V1 { parents } => parents
                .iter()
                .map(|(c, parent)| (parent.join(task_id), limit_files_v1(*c, limits)))
                .collect(),
        };
        let mut created = Vec::new();
        for (dir, files) in dirs {
            if let Err(e) = std::fs::create_dir_all(&dir) {
                for dir in &created {
                    let _ = std::fs::remove_dir(dir);
                }
                return Err(e);
            }
            for (file, value) in files {
                if let Err(e) = std::fs::write(dir.join(file), &value) {
                    tracing::warn!(task = task_id, file, error = %e, "cgroup limit not applied");
                }
            }
            created.push(dir);
        }
        Ok(created)
    }

    /// Kills every process in the task's cgroups: `cgroup.kill` where the kernel has it
    /// (v2, ≥ 5.14), else SIGKILL to each process `cgroup.procs` lists.
    pub fn kill(dirs: &[PathBuf]) {
        for dir in dirs {
            if std::fs::write(dir.join("cgroup.kill"), "1").is_ok() {
                continue;
            }
            let Ok(procs) = std::fs::read_to_string(dir.join("cgroup.procs")) else {
                continue;
            };
            for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                let _ = super::sys::kill_process(pid, libc::SIGKILL);
            }
        }
    }

    /// Removes the task's cgroups. A cgroup with processes left in it (children of the task
    /// still dying from the supervisor's SIGKILL, or a task the OOM killer is tearing down)
    /// cannot be removed yet: those are killed and the removal retried for a while, since
    /// the kernel offers no notice when a v1 cgroup empties.
    pub async fn remove(dirs: &[PathBuf]) {
        let mut busy = dirs.to_vec();
        for attempt in 0..=REMOVE_ATTEMPTS {
            busy.retain(|dir| match std::fs::remove_dir(dir) {
                Ok(()) => false,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) && attempt < REMOVE_ATTEMPTS => true,
                Err(e) => {
                    tracing::warn!(cgroup = %dir.display(), error = %e, "removing task cgroup failed");
                    false
                }
            });
            if busy.is_empty() {
                return;
            }
            Self::kill(&busy);
            tokio::time::sleep(REMOVE_RETRY).await;
        }
    }
}

/// CFS quota for `nano_cpus` per [`CPU_PERIOD_US`], at least 1 ms (the kernel's minimum).
fn cpu_quota(nano_cpus: i64) -> i64 {
    (nano_cpus.saturating_mul(CPU_PERIOD_US) / 1_000_000_000).max(1000)
}

/// The v2 control files and values for `limits` (only the limits that are set).
fn limit_files_v2(limits: &Limits) -> Vec<(&'static str, String)> {
    let mut files = Vec::new();
    if limits.memory_bytes > 0 {
        files.push(("memory.max", limits.memory_bytes.to_string()));
    }
    if limits.nano_cpus > 0 {
        files.push((
            "cpu.max",
            format!("{} {CPU_PERIOD_US}", cpu_quota(limits.nano_cpus)),
        ));
    }
    if limits.pids > 0 {
        files.push(("pids.max", limits.pids.to_string()));
    }
    files
}

/// The v1 control files of controller `c` for `limits` (only the limits that are set).
fn limit_files_v1(c: Controller, limits: &Limits) -> Vec<(&'static str, String)> {
    match c {
        Controller::Memory if limits.memory_bytes > 0 => {
            vec![("memory.limit_in_bytes", limits.memory_bytes.to_string())]
        }
        // The period first: the quota is checked against it.
        Controller::Cpu if limits.nano_cpus > 0 => vec![
            ("cpu.cfs_period_us", CPU_PERIOD_US.to_string()),
            ("cpu.cfs_quota_us", cpu_quota(limits.nano_cpus).to_string()),
        ],
        Controller::Pids if limits.pids > 0 => vec![("pids.max", limits.pids.to_string())],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        nano_cpus: 1_500_000_000,
        memory_bytes: 64 << 20,
        pids: 10,
    };

    #[test]
    fn writes_v2_limits_into_a_task_cgroup() {
        let root = tempfile::tempdir().unwrap();
        assert!(Cgroups::detect(root.path()).is_none(), "not a cgroup root");
        std::fs::write(root.path().join("cgroup.controllers"), "cpu memory pids").unwrap();
        let cgroups = Cgroups::detect(root.path()).unwrap();
        let dirs = cgroups.create("t1", &LIMITS).unwrap();
        assert_eq!(dirs, vec![root.path().join("shoal/t1")]);
        let read = |f: &str| std::fs::read_to_string(dirs[0].join(f)).unwrap();
        assert_eq!(read("memory.max"), "67108864");
        assert_eq!(read("cpu.max"), "150000 100000");
        assert_eq!(read("pids.max"), "10");
        assert!(limit_files_v2(&Limits::default()).is_empty());
    }

    #[test]
    fn writes_v1_limits_into_each_controller_hierarchy() {
        let root = tempfile::tempdir().unwrap();
        // Memory and CPU mounted, pids not.
        for (dir, marker) in [("memory", "memory.limit_in_bytes"), ("cpu", "cpu.cfs_quota_us")] {
            std::fs::create_dir(root.path().join(dir)).unwrap();
            std::fs::write(root.path().join(dir).join(marker), "").unwrap();
        }
        let cgroups = Cgroups::detect(root.path()).unwrap();
        let dirs = cgroups.create("t1", &LIMITS).unwrap();
        assert_eq!(
            dirs,
            vec![
                root.path().join("memory/shoal/t1"),
                root.path().join("cpu/shoal/t1")
            ]
        );
        let read = |d: usize, f: &str| std::fs::read_to_string(dirs[d].join(f)).unwrap();
        assert_eq!(read(0, "memory.limit_in_bytes"), "67108864");
        assert_eq!(read(1, "cpu.cfs_period_us"), "100000");
        assert_eq!(read(1, "cpu.cfs_quota_us"), "150000");
        for c in Controller::ALL {
            assert!(limit_files_v1(c, &Limits::default()).is_empty());
        }
    }
}
