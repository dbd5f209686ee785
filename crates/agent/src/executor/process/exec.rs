//! `docker exec` on the process executor: the command runs as a child of the agent with the
//! task's environment, working directory and user, in the task's cgroups when it has them.
//! That is all the isolation there is, as for the task itself: same filesystem, PIDs and
//! network as the host, except for a task in a network sandbox, whose network and mount
//! namespaces the command joins.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;

use super::handle::TaskHandle;
use super::sandbox::Entry;
use super::{sys, user};
use crate::executor::exec::{self, ExecProcess, ExecSpec};
use crate::executor::{Error, Phase, Result};

/// Starts `spec` beside the running task of `handle`.
pub fn start(handle: &TaskHandle, spec: &ExecSpec) -> Result<ExecProcess> {
    if handle.phase() != Phase::Running || handle.container().pid <= 0 {
        return Err(crate::executor::oci::exec::not_running(&handle.id));
    }
    let (program, args) = spec
        .argv
        .split_first()
        .ok_or_else(|| Error::Invalid("no exec command specified".into()))?;
    let launch = &handle.launch;
    let mut command = tokio::process::Command::new(program);
    command.args(args).env_clear();
    for kv in launch.env.iter().chain(&spec.env) {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        command.env(k, v);
    }
    let cwd = if spec.workdir.is_empty() {
        &launch.dir
    } else {
        &spec.workdir
    };
    command.current_dir(cwd);
    let (uid, gid) = if spec.user.is_empty() {
        (launch.uid, launch.gid)
    } else {
        let u = user::resolve_on_host(&spec.user)?;
        (Some(u.uid), Some(u.gid))
    };
    // A task in a sandbox: the exec joins its network and mount namespaces, and changes its
    // ids after that (see sandbox.rs).
    let pid = handle.container().pid as i32;
    let sandbox = Entry::beside(pid, &launch.sandbox, cwd, uid, gid)
        .map_err(|e| Error::io(format!("opening the namespaces of task {}", handle.id), e))?;
    if sandbox.is_none() {
        if let Some(uid) = uid {
            command.uid(uid);
        }
        if let Some(gid) = gid {
            command.gid(gid);
        }
    }
    let procs = launch
        .cgroups
        .iter()
        .map(|d| CString::new(d.join("cgroup.procs").as_os_str().as_bytes()))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|_| Error::Invalid("a cgroup path holds a NUL byte".into()))?;
    sys::set_pre_exec(command.as_std_mut(), procs, sandbox);
    exec::spawn(command, spec, None)
}
