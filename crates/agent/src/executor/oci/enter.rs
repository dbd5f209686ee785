//! `shoal exec-shim`: the helper process a `docker exec` into an oci container runs as. The
//! agent is multi-threaded and must stay in its own namespaces, so a fresh single-threaded
//! process does the entering:
//!
//! ```text
//!  agent ─► exec-shim (stdio: the exec's pipes or pty; Entry in SHOAL_EXEC)
//!             join the container's cgroups ─► open its namespaces ─► read its privileges
//!             and take its resource limits
//!             ─► setns ipc, uts, net, pid, cgroup, mnt ─► its seccomp filter
//!             ─► resolve the user in its /etc/passwd ─► narrow capabilities to the container's ─► fork+exec the command (the child
//!                is in the container's pid namespace) ─► wait ─► exit with its status
//! ```
//!
//! Why not libcontainer's tenant builder: it hands a TTY over through a console socket and
//! sets up its own session, where the agent already owns the pty and relays it; and it
//! re-reads the bundle, where the agent knows the task's env, user and cwd. The namespace
//! joining is the health checks' (`sys::namespace_fds`, `sys::join_namespaces`).

#![allow(unsafe_code)]

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::sys;
use crate::executor::process::user;

/// The environment variable that carries the [`Entry`] (JSON) to the helper; not an argument,
/// since `/proc/<pid>/cmdline` is readable by every user and the env may hold secrets.
pub const ENTRY_VAR: &str = "SHOAL_EXEC";

/// Exit code when the command cannot be found (as a shell's).
const NOT_FOUND: i32 = 127;
/// Exit code when the command or the container cannot be entered (as runc's).
const CANNOT_RUN: i32 = 126;

/// What the helper needs to run one command in a container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The container's init, in the agent's pid namespace.
    pub pid: i32,
    /// Its start time, so a reused pid is not entered by mistake.
    pub start_time: Option<u64>,
    /// The container's `cgroup.procs` files (one per v1 hierarchy, one on v2).
    pub cgroup_procs: Vec<PathBuf>,
    /// Program and arguments.
    pub argv: Vec<String>,
    /// The whole environment, `K=V`.
    pub env: Vec<String>,
    /// The user to run as (`name`, `uid`, `name:group`, `uid:gid`); empty for `uid`/`gid`.
    pub user: String,
    /// The container's user, when `user` is empty.
    pub uid: u32,
    /// The container's group, when `user` is empty.
    pub gid: u32,
    /// Working directory inside the container.
    pub cwd: String,
    /// The container's seccomp filter, loaded before the capabilities are narrowed (as the
    /// container's own was); none when it runs unconfined.
    #[serde(default)]
    pub seccomp: Option<oci_spec::runtime::LinuxSeccomp>,
}

/// Runs the helper: reads the entry from the environment, runs the command in the container
/// and returns the exit code to exit with. Must run single-threaded (setns of a mount
/// namespace refuses threaded callers).
pub fn run() -> i32 {
    let entry = match std::env::var(ENTRY_VAR)
        .map_err(|e| e.to_string())
        .and_then(|text| serde_json::from_str::<Entry>(&text).map_err(|e| e.to_string()))
    {
        Ok(entry) => entry,
        Err(e) => return fail(CANNOT_RUN, &format!("reading the exec request: {e}")),
    };
    match enter(&entry).and_then(|()| command(&entry)) {
        Ok(mut command) => match command.status() {
            Ok(status) => crate::executor::exec::exit_code(status) as i32,
            Err(e) => {
                let code = match e.kind() {
                    std::io::ErrorKind::NotFound => NOT_FOUND,
                    _ => CANNOT_RUN,
                };
                fail(
                    code,
                    &format!(
                        "exec: {:?}: {}",
                        entry.argv.first().map_or("", |s| s),
                        why_not_run(&e)
                    ),
                )
            }
        },
        Err(message) => fail(CANNOT_RUN, &message),
    }
}

fn why_not_run(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "executable file not found in $PATH".into(),
        _ => e.to_string(),
    }
}

/// Says why on stderr (the user's stream) and returns `code`.
fn fail(code: i32, message: &str) -> i32 {
    let _ = writeln!(std::io::stderr(), "shoal exec failed: {message}");
    code
}

/// Moves this process into the container: cgroups, namespaces, privileges.
fn enter(entry: &Entry) -> Result<(), String> {
    for procs in &entry.cgroup_procs {
        std::fs::write(procs, b"0").map_err(|e| format!("joining cgroup {}: {e}", procs.display()))?;
    }
    let fds =
        sys::namespace_fds(entry.pid).map_err(|e| format!("opening the container's namespaces: {e}"))?;
    let status = std::fs::read_to_string(format!("/proc/{}/status", entry.pid))
        .map_err(|e| format!("reading the container's status: {e}"))?;
    let privileges = sys::Privileges::parse(&status).ok_or("the container's capabilities are unreadable")?;
    sys::copy_rlimits(entry.pid).map_err(|e| format!("taking the container's resource limits: {e}"))?;
    // The namespaces are held open now; had the init exited and its pid been reused before
    // they were opened, the start time would differ.
    if crate::executor::process::sys::start_time(entry.pid) != entry.start_time {
        return Err("the container is not running".into());
    }
    sys::join_namespaces(&fds).map_err(|e| format!("entering the container's namespaces: {e}"))?;
    if let Some(filter) = &entry.seccomp {
        libcontainer::seccomp::initialize_seccomp(filter)
            .map_err(|e| format!("loading the container's seccomp filter: {e}"))?;
    }
    privileges
        .apply()
        .map_err(|e| format!("dropping to the container's capabilities: {e}"))
}

/// The command, once inside: user resolved against the container's files, its environment
/// and working directory, signal dispositions restored.
fn command(entry: &Entry) -> Result<std::process::Command, String> {
    let (program, args) = entry.argv.split_first().ok_or("no command given")?;
    let (uid, gid, home) = if entry.user.is_empty() {
        (entry.uid, entry.gid, None)
    } else {
        // The container's own files: bounded, and refused when not regular files.
        let read = user::read_account_file;
        let u = user::resolve(&entry.user, &read("/etc/passwd")?, &read("/etc/group")?)
            .map_err(|e| e.to_string())?;
        (u.uid, u.gid, Some(u.home))
    };
    if !Path::new(&entry.cwd).is_dir() {
        return Err(format!(
            "working directory {:?} does not exist in the container",
            entry.cwd
        ));
    }
    let mut command = std::process::Command::new(program);
    command
        .args(args)
        .env_clear()
        .current_dir(&entry.cwd)
        .uid(uid)
        .gid(gid);
    for kv in &entry.env {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        command.env(k, v);
    }
    if let Some(home) = home.filter(|_| !entry.env.iter().any(|kv| kv.starts_with("HOME="))) {
        command.env("HOME", home);
    }
    // This helper ignores the terminal's job-control signals (it only waits); the command
    // must not inherit that.
    for s in TERMINAL_SIGNALS {
        crate::executor::process::sys::ignore_signal(s);
    }
    // SAFETY: the hook only restores signal dispositions and the umask, async-signal-safe calls.
    unsafe {
        command.pre_exec(|| {
            for s in TERMINAL_SIGNALS {
                sys::default_signal(s);
            }
            // The shoal binary starts with umask 0077 for its own files; a command gets the
            // usual one, as the task did.
            libc::umask(crate::executor::process::sys::TASK_UMASK);
            Ok(())
        });
    }
    Ok(command)
}

/// Signals a terminal sends its foreground group, which the waiting helper is part of.
const TERMINAL_SIGNALS: [i32; 6] = [
    libc::SIGINT,
    libc::SIGQUIT,
    libc::SIGHUP,
    libc::SIGTSTP,
    libc::SIGTTIN,
    libc::SIGTTOU,
];
