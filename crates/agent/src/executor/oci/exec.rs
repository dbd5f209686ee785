//! `docker exec` into an oci container, from the agent's side: the task's launch spec gives
//! the container's env, user and working directory, its supervisor's pid file the
//! container's init; `shoal exec-shim` ([`super::enter`]) does the entering.

use std::path::{Path, PathBuf};

use super::enter::{ENTRY_VAR, Entry};
use crate::executor::exec::{self, ExecProcess, ExecSpec};
use crate::executor::process::handle::TaskHandle;
use crate::executor::process::{ShimCommand, sys as process_sys};
use crate::executor::{Error, Result};

/// Where the cgroup hierarchies are mounted.
const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// The exec helper of a container's health checks, kept in its launch spec: checks run as
/// `docker exec`s do, in the container's cgroups, namespaces, capabilities, limits and
/// seccomp filter (dockerd's health checks are execs too).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ExecShim {
    /// The executable (the `shoal` binary).
    pub program: PathBuf,
    /// The arguments that make it the helper (`exec-shim`).
    pub args: Vec<String>,
    /// The executor's cgroup parent (the container's cgroups are `<parent>/<task id>`).
    pub cgroup_parent: String,
}

/// A health check's command: `argv` run by the exec helper in the container whose init is
/// `pid`, with the container's env, user and working directory; output discarded.
pub fn health_check(
    launch: &crate::executor::process::launch::LaunchSpec,
    pid: i32,
    argv: &[String],
) -> Result<Option<tokio::process::Command>> {
    let Some(oci) = launch.oci.as_ref() else {
        return Ok(None);
    };
    let Some(shim) = oci.exec_shim.as_ref() else {
        return Ok(None);
    };
    let entry = Entry {
        pid,
        start_time: process_sys::start_time(pid),
        cgroup_procs: cgroup_procs(Path::new(CGROUP_ROOT), &shim.cgroup_parent, &launch.task_id),
        argv: argv.to_vec(),
        env: launch.env.clone(),
        user: String::new(),
        uid: oci.uid,
        gid: oci.gid,
        cwd: oci.cwd.clone(),
        seccomp: seccomp_of(&oci.bundle)?,
    };
    let json = serde_json::to_string(&entry).map_err(|e| Error::Shim(format!("encoding the check: {e}")))?;
    let mut command = tokio::process::Command::new(&shim.program);
    command
        .args(&shim.args)
        .env_clear()
        .env(ENTRY_VAR, json)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    Ok(Some(command))
}

/// Starts `spec` in the running container of `handle`.
pub fn start(
    handle: &TaskHandle,
    shim: &ShimCommand,
    cgroup_parent: &str,
    spec: &ExecSpec,
) -> Result<ExecProcess> {
    let oci = handle
        .launch
        .oci
        .as_ref()
        .ok_or_else(|| Error::Shim(format!("task {} is not a container", handle.id)))?;
    let pid = i32::try_from(handle.container().pid).unwrap_or(0);
    if pid <= 0 || handle.phase() != crate::executor::Phase::Running {
        return Err(not_running(&handle.id));
    }
    if spec.argv.is_empty() {
        return Err(Error::Invalid("no exec command specified".into()));
    }
    let mut env = handle.launch.env.clone();
    // Another user gets their own home (the helper reads it from the container's passwd),
    // unless the exec names one.
    if !spec.user.is_empty() {
        env.retain(|kv| !kv.starts_with("HOME="));
    }
    env.extend(spec.env.iter().cloned());
    let entry = Entry {
        pid,
        start_time: process_sys::start_time(pid),
        cgroup_procs: cgroup_procs(Path::new(CGROUP_ROOT), cgroup_parent, &handle.id),
        argv: spec.argv.clone(),
        env: super::spec::dedup_env(env),
        user: spec.user.clone(),
        uid: oci.uid,
        gid: oci.gid,
        cwd: if spec.workdir.is_empty() {
            oci.cwd.clone()
        } else {
            spec.workdir.clone()
        },
        seccomp: seccomp_of(&oci.bundle)?,
    };
    let json =
        serde_json::to_string(&entry).map_err(|e| Error::Shim(format!("encoding the exec request: {e}")))?;
    let mut command = tokio::process::Command::new(&shim.program);
    command.arg("exec-shim").env_clear().env(ENTRY_VAR, json);
    // The container's own devpts (reached through its root), so `tty` inside names the
    // terminal under the container's /dev/pts.
    let ptmx = PathBuf::from(format!("/proc/{pid}/root/dev/pts/ptmx"));
    exec::spawn(command, spec, Some(&ptmx))
}

/// The container's seccomp filter, from its bundle: an exec runs under it as dockerd's do.
fn seccomp_of(bundle: &Path) -> Result<Option<oci_spec::runtime::LinuxSeccomp>> {
    let spec = oci_spec::runtime::Spec::load(bundle.join("config.json"))
        .map_err(|e| Error::Shim(format!("reading the container's runtime spec: {e}")))?;
    Ok(spec.linux().as_ref().and_then(|l| l.seccomp().clone()))
}

/// dockerd's words for an exec into a task that does not run.
pub fn not_running(task_id: &str) -> Error {
    Error::State {
        task: task_id.to_string(),
        message: "container is not running".into(),
    }
}

/// The container's `cgroup.procs` files: `<root>/<parent>/<id>` on cgroup v2, and the same
/// below each controller's hierarchy on v1 (as the runtime creates them).
fn cgroup_procs(root: &Path, parent: &str, task_id: &str) -> Vec<PathBuf> {
    let mut hierarchies = vec![root.to_path_buf()];
    if let Ok(entries) = std::fs::read_dir(root) {
        let mut below: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
        below.sort();
        hierarchies.extend(below);
    }
    hierarchies
        .iter()
        .map(|h| {
            h.join(parent.trim_start_matches('/'))
                .join(task_id)
                .join("cgroup.procs")
        })
        .filter(|p| p.is_file())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_container_cgroup_in_every_hierarchy() {
        let root = tempfile::tempdir().unwrap();
        for dir in ["shoal/t1", "memory/shoal/t1", "cpu/shoal/t2", "pids"] {
            std::fs::create_dir_all(root.path().join(dir)).unwrap();
        }
        for file in [
            "shoal/t1/cgroup.procs",
            "memory/shoal/t1/cgroup.procs",
            "cpu/shoal/t2/cgroup.procs",
        ] {
            std::fs::write(root.path().join(file), "").unwrap();
        }
        let found = cgroup_procs(root.path(), "shoal", "t1");
        assert_eq!(
            found,
            vec![
                root.path().join("shoal/t1/cgroup.procs"),
                root.path().join("memory/shoal/t1/cgroup.procs"),
            ]
        );
    }
}
