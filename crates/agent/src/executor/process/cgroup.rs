//! Resource limits through cgroup v2: one child cgroup per task under `<root>/shoal/`, with
//! `memory.max`, `cpu.max` and `pids.max` written before the task's first instruction runs
//! (the supervisor's pre-exec hook writes `cgroup.procs`).
//!
//! Limits are best effort: on a host without a writable cgroup2 hierarchy at the root (e.g.
//! a cgroup v1 or hybrid host, or an unprivileged agent) tasks run unlimited and we say so
//! once in the log, as the brief for the embedded executor asks; the Docker executor is the
//! choice where limits must hold.

use std::path::{Path, PathBuf};

use types::Limits;

/// Period of `cpu.max`, microseconds (the kernel's default).
const CPU_PERIOD_US: i64 = 100_000;

/// Controllers a task's cgroup needs enabled by its parents.
const CONTROLLERS: [&str; 3] = ["cpu", "memory", "pids"];

/// A cgroup v2 hierarchy we may create task cgroups in.
#[derive(Debug, Clone)]
pub struct Cgroups {
    parent: PathBuf,
}

impl Cgroups {
    /// Uses the cgroup2 hierarchy mounted at `root`, if it is one and we can write to it.
    /// Returns `None` (and logs why) otherwise.
    pub fn detect(root: &Path) -> Option<Cgroups> {
        if !root.join("cgroup.controllers").is_file() {
            tracing::info!(root = %root.display(), "no cgroup v2 hierarchy: task resource limits are not enforced");
            return None;
        }
        let parent = root.join("shoal");
        if let Err(e) = std::fs::create_dir_all(&parent) {
            tracing::info!(error = %e, "cgroup v2 not writable: task resource limits are not enforced");
            return None;
        }
        // Enabling controllers for children can fail (e.g. processes in the root of a cgroup
        // namespace); limits whose files then do not exist are skipped per task.
        for dir in [root, parent.as_path()] {
            for c in CONTROLLERS {
                let _ = std::fs::write(dir.join("cgroup.subtree_control"), format!("+{c}"));
            }
        }
        Some(Cgroups { parent })
    }

    /// Creates the task's cgroup with its limits; returns its directory.
    pub fn create(&self, task_id: &str, limits: &Limits) -> std::io::Result<PathBuf> {
        let dir = self.parent.join(task_id);
        std::fs::create_dir_all(&dir)?;
        for (file, value) in limit_files(limits) {
            if let Err(e) = std::fs::write(dir.join(file), &value) {
                tracing::warn!(task = task_id, file, error = %e, "cgroup limit not applied");
            }
        }
        Ok(dir)
    }

    /// Kills every process in the task's cgroup (kernels ≥ 5.14 have `cgroup.kill`).
    pub fn kill(dir: &Path) {
        let _ = std::fs::write(dir.join("cgroup.kill"), "1");
    }

    /// Removes the task's cgroup (it must be empty).
    pub fn remove(dir: &Path) {
        if let Err(e) = std::fs::remove_dir(dir)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(cgroup = %dir.display(), error = %e, "removing task cgroup failed");
        }
    }
}

/// The control files and values for `limits` (only the limits that are set).
pub fn limit_files(limits: &Limits) -> Vec<(&'static str, String)> {
    let mut files = Vec::new();
    if limits.memory_bytes > 0 {
        files.push(("memory.max", limits.memory_bytes.to_string()));
    }
    if limits.nano_cpus > 0 {
        let quota = (limits.nano_cpus.saturating_mul(CPU_PERIOD_US) / 1_000_000_000).max(1000);
        files.push(("cpu.max", format!("{quota} {CPU_PERIOD_US}")));
    }
    if limits.pids > 0 {
        files.push(("pids.max", limits.pids.to_string()));
    }
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_limits_into_a_task_cgroup() {
        let root = tempfile::tempdir().unwrap();
        assert!(Cgroups::detect(root.path()).is_none(), "not a cgroup2 root");
        std::fs::write(root.path().join("cgroup.controllers"), "cpu memory pids").unwrap();
        let cgroups = Cgroups::detect(root.path()).unwrap();
        let limits = Limits {
            nano_cpus: 1_500_000_000,
            memory_bytes: 64 << 20,
            pids: 10,
        };
        let dir = cgroups.create("t1", &limits).unwrap();
        let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();
        assert_eq!(read("memory.max"), "67108864");
        assert_eq!(read("cpu.max"), "150000 100000");
        assert_eq!(read("pids.max"), "10");
        assert!(limit_files(&Limits::default()).is_empty());
    }
}
