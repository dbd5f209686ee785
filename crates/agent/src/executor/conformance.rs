//! The executor conformance suite: one set of tests written against the [`Executor`] trait,
//! run against every implementation through a [`Harness`] that knows how to express each
//! scenario for its executor (a `/bin/sh` script for processes, labels for the simulator).
//!
//! Tests wait on events (a start returning, an exit, a log line arriving), never on sleeps;
//! the `within` guard only turns a hang into a failure.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use types::{ContainerSpec, HealthConfig, Task, TaskSpec};

use super::{Error, Executor, Exit, Phase};
use crate::logs::{LogOptions, LogStream};

/// What a test wants a task to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scenario {
    /// Exit at once with this code.
    Exit(i64),
    /// Print `ready` once it handles its stop signal (SIGUSR1 here); on it, print `bye` and
    /// exit 0.
    RunUntilStopped,
    /// Print `ready` once it ignores the stop signal; only SIGKILL ends it.
    IgnoresStop,
    /// Print `$SHOAL_GREETING` and the working directory, then exit 0.
    EnvAndDir,
    /// No command at all.
    NoCommand,
    /// Print `out1`, `err1` (stderr), `out2`, then run until stopped.
    Logs,
    /// Exit with this code once the harness releases it.
    ExitWhenReleased(i64),
    /// Has a health check that starts passing shortly after start.
    Healthy,
    /// Passes its health check once, then fails it.
    TurnsUnhealthy,
    /// Never passes its health check.
    NeverHealthy,
}

/// An executor under test and the means to express scenarios for it.
pub trait Harness: Send + Sync {
    /// The executor type.
    type E: Executor;
    /// A new executor over the harness's state. Calling it again after dropping the previous
    /// one is an agent restart.
    fn executor(&self) -> Arc<Self::E>;
    /// The spec for a scenario; `None` when the executor cannot express it (test skipped).
    fn spec(&self, scenario: Scenario) -> Option<TaskSpec>;
    /// Lets the `ExitWhenReleased` task `task_id` exit.
    fn release(&self, task_id: &str);
    /// The working directory `EnvAndDir` runs in.
    fn work_dir(&self) -> String;
}

/// Fails instead of hanging.
pub async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(Duration::from_secs(30), f).await {
        Ok(v) => v,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

/// A task with `spec`, desired RUNNING.
pub fn task(id: &str, spec: TaskSpec) -> Task {
    types::testing::task(id).spec(spec).node("node").build()
}

/// A spec running `script` with /bin/sh.
pub fn shell(script: &str) -> TaskSpec {
    TaskSpec {
        container: ContainerSpec {
            command: vec!["/bin/sh".into(), "-c".into(), script.into()],
            ..ContainerSpec::default()
        },
        ..TaskSpec::default()
    }
}

/// A spec for the simulator with these labels.
pub fn sim(labels: &[(&str, &str)]) -> TaskSpec {
    let labels: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (format!("shoal.sim.{k}"), v.to_string()))
        .collect();
    TaskSpec {
        container: ContainerSpec {
            image: "busybox".into(),
            labels,
            ..ContainerSpec::default()
        },
        ..TaskSpec::default()
    }
}

/// A health check running `shell` every 100 ms, unhealthy after `retries` failures.
pub fn health(shell: &str, retries: u64) -> HealthConfig {
    HealthConfig {
        test: vec!["CMD-SHELL".into(), shell.into()],
        interval: 100_000_000,
        timeout: 5_000_000_000,
        retries,
        start_period: 0,
        start_interval: 0,
    }
}

/// Prepares and starts a task, and waits until it is ready (healthy, with a check).
pub async fn run_task_spec<E: Executor>(ex: &E, id: &str, spec: TaskSpec) -> types::ContainerStatus {
    ex.prepare(&task(id, spec)).await.unwrap();
    let started = within("start", ex.start(id)).await.unwrap();
    within("ready", ex.ready(id)).await.unwrap();
    started
}

/// Starts a prepared task and waits until it is ready, as the runner does.
pub async fn start_ready<E: Executor>(ex: &E, id: &str) -> super::Result<types::ContainerStatus> {
    let started = ex.start(id).await?;
    ex.ready(id).await?;
    Ok(started)
}

/// Waits for the task to log `ready` (it has set up its signal handling).
pub async fn wait_ready<E: Executor>(ex: &E, id: &str) {
    let mut lines = ex
        .logs(
            id,
            LogOptions {
                follow: true,
                ..LogOptions::default()
            },
        )
        .await
        .unwrap();
    loop {
        let line = within("ready", lines.next())
            .await
            .expect("task ended before it was ready")
            .unwrap();
        if line.text() == "ready" {
            return;
        }
    }
}

/// Exit 0 is a clean exit; the executor keeps the exit readable.
pub async fn exit_zero_completes<H: Harness>(h: H) {
    let ex = h.executor();
    let Some(spec) = h.spec(Scenario::Exit(0)) else {
        return;
    };
    run_task_spec(&*ex, "exit0", spec).await;
    let exit = within("exit", ex.wait("exit0")).await.unwrap();
    assert_eq!(exit, Exit::code(0));
    assert_eq!(exit.failure(), None);
    assert_eq!(
        within("second wait", ex.wait("exit0")).await.unwrap(),
        exit,
        "wait can be repeated"
    );
}

/// A non-zero exit reads like Swarm's.
pub async fn exit_three_fails<H: Harness>(h: H) {
    let ex = h.executor();
    let Some(spec) = h.spec(Scenario::Exit(3)) else {
        return;
    };
    run_task_spec(&*ex, "exit3", spec).await;
    let exit = within("exit", ex.wait("exit3")).await.unwrap();
    assert_eq!(exit.code, 3);
    assert_eq!(exit.failure().as_deref(), Some("task: non-zero exit (3)"));
}

/// Shutdown sends the task's stop signal; a task that handles it exits cleanly.
pub async fn shutdown_honours_stop_signal<H: Harness>(h: H) {
    let ex = h.executor();
    let Some(spec) = h.spec(Scenario::RunUntilStopped) else {
        return;
    };
    run_task_spec(&*ex, "stop", spec).await;
    wait_ready(&*ex, "stop").await;
    let exit = within("shutdown", ex.shutdown("stop")).await.unwrap();
    assert_eq!(exit, Some(Exit::code(0)), "the trap ran and exited 0");
    assert_eq!(within("wait", ex.wait("stop")).await.unwrap(), Exit::code(0));
    assert_eq!(
        within("shutdown again", ex.shutdown("stop")).await.unwrap(),
        Some(Exit::code(0))
    );
}

/// A task ignoring its stop signal is killed after the grace period.
pub async fn shutdown_escalates_to_sigkill<H: Harness>(h: H) {
    let ex = h.executor();
    let Some(mut spec) = h.spec(Scenario::IgnoresStop) else {
        return;
    };
    spec.container.stop_grace_period = Some(300_000_000);
    run_task_spec(&*ex, "stubborn", spec).await;
    wait_ready(&*ex, "stubborn").await;
    let exit = within("shutdown", ex.shutdown("stubborn")).await.unwrap();
    assert_eq!(exit, Some(Exit::signalled(libc::SIGKILL)));
    assert_eq!(
        exit.and_then(|e| e.failure()).as_deref(),
        Some("task: non-zero exit (137)")
    );
}

/// Shutting down a task that never started is fine and reports no exit.
pub async fn shutdown_before_start<H: Harness>(h: H) {
    let ex = h.executor();
    let Some(spec) = h.spec(Scenario::RunUntilStopped) else {
        return;
    };
    ex.prepare(&task("unstarted", spec)).await.unwrap();
    assert_eq!(ex.shutdown("unstarted").await.unwrap(), None);
    assert!(matches!(ex.wait("unstarted").await, Err(Error::State { .. })));
    ex.remove("unstarted").await.unwrap();
    assert!(matches!(ex.start("unstarted").await, Err(Error::NotFound(_))));
}

/// Env and Dir reach the task.
pub async fn env_and_dir_applied<H: Harness>(h: H) {
    let ex = h.executor();
    let Some(mut spec) = h.spec(Scenario::EnvAndDir) else {
        return;
    };
    spec.container.env = vec!["SHOAL_GREETING=hello from shoal".into()];
    spec.container.dir = h.work_dir();
    run_task_spec(&*ex, "env", spec).await;
    assert_eq!(within("exit", ex.wait("env")).await.unwrap(), Exit::code(0));
    let lines: Vec<String> = ex
        .logs("env", LogOptions::default())
        .await
        .unwrap()
        .map(|m| m.unwrap().text())
        .collect()
        .await;
    assert_eq!(lines, ["hello from shoal".to_string(), h.work_dir()]);
}

/// A task without a command is refused at prepare with a clear message.
pub async fn no_command_rejected<H: Harness>(h: H) {
    let ex = h.executor();
    let Some(spec) = h.spec(Scenario::NoCommand) else {
        return;
    };
    let err = ex.prepare(&task("nocmd", spec)).await.unwrap_err();
    assert!(err.to_string().contains("task has no command"), "{err}");
    assert!(matches!(ex.start("nocmd").await, Err(Error::NotFound(_))));
}

/// `prepare_in` with an empty sandbox is `prepare`: the task runs where it would anyway.
pub async fn empty_sandbox_is_plain_prepare<H: Harness>(h: H) {
    let ex = h.executor();
    let Some(spec) = h.spec(Scenario::Exit(0)) else {
        return;
    };
    ex.prepare_in(&task("sandbox0", spec.clone()), &super::Sandbox::default())
        .await
        .unwrap();
    ex.prepare_in(&task("sandbox0", spec), &super::Sandbox::default())
        .await
        .expect("preparing twice is a no-op");
    within("start", ex.start("sandbox0")).await.unwrap();
    assert_eq!(within("exit", ex.wait("sandbox0")).await.unwrap(), Exit::code(0));
    ex.remove("sandbox0").await.unwrap();
}

/// stdout and stderr are captured with their stream; tail and follow work, and following
/// ends when the task does.
pub async fn logs_captured<H: Harness>(h: H) {
    let ex = h.executor();
    let Some(spec) = h.spec(Scenario::Logs) else {
        return;
    };
    run_task_spec(&*ex, "logs", spec).await;
    let mut follow = ex
        .logs(
            "logs",
            LogOptions {
                follow: true,
                ..LogOptions::default()
            },
        )
        .await
        .unwrap();
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let m = within("log line", follow.next())
            .await
            .expect("stream ended early")
            .unwrap();
        seen.push((m.stream, m.text()));
    }
    seen.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(
        seen,
        [
            (LogStream::Stderr, "err1".into()),
            (LogStream::Stdout, "out1".into()),
            (LogStream::Stdout, "out2".into())
        ]
    );
    let tail = LogOptions {
        tail: Some(1),
        stderr: false,
        ..LogOptions::default()
    };
    let last: Vec<String> = ex
        .logs("logs", tail)
        .await
        .unwrap()
        .map(|m| m.unwrap().text())
        .collect()
        .await;
    assert_eq!(last, ["out2"]);
    let later = LogOptions {
        since: Some(types::Timestamp(i64::MAX)),
        ..LogOptions::default()
    };
    assert_eq!(
        ex.logs("logs", later).await.unwrap().count().await,
        0,
        "since filters by time"
    );

    // A line written after following began arrives, then the stream ends with the task.
    within("shutdown", ex.shutdown("logs")).await.unwrap();
    let m = within("line after stop", follow.next())
        .await
        .expect("stream ended before bye")
        .unwrap();
    assert_eq!((m.stream, m.text()), (LogStream::Stdout, "bye".to_string()));
    assert!(within("end of stream", follow.next()).await.is_none());
}

/// With a health check, start and ready return once it passes (a second ready at once).
pub async fn healthcheck_gates_start<H: Harness>(h: H) {
    let ex = h.executor();
    let Some(spec) = h.spec(Scenario::Healthy) else {
        return;
    };
    run_task_spec(&*ex, "healthy", spec).await;
    within("ready again", ex.ready("healthy")).await.unwrap();
    assert_eq!(
        ex.reattach()
            .await
            .unwrap()
            .iter()
            .find(|a| a.task_id == "healthy")
            .map(|a| a.phase.clone()),
        Some(Phase::Running)
    );
    within("shutdown", ex.shutdown("healthy")).await.unwrap();
}

/// A task that turns unhealthy is stopped and its exit says why.
pub async fn unhealthy_task_fails<H: Harness>(h: H) {
    let ex = h.executor();
    let Some(spec) = h.spec(Scenario::TurnsUnhealthy) else {
        return;
    };
    run_task_spec(&*ex, "sick", spec).await;
    let exit = within("unhealthy exit", ex.wait("sick")).await.unwrap();
    assert!(exit.unhealthy, "{exit:?}");
    assert_eq!(exit.failure().as_deref(), Some("task: unhealthy container"));
}

/// A task that never passes its check fails to start.
pub async fn never_healthy_fails_start<H: Harness>(h: H) {
    let ex = h.executor();
    let Some(spec) = h.spec(Scenario::NeverHealthy) else {
        return;
    };
    ex.prepare(&task("never", spec)).await.unwrap();
    let err = within("start", start_ready(&*ex, "never")).await.unwrap_err();
    assert!(matches!(err, Error::Unhealthy), "{err}");
    let exit = within("exit", ex.wait("never")).await.unwrap();
    assert!(exit.unhealthy);
}

/// After an agent restart the executor finds running tasks again, does not start them twice,
/// and reports exits that happen after (or while) no agent was watching.
pub async fn reattach_after_restart<H: Harness>(h: H) {
    let (Some(running), Some(gated), Some(done)) = (
        h.spec(Scenario::RunUntilStopped),
        h.spec(Scenario::ExitWhenReleased(7)),
        h.spec(Scenario::Exit(5)),
    ) else {
        return;
    };
    let first = h.executor();
    let pid = run_task_spec(&*first, "r-run", running).await.pid;
    wait_ready(&*first, "r-run").await;
    run_task_spec(&*first, "r-gated", gated).await;
    run_task_spec(&*first, "r-done", done).await;
    within("exit", first.wait("r-done")).await.unwrap();
    drop(first);

    let second = h.executor();
    let attached = second.reattach().await.unwrap();
    let phase = |id: &str| attached.iter().find(|a| a.task_id == id).map(|a| a.phase.clone());
    assert_eq!(phase("r-run"), Some(Phase::Running));
    assert_eq!(phase("r-done"), Some(Phase::Exited(Exit::code(5))));
    assert!(matches!(phase("r-gated"), Some(Phase::Running)));
    assert_eq!(attached.len(), 3, "no duplicates: {attached:?}");
    assert_eq!(
        second.reattach().await.unwrap().len(),
        3,
        "re-attach is idempotent"
    );

    let again = within("start again", second.start("r-run")).await.unwrap();
    assert_eq!(again.pid, pid, "start of a running task is a no-op");
    h.release("r-gated");
    assert_eq!(
        within("exit after restart", second.wait("r-gated"))
            .await
            .unwrap(),
        Exit::code(7)
    );
    assert_eq!(
        within("shutdown", second.shutdown("r-run")).await.unwrap(),
        Some(Exit::code(0))
    );

    for id in ["r-run", "r-gated", "r-done"] {
        second.remove(id).await.unwrap();
    }
    assert!(
        second.reattach().await.unwrap().is_empty(),
        "removed tasks are gone"
    );
    second.remove("r-run").await.unwrap();
}

/// Instantiates the suite for a harness expression.
#[macro_export]
macro_rules! executor_conformance_tests {
    ($harness:expr) => {
        $crate::executor_conformance_tests!(@each $harness;
            exit_zero_completes, exit_three_fails, shutdown_honours_stop_signal,
            shutdown_escalates_to_sigkill, shutdown_before_start, env_and_dir_applied,
            no_command_rejected, logs_captured, healthcheck_gates_start, unhealthy_task_fails,
            never_healthy_fails_start, reattach_after_restart, empty_sandbox_is_plain_prepare);
    };
    (@each $harness:expr; $($name:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                $crate::executor::conformance::$name($harness).await;
            }
        )*
    };
}
