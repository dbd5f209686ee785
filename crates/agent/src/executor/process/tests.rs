//! The process executor under the conformance suite, plus its own tests.
//!
//! Supervisors are this very test binary re-run with a filter that selects [`shim_entry`]
//! and the task directory in [`SHIM_DIR_ENV`]: the agent crate has no binary of its own, and
//! this keeps the tests independent of the `shoal` binary being built.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tempfile::TempDir;
use types::{TaskSpec, Timestamp};

use super::*;
use crate::executor::conformance::{Harness, Scenario, health, run_task_spec, shell, within};

/// The wall clock, for supervisors run by tests (the real binary passes its own).
struct TestClock;

impl types::Clock for TestClock {
    #[allow(clippy::disallowed_methods)] // the supervisor's clock is the system's
    fn now(&self) -> Timestamp {
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp(since.as_nanos() as i64)
    }
}

/// Not a test: the supervisor's entry point when this binary is run as one.
#[test]
fn shim_entry() {
    let Some(dir) = std::env::var_os(SHIM_DIR_ENV) else {
        return;
    };
    let code = shim::run(Path::new(&dir), Arc::new(TestClock));
    std::process::exit(code);
}

fn test_shim() -> ShimCommand {
    ShimCommand {
        program: std::env::current_exe().unwrap(),
        args: [
            "executor::process::tests::shim_entry",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ]
        .map(String::from)
        .to_vec(),
    }
}

pub(super) struct ProcessHarness {
    state: TempDir,
    work: TempDir,
}

pub(super) fn harness() -> ProcessHarness {
    ProcessHarness {
        state: tempfile::tempdir().unwrap(),
        work: tempfile::tempdir().unwrap(),
    }
}

impl ProcessHarness {
    fn config(&self) -> ProcessConfig {
        ProcessConfig {
            state_dir: self.state.path().join("tasks"),
            shim: test_shim(),
            cgroup_root: None,
            log_limit: 1 << 20,
            labels: Default::default(),
        }
    }

    pub(super) fn work(&self, name: &str) -> PathBuf {
        self.work.path().join(name)
    }
}

impl Drop for ProcessHarness {
    /// Kills tasks a failed test left running, so they do not outlive the test run.
    fn drop(&mut self) {
        let Ok(entries) = std::fs::read_dir(self.config().state_dir) else {
            return;
        };
        for entry in entries.flatten() {
            if let Some(task) = launch::read_pid(&entry.path().join(launch::TASK_PID)).filter(|p| p.alive()) {
                let _ = sys::kill_group(task.pid, libc::SIGKILL);
            }
        }
    }
}

/// A script that runs until SIGUSR1, then says bye and exits 0.
const UNTIL_USR1: &str = "trap 'echo bye; exit 0' USR1; echo ready; sleep 1000 & wait $!";

impl Harness for ProcessHarness {
    type E = ProcessExecutor;

    fn executor(&self) -> Arc<ProcessExecutor> {
        Arc::new(ProcessExecutor::new(self.config()).unwrap())
    }

    fn spec(&self, scenario: Scenario) -> Option<TaskSpec> {
        let work = self.work.path().display().to_string();
        let with_check = |mut spec: TaskSpec, check: &str, retries| {
            spec.container.healthcheck = Some(health(check, retries));
            spec.container.dir = work.clone();
            spec
        };
        Some(match scenario {
            Scenario::Exit(code) => shell(&format!("exit {code}")),
            Scenario::RunUntilStopped => {
                let mut spec = shell(UNTIL_USR1);
                spec.container.stop_signal = "SIGUSR1".into();
                spec
            }
            Scenario::IgnoresStop => shell("trap '' TERM; echo ready; sleep 1000"),
            Scenario::EnvAndDir => shell("echo \"$SHOAL_GREETING\"; pwd"),
            Scenario::NoCommand => TaskSpec::default(),
            Scenario::Logs => {
                let script =
                    "trap 'echo bye; exit 0' USR1; echo out1; echo err1 >&2; echo out2; sleep 1000 & wait $!";
                let mut spec = shell(script);
                spec.container.stop_signal = "USR1".into();
                spec
            }
            Scenario::ExitWhenReleased(code) => shell(&format!(
                "while [ ! -e {work}/go ]; do sleep 0.05; done; exit {code}"
            )),
            // Failing checks inside the start period do not count; it passes after 0.3 s.
            Scenario::Healthy => {
                let mut spec = with_check(
                    shell("sleep 0.3; touch ready; sleep 1000 & wait $!"),
                    "test -e ready",
                    1,
                );
                if let Some(check) = spec.container.healthcheck.as_mut() {
                    check.start_period = 30_000_000_000;
                    check.start_interval = 50_000_000;
                }
                spec
            }
            // The first check removes the marker and passes; later ones fail.
            Scenario::TurnsUnhealthy => with_check(shell("touch ok; sleep 1000 & wait $!"), "rm ok", 2),
            Scenario::NeverHealthy => with_check(shell("sleep 1000 & wait $!"), "exit 1", 2),
        })
    }

    fn release(&self, _task_id: &str) {
        std::fs::write(self.work("go"), b"").unwrap();
    }

    fn work_dir(&self) -> String {
        // Canonical, as `pwd` prints it.
        std::fs::canonicalize(self.work.path())
            .unwrap()
            .display()
            .to_string()
    }
}

crate::executor_conformance_tests!(harness());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_returns_only_once_healthy() {
    let h = harness();
    let ex = h.executor();
    run_task_spec(&*ex, "gated", h.spec(Scenario::Healthy).unwrap()).await;
    assert!(
        h.work("ready").exists(),
        "start returned before the check could pass"
    );
    assert_eq!(
        std::fs::read_to_string(h.config().state_dir.join("gated").join(launch::HEALTH)).unwrap(),
        "healthy"
    );
    within("shutdown", ex.shutdown("gated")).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_by_signal_reports_128_plus_signal() {
    let h = harness();
    let ex = h.executor();
    run_task_spec(&*ex, "selfkill", shell("kill -9 $$")).await;
    let exit = within("exit", ex.wait("selfkill")).await.unwrap();
    assert_eq!((exit.code, exit.signal), (137, Some(9)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_program_fails_start_and_leftover_children_are_killed() {
    let h = harness();
    let ex = h.executor();
    ex.prepare(&crate::executor::conformance::task(
        "nope",
        shell("x").tap_program("/no/such/program"),
    ))
    .await
    .unwrap();
    let err = within("start", ex.start("nope")).await.unwrap_err();
    assert!(err.to_string().contains("/no/such/program"), "{err}");

    // The task exits at once, leaving a background child that holds the output open: the
    // supervisor kills the group, so the exit is still reported.
    run_task_spec(&*ex, "bg", shell("sleep 1000 & echo started")).await;
    assert_eq!(within("exit", ex.wait("bg")).await.unwrap(), Exit::code(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_rotate_at_the_limit() {
    let h = harness();
    let mut config = h.config();
    config.log_limit = 64 * 1024;
    let ex = ProcessExecutor::new(config).unwrap();
    run_task_spec(
        &ex,
        "chatty",
        shell("i=0; while [ $i -lt 5000 ]; do echo line-$i; i=$((i+1)); done"),
    )
    .await;
    within("exit", ex.wait("chatty")).await.unwrap();
    let dir = h.config().state_dir.join("chatty");
    let size = |f: &str| std::fs::metadata(dir.join(f)).map(|m| m.len()).unwrap_or(0);
    assert!(size("log") <= 64 * 1024 && size("log.1") <= 64 * 1024 && size("log.1") > 0);
    use futures::StreamExt;
    let last: Vec<String> = ex
        .logs(
            "chatty",
            crate::logs::LogOptions {
                tail: Some(1),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .map(|m| m.unwrap().text())
        .collect()
        .await;
    assert_eq!(last, ["line-4999"]);
}

#[tokio::test]
async fn describes_the_engine_and_refuses_odd_task_ids() {
    let h = harness();
    let ex = h.executor();
    let info = ex.describe().await.unwrap();
    assert!(info.engine_version.starts_with("shoal-process"));
    assert!(info.resources.nano_cpus > 0);
    let bad = crate::executor::conformance::task("../escape", shell("true"));
    assert!(matches!(ex.prepare(&bad).await, Err(Error::Invalid(_))));
}

/// Replaces the program of a shell spec (for a command that cannot start).
trait TapProgram {
    fn tap_program(self, program: &str) -> TaskSpec;
}

impl TapProgram for TaskSpec {
    fn tap_program(mut self, program: &str) -> TaskSpec {
        self.container.command = vec![program.to_string()];
        self.container.args.clear();
        self
    }
}

/// Environment of [`agent_entry`]: the state directory, and the work directory of the task.
const AGENT_STATE_ENV: &str = "SHOAL_TEST_AGENT_STATE";
const AGENT_WORK_ENV: &str = "SHOAL_TEST_AGENT_WORK";

/// Not a test: an "agent" process for [`tasks_survive_an_agent_killed_with_sigkill`]. It
/// starts one task, says so, and waits to be killed.
#[test]
fn agent_entry() {
    let (Some(state), Some(work)) = (
        std::env::var_os(AGENT_STATE_ENV),
        std::env::var_os(AGENT_WORK_ENV),
    ) else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async move {
        let config = ProcessConfig {
            state_dir: PathBuf::from(state),
            shim: test_shim(),
            cgroup_root: None,
            log_limit: 1 << 20,
            labels: Default::default(),
        };
        let ex = ProcessExecutor::new(config).unwrap();
        let work = PathBuf::from(work).display().to_string();
        let script =
            format!("echo before; while [ ! -e {work}/go ]; do sleep 0.05; done; echo after; exit 7");
        run_task_spec(&ex, "survivor", shell(&script)).await;
        println!("AGENT-READY");
        std::future::pending::<()>().await;
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_survive_an_agent_killed_with_sigkill() {
    use std::io::BufRead;
    let h = harness();
    let mut agent = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "executor::process::tests::agent_entry",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(AGENT_STATE_ENV, h.config().state_dir)
        .env(AGENT_WORK_ENV, h.work.path())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = agent.stdout.take().unwrap();
    let ready = tokio::task::spawn_blocking(move || {
        std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .any(|l| l.contains("AGENT-READY"))
    });
    assert!(
        within("agent ready", ready).await.unwrap(),
        "the agent process did not start its task"
    );
    agent.kill().unwrap(); // SIGKILL
    agent.wait().unwrap();

    let ex = h.executor();
    let attached = ex.reattach().await.unwrap();
    assert_eq!(attached.len(), 1);
    assert_eq!(
        attached[0].phase,
        crate::executor::Phase::Running,
        "the task outlived its agent"
    );
    h.release("survivor");
    assert_eq!(within("exit", ex.wait("survivor")).await.unwrap(), Exit::code(7));
    use futures::StreamExt;
    let lines: Vec<String> = ex
        .logs("survivor", crate::logs::LogOptions::default())
        .await
        .unwrap()
        .map(|m| m.unwrap().text())
        .collect()
        .await;
    assert_eq!(lines, ["before", "after"], "output kept across the restart");
}

/// The `shoal` binary next to this test binary, when the workspace build made it.
fn shoal_binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let candidate = exe.parent()?.parent()?.join("shoal");
    candidate.is_file().then_some(candidate)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shoal_binary_supervises_tasks() {
    let Some(program) = shoal_binary() else {
        eprintln!("skipped: build the shoal binary (cargo build -p shoal) to run this test");
        return;
    };
    let h = harness();
    let mut config = h.config();
    config.shim = ShimCommand {
        program,
        args: vec!["task-shim".into()],
    };
    let ex = ProcessExecutor::new(config).unwrap();
    run_task_spec(&ex, "real", shell("echo via shoal; exit 4")).await;
    assert_eq!(within("exit", ex.wait("real")).await.unwrap(), Exit::code(4));
    use futures::StreamExt;
    let first = ex
        .logs("real", Default::default())
        .await
        .unwrap()
        .next()
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.text(), "via shoal");
    assert!(
        first.timestamp.0 > 1_600_000_000_000_000_000,
        "wall-clock timestamps from the shim"
    );
}

/// Where the host's cgroup hierarchies are mounted.
const HOST_CGROUPS: &str = "/sys/fs/cgroup";

/// A harness and an executor whose tasks get the host's real cgroups (v2 or v1); `None`,
/// after saying why, where the host has no writable hierarchy.
fn with_host_cgroups() -> Option<(ProcessHarness, ProcessExecutor)> {
    let root = Path::new(HOST_CGROUPS);
    if cgroup::Cgroups::detect(root).is_none() {
        eprintln!("skipped: no writable cgroup hierarchy under {}", root.display());
        return None;
    }
    let h = harness();
    let mut config = h.config();
    config.cgroup_root = Some(root.to_path_buf());
    let ex = ProcessExecutor::new(config).unwrap();
    Some((h, ex))
}

/// Real cgroups (v2 or v1, whichever the host has): the task runs inside its own cgroups with
/// the limits written, the memory limit holds (a task that grows past it is killed), and
/// removing the task removes its cgroups.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_hold_through_the_hosts_cgroups() {
    let Some((h, ex)) = with_host_cgroups() else {
        return;
    };
    // Unique per run, so that two test runs on one host do not share cgroups.
    let id = format!("cgroup-test-{}", std::process::id());
    // The shell keeps the command substitution's 256 MB in memory; the limit is 32 MiB.
    let mut spec =
        shell("cat /proc/self/cgroup; x=$(head -c 256000000 /dev/zero | tr '\\0' a); echo survived ${#x}");
    spec.resources.limits = types::Limits {
        nano_cpus: 500_000_000,
        memory_bytes: 32 << 20,
        pids: 64,
    };
    run_task_spec(&ex, &id, spec).await;
    let exit = within("exit", ex.wait(&id)).await.unwrap();
    assert_eq!(
        exit.signal,
        Some(libc::SIGKILL),
        "the OOM killer ended it: {exit:?}"
    );

    let launch: launch::LaunchSpec =
        serde_json::from_slice(&std::fs::read(h.config().state_dir.join(&id).join(launch::SPEC)).unwrap())
            .unwrap();
    assert!(!launch.cgroups.is_empty());
    use futures::StreamExt;
    let lines: Vec<String> = ex
        .logs(&id, Default::default())
        .await
        .unwrap()
        .map(|m| m.unwrap().text())
        .collect()
        .await;
    assert!(!lines.iter().any(|l| l.starts_with("survived")), "{lines:?}");
    let member = format!("/shoal/{id}");
    let joined = lines.iter().filter(|l| l.ends_with(&member)).count();
    assert_eq!(
        joined,
        launch.cgroups.len(),
        "the task joined each of its cgroups: {lines:?}"
    );

    let read = |file: &str| {
        launch
            .cgroups
            .iter()
            .find_map(|d| std::fs::read_to_string(d.join(file)).ok())
            .map(|s| s.trim().to_string())
    };
    if let Some(quota) = read("cpu.cfs_quota_us") {
        assert_eq!(quota, "50000");
        assert_eq!(read("memory.limit_in_bytes").as_deref(), Some("33554432"));
    } else {
        assert_eq!(read("cpu.max").as_deref(), Some("50000 100000"));
        assert_eq!(read("memory.max").as_deref(), Some("33554432"));
    }
    assert_eq!(read("pids.max").as_deref(), Some("64"));

    ex.remove(&id).await.unwrap();
    for dir in &launch.cgroups {
        assert!(!dir.exists(), "{} removed with the task", dir.display());
    }
}

/// A prepare that cannot record its task (here its spec path is a directory; on a node, a full
/// disk) removes the cgroups it made for it: nothing else would know them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_prepare_leaves_no_cgroups() {
    let Some((h, ex)) = with_host_cgroups() else {
        return;
    };
    let id = format!("cgroup-failed-prepare-{}", std::process::id());
    std::fs::create_dir_all(
        h.config()
            .state_dir
            .join(&id)
            .join(launch::SPEC)
            .join("in-the-way"),
    )
    .unwrap();
    let err = ex
        .prepare(&crate::executor::conformance::task(&id, shell("true")))
        .await;
    assert!(err.is_err(), "the spec could not be written");
    // The task's cgroups that exist (made before the spec, and removed with the failure).
    let left = crate::executor::details::cgroup_dirs(Path::new(HOST_CGROUPS), "shoal", &id);
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// Waits for `file` to hold a pid and returns it with its start time.
async fn detached_pid(file: &Path) -> launch::PidFile {
    within("the detached process's pid file", async {
        loop {
            let pid = std::fs::read_to_string(file)
                .ok()
                .and_then(|t| t.trim().parse().ok());
            if let Some(p) = pid.and_then(launch::PidFile::of) {
                return p;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
}

/// A script that leaves a detached daemon (own session, parent gone, so it is reparented)
/// writing its pid to `pidfile`, then runs `rest`.
fn with_daemon(pidfile: &Path, rest: &str) -> TaskSpec {
    shell(&format!(
        "(setsid sh -c 'echo $$ > {}.tmp && mv {0}.tmp {0}; exec sleep 1000' &); {rest}",
        pidfile.display()
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_detached_daemon_dies_when_its_task_is_stopped() {
    let h = harness();
    let ex = h.executor();
    let pidfile = h.work("daemon.pid");
    run_task_spec(&*ex, "daemon", with_daemon(&pidfile, "exec sleep 1000")).await;
    let daemon = detached_pid(&pidfile).await;
    assert!(daemon.alive(), "daemon {daemon:?} did not start");
    within("shutdown", ex.shutdown("daemon")).await.unwrap();
    // The exit is recorded only after the sweep, so the daemon is gone by now.
    assert!(!daemon.alive(), "daemon {daemon:?} outlived its stopped task");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_detached_daemon_dies_when_its_task_exits() {
    let h = harness();
    let ex = h.executor();
    let pidfile = h.work("daemon.pid");
    // The task exits once the test has seen the daemon (and released it).
    let go = h.work("go");
    let rest = format!("while [ ! -e {} ]; do sleep 0.02; done; exit 3", go.display());
    run_task_spec(&*ex, "daemon-exit", with_daemon(&pidfile, &rest)).await;
    let daemon = detached_pid(&pidfile).await;
    h.release("daemon-exit");
    let exit = within("exit", ex.wait("daemon-exit")).await.unwrap();
    assert_eq!(exit, Exit::code(3));
    assert!(!daemon.alive(), "daemon {daemon:?} outlived its exited task");
}
