//! The task supervisor ("shim"): a tiny process per task that is the task's parent, so the
//! task outlives the agent and its exit status is never lost.
//!
//! ```text
//!  agent ──spawn──► shim (own session) ──spawn──► task (own process group, cgroup)
//!    ▲  stdout: "SHOAL-SHIM started <pid>"  │  stdout/stderr pipes ─► reader threads ─► log files
//!    └──────────────────────────────────────┘  waitpid(task) ─► SIGKILL rest of the group,
//!                                              the cgroup and every descendant (sweep.rs)
//!                                              ─► exit.json (after the last log line) ─► exit
//! ```
//!
//! For the oci executor (`spec.json` has an `oci` part) the task is a container: the shim
//! asks the container runtime to create and start it from the bundle (`oci/runtime.rs`),
//! gets its init's pid and output pipes, and carries on exactly as for a process.
//!
//! It is deliberately synchronous and small (std threads, no runtime): it must keep working
//! with the agent gone. The `shoal` binary runs it as the hidden `shoal task-shim <dir>`
//! subcommand; tests run it from the test binary itself.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use types::Clock;

use super::launch::{
    EXIT, ExitRecord, LaunchSpec, PidFile, SPEC, TASK_PID, read_json, write_atomic, write_json,
};
use super::sweep::{Swept, sweep};
use super::sys::{self, Reaped};
use crate::logs::{LogStream, LogWriter, MAX_LINE};

/// Prefix of the one line the shim writes to its stdout for the agent.
pub const HANDSHAKE: &str = "SHOAL-SHIM";

/// How long to wait for the output pipes to close after the task exited: processes that
/// escaped the group could hold them open forever.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// Runs the supervisor for the task in `dir` and returns the shim's own exit code
/// (0 once the task's exit is recorded, 1 if the task could not be started or recorded).
pub fn run(dir: &Path, clock: Arc<dyn Clock>) -> i32 {
    // Survive the agent's terminal and signals sent to its process group.
    sys::setsid();
    // Inherit the task's orphans, so a daemon that detached still ends with the task.
    if let Err(e) = sys::set_child_subreaper() {
        eprintln!("task-shim: cannot become a subreaper ({e}): detached task processes may outlive it");
    }
    for s in [libc::SIGHUP, libc::SIGINT, libc::SIGPIPE, libc::SIGTERM] {
        sys::ignore_signal(s);
    }
    match supervise(dir, &clock) {
        Ok(()) => 0,
        Err(message) => {
            // Before the handshake this reaches the agent; after it, shim.log (our stderr).
            handshake(&format!("failed {message}"));
            eprintln!("task-shim: {message}");
            1
        }
    }
}

fn handshake(line: &str) {
    let mut out = std::io::stdout().lock();
    // The agent may be gone already; nothing to do about it then.
    let _ = writeln!(out, "{HANDSHAKE} {line}");
    let _ = out.flush();
}

fn supervise(dir: &Path, clock: &Arc<dyn Clock>) -> Result<(), String> {
    let spec: LaunchSpec = read_json(&dir.join(SPEC))
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no {SPEC} in {}", dir.display()))?;
    let writer = LogWriter::open(dir, spec.log_limit).map_err(|e| format!("opening log: {e}"))?;
    let writer = Arc::new(Mutex::new(writer));

    use crate::executor::oci::runtime::{Output, create_and_start};
    let (pid, output) = match &spec.oci {
        Some(oci) => {
            let started = create_and_start(&spec.task_id, oci)?;
            (started.pid, started.output)
        }
        None => {
            let (pid, stdout, stderr) = spawn_process(&spec)?;
            (pid, Output::Pipes { stdout, stderr })
        }
    };
    let (done_tx, done_rx) = mpsc::channel();
    let readers = match output {
        Output::Pipes { stdout, stderr } => {
            for (pipe, stream) in [(stdout, LogStream::Stdout), (stderr, LogStream::Stderr)] {
                spawn_reader(
                    pipe,
                    stream,
                    Arc::clone(&writer),
                    Arc::clone(clock),
                    done_tx.clone(),
                );
            }
            2
        }
        Output::Terminal(master) => {
            crate::executor::oci::console::serve(
                master,
                dir,
                Arc::clone(&writer),
                Arc::clone(clock),
                done_tx.clone(),
            )?;
            1
        }
    };
    drop(done_tx);
    if let Some(pidfile) = PidFile::of(pid) {
        let _ = write_atomic(&dir.join(TASK_PID), pidfile.encode().as_bytes());
    }
    handshake(&format!("started {pid}"));

    // The task is waited for among all children: as a subreaper we also inherit its orphans.
    let status = wait_for_task(pid)?;
    // Like a container whose init exits: whatever else the task started goes with it, even
    // processes that left its process group (a daemon that detached).
    let _ = sys::kill_group(pid, libc::SIGKILL);
    if let Swept::Left(pids) = sweep(&spec.cgroups) {
        eprintln!("task-shim: processes {pids:?} of the task survived SIGKILL");
    }
    for _ in 0..readers {
        if done_rx.recv_timeout(DRAIN_TIMEOUT).is_err() {
            break;
        }
    }
    let status = std::process::ExitStatus::from_raw(status);
    let (code, signal) = match (status.code(), status.signal()) {
        (Some(code), _) => (i64::from(code), None),
        (None, Some(sig)) => (128 + i64::from(sig), Some(sig)),
        (None, None) => (-1, None),
    };
    let record = ExitRecord {
        code,
        signal,
        finished_at: clock.now().0,
    };
    write_json(&dir.join(EXIT), &record).map_err(|e| e.to_string())
}

/// Starts the task as a plain process in its own group and cgroups; returns its pid and
/// output pipes.
type Spawned = (i32, std::io::PipeReader, std::io::PipeReader);
fn spawn_process(spec: &LaunchSpec) -> Result<Spawned, String> {
    let mut command = Command::new(&spec.argv[0]);
    command
        .args(&spec.argv[1..])
        .env_clear()
        .envs(spec.env.iter().filter_map(|kv| kv.split_once('=')))
        .current_dir(&spec.dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own group, so the whole task can be killed at once.
        .process_group(0);
    // In a sandbox the ids change after entering it (see sandbox.rs); elsewhere std does it.
    let sandbox = super::sandbox::Entry::for_task(&spec.sandbox, spec.uid, spec.gid)?;
    if sandbox.is_none() {
        if let Some(uid) = spec.uid {
            command.uid(uid);
        }
        if let Some(gid) = spec.gid {
            command.gid(gid);
        }
    }
    let procs = spec
        .cgroups
        .iter()
        .filter_map(|c| {
            std::ffi::CString::new(c.join("cgroup.procs").into_os_string().into_encoded_bytes()).ok()
        })
        .collect();
    sys::set_pre_exec(&mut command, procs, sandbox);
    let mut child = command
        .spawn()
        .map_err(|e| format!("starting {:?}: {e}", spec.argv[0]))?;
    let pid = child.id() as i32;
    let (Some(out), Some(err)) = (child.stdout.take(), child.stderr.take()) else {
        return Err("no output pipes to the task".into());
    };
    let pipe = |fd: std::os::fd::OwnedFd| std::io::PipeReader::from(fd);
    Ok((pid, pipe(out.into()), pipe(err.into())))
}

/// Reaps children until the task's own process ends; returns its raw wait status. Orphans
/// that end meanwhile (reparented to us) are reaped and forgotten.
fn wait_for_task(pid: i32) -> Result<i32, String> {
    loop {
        match sys::reap_any(true) {
            Ok(Reaped::Child { pid: p, status }) if p == pid => return Ok(status),
            Ok(Reaped::Child { .. } | Reaped::Running) => continue,
            Ok(Reaped::NoChildren) => return Err(format!("task process {pid} vanished")),
            Err(e) => return Err(format!("waiting for task: {e}")),
        }
    }
}

fn spawn_reader(
    pipe: impl Read + Send + 'static,
    stream: LogStream,
    writer: Arc<Mutex<LogWriter>>,
    clock: Arc<dyn Clock>,
    done: mpsc::Sender<()>,
) {
    std::thread::spawn(move || {
        let mut reader = BufReader::with_capacity(MAX_LINE, pipe);
        let mut line = Vec::new();
        loop {
            line.clear();
            // Bounded read: a line with no newline in sight is cut at MAX_LINE.
            match (&mut reader).take(MAX_LINE as u64).read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if line.last() == Some(&b'\n') {
                        line.pop();
                    }
                    let mut w = writer.lock().unwrap_or_else(|p| p.into_inner());
                    if let Err(e) = w.write_line(clock.now(), stream, &line) {
                        eprintln!("task-shim: writing log: {e}");
                    }
                }
            }
        }
        let _ = done.send(());
    });
}
