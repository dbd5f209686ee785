//! The simulated executor: tasks "run" without processes, so one process can host thousands
//! of hollow nodes. A task runs until shut down unless its container labels say otherwise:
//!
//! | label | effect |
//! |---|---|
//! | `shoal.sim.run=2s` | exit after this long (tokio time), with `shoal.sim.exit` (default 0) |
//! | `shoal.sim.exit=3` | exit with this code (at once, unless `shoal.sim.run` is set) |
//! | `shoal.sim.prepare-error=why` | prepare fails (the task is rejected) |
//! | `shoal.sim.start-error=why` | start fails (the task fails) |
//! | `shoal.sim.ignore-stop=true` | the stop signal is ignored: SIGKILL after the grace period |
//! | `shoal.sim.stop-exit=0` | exit code when stopped by the stop signal (default 128 + signal) |
//! | `shoal.sim.unhealthy-after=1s` | with a health check: healthy at start, unhealthy after this |
//! | `shoal.sim.never-healthy=true` | with a health check: start fails as unhealthy |
//! | `shoal.sim.stdout=a\nb`, `shoal.sim.stderr=…` | log lines written at start |
//! | `shoal.sim.stop-stdout=bye` | log lines written when stopped by the stop signal |
//!
//! A task prepared in a network sandbox (`prepare_in`) runs as any other: hollow nodes have
//! no network, so the sandbox is accepted and ignored.
//!
//! [`SimHost::crash`] ends a running task from outside, as a process dying on its own would.
//!
//! State lives in a [`SimHost`] (the simulated machine), so dropping an executor and making a
//! new one on the same host exercises re-attach exactly as an agent restart would.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::watch;
use types::{Clock, ContainerStatus, Resources, Task};

use super::{Attached, EngineInfo, Error, Executor, Exit, Phase, Result, parse_signal, stop_grace};
use crate::logs::{LogLines, LogMessage, LogOptions, LogStream, MemoryLog};

/// Lines of log kept per simulated task.
const LOG_CAPACITY: usize = 1000;

/// The simulated machine: every task the executors on it hold.
#[derive(Default)]
pub struct SimHost {
    tasks: Mutex<HashMap<String, Arc<SimTask>>>,
    next_pid: AtomicI64,
}

impl SimHost {
    /// An empty machine.
    pub fn new() -> Arc<SimHost> {
        Arc::new(SimHost {
            tasks: Mutex::new(HashMap::new()),
            next_pid: AtomicI64::new(1000),
        })
    }

    fn get(&self, id: &str) -> Result<Arc<SimTask>> {
        self.lock()
            .get(id)
            .cloned()
            .ok_or_else(|| Error::NotFound(id.to_string()))
    }

    /// Ends a started task with `exit`, as if its process died on its own. Returns false
    /// when the task is unknown, not started or already exited.
    pub fn crash(&self, task_id: &str, exit: Exit) -> bool {
        match self.get(task_id) {
            Ok(task) if task.is_started() && task.exit.borrow().is_none() => {
                task.finish(exit);
                true
            }
            _ => false,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<SimTask>>> {
        // Every mutation is one insert or remove, so a poisoned map is still consistent.
        self.tasks.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// What a simulated task does, read from its labels.
#[derive(Debug, Clone, Default, PartialEq)]
struct Behaviour {
    run_for: Option<Duration>,
    exit_code: Option<i64>,
    prepare_error: Option<String>,
    start_error: Option<String>,
    ignore_stop: bool,
    stop_exit: Option<i64>,
    unhealthy_after: Option<Duration>,
    never_healthy: bool,
    stdout: Vec<String>,
    stderr: Vec<String>,
    stop_stdout: Vec<String>,
}

impl Behaviour {
    fn from_labels(labels: &BTreeMap<String, String>) -> Result<Behaviour> {
        let get = |k: &str| labels.get(&format!("shoal.sim.{k}")).map(String::as_str);
        let int = |k: &str| -> Result<Option<i64>> {
            get(k)
                .map(|v| {
                    v.trim()
                        .parse()
                        .map_err(|_| Error::Invalid(format!("label shoal.sim.{k}: not a number: {v:?}")))
                })
                .transpose()
        };
        let dur = |k: &str| {
            get(k)
                .map(|v| parse_duration(v).map_err(|m| Error::Invalid(format!("label shoal.sim.{k}: {m}"))))
                .transpose()
        };
        let lines = |k: &str| {
            get(k)
                .map(|v| v.lines().map(str::to_string).collect())
                .unwrap_or_default()
        };
        Ok(Behaviour {
            run_for: dur("run")?,
            exit_code: int("exit")?,
            prepare_error: get("prepare-error").map(str::to_string),
            start_error: get("start-error").map(str::to_string),
            ignore_stop: get("ignore-stop") == Some("true"),
            stop_exit: int("stop-exit")?,
            unhealthy_after: dur("unhealthy-after")?,
            never_healthy: get("never-healthy") == Some("true"),
            stdout: lines("stdout"),
            stderr: lines("stderr"),
            stop_stdout: lines("stop-stdout"),
        })
    }
}

/// Parses `500ms`, `2s`, `1m`, `1h` or plain nanoseconds.
fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (num, unit) = text.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("bad duration {text:?}"))?;
    let nanos_per = match unit {
        "" | "ns" => 1,
        "us" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => return Err(format!("bad duration unit in {text:?}")),
    };
    Ok(Duration::from_nanos(n.saturating_mul(nanos_per)))
}

/// One simulated task.
struct SimTask {
    behaviour: Behaviour,
    has_healthcheck: bool,
    stop_signal: i32,
    grace: Duration,
    pid: i64,
    started: Mutex<bool>,
    exit: watch::Sender<Option<Exit>>,
    log: Arc<MemoryLog>,
}

impl SimTask {
    fn finish(&self, exit: Exit) {
        // First exit wins: a task dies once.
        let set = self.exit.send_if_modified(|e| {
            if e.is_none() {
                *e = Some(exit);
                true
            } else {
                false
            }
        });
        if set {
            self.log.end();
        }
    }

    fn is_started(&self) -> bool {
        *self.started.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn container(&self, id: &str) -> ContainerStatus {
        let exit_code = self.exit.borrow().as_ref().map(|e| e.code);
        ContainerStatus {
            container_id: id.to_string(),
            pid: self.pid,
            exit_code,
        }
    }

    async fn wait(&self) -> Exit {
        let mut rx = self.exit.subscribe();
        // The sender lives in `self`, which we hold, so the channel cannot close while we wait.
        let exit = rx.wait_for(Option::is_some).await.ok().and_then(|e| e.clone());
        exit.unwrap_or_default()
    }
}

/// Settings of a simulated executor.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Engine version it reports.
    pub engine_version: String,
    /// Resources it offers.
    pub resources: Resources,
    /// Engine labels it reports.
    pub labels: BTreeMap<String, String>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            engine_version: format!("shoal-sim {}", env!("CARGO_PKG_VERSION")),
            resources: Resources {
                nano_cpus: 4_000_000_000,
                memory_bytes: 8 << 30,
            },
            labels: BTreeMap::new(),
        }
    }
}

/// An executor whose tasks are simulated (see the module docs).
pub struct SimExecutor {
    host: Arc<SimHost>,
    config: SimConfig,
    clock: Arc<dyn Clock>,
}

impl SimExecutor {
    /// An executor on a fresh simulated machine.
    pub fn new(config: SimConfig, clock: Arc<dyn Clock>) -> SimExecutor {
        SimExecutor::on_host(SimHost::new(), config, clock)
    }

    /// An executor on an existing machine (a restarted agent re-attaches to its tasks).
    pub fn on_host(host: Arc<SimHost>, config: SimConfig, clock: Arc<dyn Clock>) -> SimExecutor {
        SimExecutor { host, config, clock }
    }

    /// The machine this executor runs on.
    pub fn host(&self) -> Arc<SimHost> {
        Arc::clone(&self.host)
    }

    fn log(&self, task: &SimTask, stream: LogStream, line: &str) {
        task.log.push(LogMessage {
            timestamp: self.clock.now(),
            stream,
            line: line.as_bytes().to_vec(),
        });
    }
}

#[async_trait]
impl Executor for SimExecutor {
    async fn describe(&self) -> Result<EngineInfo> {
        Ok(EngineInfo {
            engine_version: self.config.engine_version.clone(),
            labels: self.config.labels.clone(),
            resources: self.config.resources,
        })
    }

    async fn prepare(&self, task: &Task) -> Result<()> {
        if self.host.lock().contains_key(&task.id) {
            return Ok(());
        }
        let container = &task.spec.container;
        let behaviour = Behaviour::from_labels(&container.labels)?;
        if let Some(why) = &behaviour.prepare_error {
            return Err(Error::Invalid(why.clone()));
        }
        let has_healthcheck = container
            .healthcheck
            .as_ref()
            .is_some_and(|h| h.test.first().is_some_and(|t| t != "NONE"));
        let sim = SimTask {
            behaviour,
            has_healthcheck,
            stop_signal: parse_signal(&container.stop_signal)?,
            grace: stop_grace(container.stop_grace_period),
            pid: self.host.next_pid.fetch_add(1, Ordering::Relaxed),
            started: Mutex::new(false),
            exit: watch::channel(None).0,
            log: MemoryLog::new(LOG_CAPACITY),
        };
        self.host
            .lock()
            .entry(task.id.clone())
            .or_insert_with(|| Arc::new(sim));
        Ok(())
    }

    /// Any sandbox is accepted and ignored: a hollow node's tasks have no processes, so no
    /// network to put them in, and a benchmark's agent may still make sandboxes for them.
    async fn prepare_in(&self, task: &Task, _sandbox: &super::Sandbox) -> Result<()> {
        self.prepare(task).await
    }

    async fn start(&self, task_id: &str) -> Result<ContainerStatus> {
        let task = self.host.get(task_id)?;
        {
            let mut started = task.started.lock().unwrap_or_else(|p| p.into_inner());
            if *started {
                return Ok(task.container(task_id));
            }
            if let Some(why) = &task.behaviour.start_error {
                return Err(Error::Shim(why.clone()));
            }
            *started = true;
        }
        for line in &task.behaviour.stdout {
            self.log(&task, LogStream::Stdout, line);
        }
        for line in &task.behaviour.stderr {
            self.log(&task, LogStream::Stderr, line);
        }
        let b = &task.behaviour;
        if task.has_healthcheck && b.never_healthy {
            task.finish(Exit {
                unhealthy: true,
                ..Exit::signalled(task.stop_signal)
            });
            return Err(Error::Unhealthy);
        }
        match (b.run_for, b.exit_code) {
            (None, Some(code)) => task.finish(Exit::code(code)),
            (Some(d), code) => {
                let t = Arc::clone(&task);
                tokio::spawn(async move {
                    tokio::time::sleep(d).await;
                    t.finish(Exit::code(code.unwrap_or(0)));
                });
            }
            // Runs until shut down: no timer, no spawned task, so idle tasks cost only memory.
            (None, None) => {}
        }
        if let (true, Some(d)) = (task.has_healthcheck, b.unhealthy_after) {
            let t = Arc::clone(&task);
            tokio::spawn(async move {
                tokio::time::sleep(d).await;
                t.finish(Exit {
                    unhealthy: true,
                    ..Exit::signalled(t.stop_signal)
                });
            });
        }
        Ok(task.container(task_id))
    }

    async fn wait(&self, task_id: &str) -> Result<Exit> {
        let task = self.host.get(task_id)?;
        if !task.is_started() {
            return Err(Error::State {
                task: task_id.to_string(),
                message: "wait before start".into(),
            });
        }
        Ok(task.wait().await)
    }

    async fn shutdown(&self, task_id: &str) -> Result<Option<Exit>> {
        let task = self.host.get(task_id)?;
        if !task.is_started() {
            return Ok(None);
        }
        if task.exit.borrow().is_none() {
            if task.behaviour.ignore_stop {
                // The stop signal is ignored; SIGKILL after the grace period unless it exits.
                tokio::select! {
                    _ = task.wait() => {}
                    _ = tokio::time::sleep(task.grace) => task.finish(Exit::signalled(libc::SIGKILL)),
                }
            } else {
                for line in &task.behaviour.stop_stdout {
                    self.log(&task, LogStream::Stdout, line);
                }
                let code = task
                    .behaviour
                    .stop_exit
                    .unwrap_or(128 + i64::from(task.stop_signal));
                let signal = task.behaviour.stop_exit.is_none().then_some(task.stop_signal);
                task.finish(Exit {
                    code,
                    signal,
                    ..Exit::default()
                });
            }
        }
        Ok(Some(task.wait().await))
    }

    async fn remove(&self, task_id: &str) -> Result<()> {
        let removed = self.host.lock().remove(task_id);
        if let Some(task) = removed {
            task.finish(Exit::signalled(libc::SIGKILL));
        }
        Ok(())
    }

    async fn reattach(&self) -> Result<Vec<Attached>> {
        let tasks: Vec<(String, Arc<SimTask>)> = self
            .host
            .lock()
            .iter()
            .map(|(id, t)| (id.clone(), Arc::clone(t)))
            .collect();
        Ok(tasks
            .into_iter()
            .map(|(id, t)| {
                let phase = match (t.is_started(), t.exit.borrow().clone()) {
                    (_, Some(exit)) => Phase::Exited(exit),
                    (true, None) => Phase::Running,
                    (false, None) => Phase::Prepared,
                };
                let container = t.container(&id);
                Attached {
                    task_id: id,
                    phase,
                    container,
                }
            })
            .collect())
    }

    async fn logs(&self, task_id: &str, options: LogOptions) -> Result<LogLines> {
        Ok(self.host.get(task_id)?.log.read(options))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::executor::conformance::{Harness, Scenario, health, sim};
    use types::TaskSpec;

    /// The simulator under the conformance suite; executors share one host, so a new
    /// executor is an agent restart.
    struct SimHarness {
        host: Arc<SimHost>,
    }

    fn harness() -> SimHarness {
        SimHarness { host: SimHost::new() }
    }

    impl Harness for SimHarness {
        type E = SimExecutor;

        fn executor(&self) -> Arc<SimExecutor> {
            let clock = Arc::new(types::clock::FixedClock(types::Timestamp(1)));
            Arc::new(SimExecutor::on_host(
                Arc::clone(&self.host),
                SimConfig::default(),
                clock,
            ))
        }

        fn spec(&self, scenario: Scenario) -> Option<TaskSpec> {
            let with_check = |mut spec: TaskSpec| {
                spec.container.healthcheck = Some(health("true", 2));
                Some(spec)
            };
            match scenario {
                Scenario::Exit(code) => Some(sim(&[("exit", &code.to_string())])),
                Scenario::RunUntilStopped => Some(sim(&[
                    ("stop-exit", "0"),
                    ("stop-stdout", "bye"),
                    ("stdout", "ready"),
                ])),
                Scenario::IgnoresStop => Some(sim(&[("ignore-stop", "true"), ("stdout", "ready")])),
                Scenario::EnvAndDir | Scenario::NoCommand => None,
                Scenario::Logs => Some(sim(&[
                    ("stdout", "out1\nout2"),
                    ("stderr", "err1"),
                    ("stop-exit", "0"),
                    ("stop-stdout", "bye"),
                ])),
                Scenario::ExitWhenReleased(_) => Some(sim(&[])),
                Scenario::Healthy => with_check(sim(&[])),
                Scenario::TurnsUnhealthy => with_check(sim(&[("unhealthy-after", "200ms")])),
                Scenario::NeverHealthy => with_check(sim(&[("never-healthy", "true")])),
            }
        }

        fn release(&self, task_id: &str) {
            assert!(
                self.host.crash(task_id, Exit::code(7)),
                "task {task_id} was not running"
            );
        }

        fn work_dir(&self) -> String {
            "/".into()
        }
    }

    crate::executor_conformance_tests!(harness());

    #[tokio::test]
    async fn any_sandbox_is_accepted() {
        let h = harness();
        let ex = h.executor();
        let sandbox = crate::executor::Sandbox {
            netns: Some("/run/netns/none-such".into()),
            resolv_conf: Some("/nowhere/resolv.conf".into()),
            hosts: None,
            ..Default::default()
        };
        let spec = sim(&[("exit", "0")]);
        ex.prepare_in(&crate::executor::conformance::task("sb", spec), &sandbox)
            .await
            .unwrap();
        ex.start("sb").await.unwrap();
        assert_eq!(ex.wait("sb").await.unwrap(), Exit::code(0));
    }

    #[test]
    fn reads_behaviour_from_labels() {
        let labels: BTreeMap<String, String> = [
            ("shoal.sim.run", "250ms"),
            ("shoal.sim.exit", "3"),
            ("shoal.sim.stdout", "a\nb"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let b = Behaviour::from_labels(&labels).unwrap();
        assert_eq!(b.run_for, Some(Duration::from_millis(250)));
        assert_eq!(b.exit_code, Some(3));
        assert_eq!(b.stdout, ["a", "b"]);
        let bad: BTreeMap<String, String> = [("shoal.sim.exit".to_string(), "x".to_string())].into();
        assert!(Behaviour::from_labels(&bad).is_err());
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("2 weeks").is_err());
    }
}
