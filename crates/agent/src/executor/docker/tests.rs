//! The docker executor under the conformance suite, against a real (private) dockerd with a
//! busybox image made by `docker import`. When dockerd cannot start here, every test prints
//! why and passes without running (the suite's `spec` answers `None`).
//!
//! The dockerd is shared by the tests running at the same time and stopped when the last of
//! them drops it; each harness has its own node ID, so `reattach` sees only its own tasks.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

use testkit::dockerd::Dockerd;
use types::TaskSpec;

use super::*;
use crate::executor::conformance::{Harness, Scenario, health, shell};

/// The test image in the private dockerd.
const IMAGE: &str = "shoal-test/busybox:1";

/// The dockerd the running tests share.
static SHARED: Mutex<Weak<Dockerd>> = Mutex::new(Weak::new());
static NODES: AtomicUsize = AtomicUsize::new(0);

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(f))
}

/// The shared dockerd with the test image, started if none runs.
fn dockerd() -> Result<Arc<Dockerd>, String> {
    let mut shared = SHARED.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(d) = shared.upgrade() {
        return Ok(d);
    }
    let d = Arc::new(block_on(Dockerd::try_start())?);
    d.import_busybox(IMAGE)?;
    *shared = Arc::downgrade(&d);
    Ok(d)
}

pub(super) struct DockerHarness {
    dockerd: Option<Arc<Dockerd>>,
    node: String,
}

pub(super) fn harness() -> DockerHarness {
    let node = format!("node-{}", NODES.fetch_add(1, Ordering::Relaxed));
    match dockerd() {
        Ok(d) => DockerHarness {
            dockerd: Some(d),
            node,
        },
        Err(why) => {
            eprintln!("SKIPPED: the docker executor's conformance test needs a dockerd: {why}");
            DockerHarness { dockerd: None, node }
        }
    }
}

impl DockerHarness {
    fn config(&self) -> Option<DockerConfig> {
        Some(DockerConfig {
            host: format!("unix://{}", self.dockerd.as_ref()?.socket().display()),
            node_id: self.node.clone(),
            labels: Default::default(),
        })
    }
}

/// Runs until SIGUSR1, then says bye and exits 0. As PID 1 the shell gets only the signals it
/// traps, so the background sleep keeps it waiting where a trap can run at once.
const UNTIL_USR1: &str = "trap 'echo bye; exit 0' USR1; echo ready; sleep 1000 & wait $!";

fn image(mut spec: TaskSpec) -> TaskSpec {
    spec.container.image = IMAGE.into();
    spec
}

impl Harness for DockerHarness {
    type E = DockerExecutor;

    fn executor(&self) -> Arc<DockerExecutor> {
        match self.config() {
            Some(config) => Arc::new(block_on(DockerExecutor::connect(config)).unwrap()),
            None => Arc::new(DockerExecutor::offline(DockerConfig {
                host: String::new(),
                node_id: self.node.clone(),
                labels: Default::default(),
            })),
        }
    }

    fn spec(&self, scenario: Scenario) -> Option<TaskSpec> {
        self.dockerd.as_ref()?;
        let with_check = |mut spec: TaskSpec, check: &str, retries| {
            spec.container.healthcheck = Some(health(check, retries));
            // PID 1 ignores the default SIGTERM; a short grace keeps the stop quick.
            spec.container.stop_grace_period = Some(1_000_000_000);
            spec
        };
        Some(image(match scenario {
            Scenario::Exit(code) => shell(&format!("exit {code}")),
            Scenario::RunUntilStopped => {
                let mut spec = shell(UNTIL_USR1);
                spec.container.stop_signal = "SIGUSR1".into();
                spec
            }
            Scenario::IgnoresStop => shell("trap '' TERM; echo ready; sleep 1000"),
            Scenario::EnvAndDir => shell("echo \"$SHOAL_GREETING\"; pwd"),
            // dockerd runs the image's own command; a task needs none.
            Scenario::NoCommand => return None,
            Scenario::Logs => {
                let script =
                    "trap 'echo bye; exit 0' USR1; echo out1; echo err1 >&2; echo out2; sleep 1000 & wait $!";
                let mut spec = shell(script);
                spec.container.stop_signal = "USR1".into();
                spec
            }
            Scenario::ExitWhenReleased(code) => {
                shell(&format!("trap 'exit {code}' USR2; sleep 1000 & wait $!"))
            }
            Scenario::Healthy => {
                let mut spec = with_check(
                    shell("sleep 0.3; touch /ready; sleep 1000 & wait $!"),
                    "test -e /ready",
                    1,
                );
                if let Some(check) = spec.container.healthcheck.as_mut() {
                    check.start_period = 30_000_000_000;
                }
                spec
            }
            Scenario::TurnsUnhealthy => with_check(shell("touch /ok; sleep 1000 & wait $!"), "rm /ok", 2),
            Scenario::NeverHealthy => with_check(shell("sleep 1000 & wait $!"), "exit 1", 2),
        }))
    }

    fn release(&self, task_id: &str) {
        if let Some(d) = &self.dockerd {
            d.ok(&["kill", "--signal", "USR2", &format!("web.1.{task_id}")]);
        }
    }

    fn work_dir(&self) -> String {
        "/srv/work".into()
    }
}

crate::executor_conformance_tests!(harness());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_are_named_and_labelled_as_swarm_does() {
    use crate::executor::conformance::{run_task_spec, within};
    let h = harness();
    let Some(spec) = h.spec(Scenario::RunUntilStopped) else {
        return;
    };
    let Some(d) = h.dockerd.clone() else { return };
    let ex = h.executor();
    run_task_spec(&*ex, "named", spec).await;
    let out = d.ok(&[
        "inspect",
        "--format",
        "{{.Name}} {{index .Config.Labels \"com.docker.swarm.task.id\"}} {{.HostConfig.NetworkMode}}",
        "web.1.named",
    ]);
    assert_eq!(
        out.trim(),
        "/web.1.named named default",
        "no networks: dockerd's default"
    );
    within("remove", ex.remove("named")).await.unwrap();
    assert!(!d.docker(&["inspect", "web.1.named"]).status.success(), "removed");
}

/// Prepare and start of a task with a cached image, p50/p99 over 20 tasks, beside
/// `docker run -d` of the same image by the CLI on the same dockerd in the same run (run with
/// `--ignored --nocapture`; a measurement, not a check).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn start_latency() {
    use crate::executor::conformance::{task, within};
    let h = harness();
    let (Some(spec), Some(d)) = (h.spec(Scenario::RunUntilStopped), h.dockerd.clone()) else {
        return;
    };
    let ex = h.executor();
    let (mut prepare, mut start, mut cli) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..20 {
        let id = format!("lat{i}");
        let t0 = tokio::time::Instant::now();
        ex.prepare(&task(&id, spec.clone())).await.unwrap();
        let t1 = tokio::time::Instant::now();
        within("start", ex.start(&id)).await.unwrap();
        let t2 = tokio::time::Instant::now();
        prepare.push(t1 - t0);
        start.push(t2 - t1);
        within("remove", ex.remove(&id)).await.unwrap();
        let t3 = tokio::time::Instant::now();
        let name = format!("cli{i}");
        d.ok(&["run", "-d", "--name", &name, IMAGE, "sleep", "1000"]);
        cli.push(t3.elapsed());
        d.ok(&["rm", "-f", &name]);
    }
    let p = |mut v: Vec<std::time::Duration>| {
        v.sort();
        format!("p50 {:?} p99 {:?}", v[v.len() / 2], v[v.len() - 1])
    };
    println!("docker executor prepare: {}", p(prepare));
    println!("docker executor start:   {}", p(start));
    println!("docker run -d (CLI):     {}", p(cli));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_files_are_mounted_and_the_pid_names_the_containers_own_namespace() {
    use crate::executor::conformance::{task, wait_ready, within};
    use crate::executor::test_netns::{HOSTS, RESOLV_CONF};
    use futures::StreamExt;
    let h = harness();
    let Some(mut spec) = h.spec(Scenario::RunUntilStopped) else {
        return;
    };
    spec.container.command = vec![
        "/bin/sh".into(),
        "-c".into(),
        format!("cat /etc/resolv.conf; grep web-task /etc/hosts; {UNTIL_USR1}"),
    ];
    let files = tempfile::tempdir().unwrap();
    let sandbox = crate::executor::Sandbox {
        netns: None,
        resolv_conf: Some(files.path().join("resolv.conf")),
        hosts: Some(files.path().join("hosts")),
        ..Default::default()
    };
    std::fs::write(files.path().join("resolv.conf"), RESOLV_CONF).unwrap();
    std::fs::write(files.path().join("hosts"), HOSTS).unwrap();
    let ex = h.executor();
    assert!(ex.makes_own_netns());

    // dockerd cannot join a namespace by path: refused, nothing created.
    let with_ns = crate::executor::Sandbox {
        netns: Some("/run/netns/whatever".into()),
        ..sandbox.clone()
    };
    let err = ex
        .prepare_in(&task("sbns", spec.clone()), &with_ns)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Unsupported(m) if m.contains("/run/netns/whatever")),
        "{err}"
    );
    assert!(matches!(ex.start("sbns").await, Err(Error::NotFound(_))));

    ex.prepare_in(&task("sbx", spec), &sandbox).await.unwrap();
    let status = within("start", ex.start("sbx")).await.unwrap();
    wait_ready(&*ex, "sbx").await;
    let lines: Vec<String> = ex
        .logs("sbx", Default::default())
        .await
        .unwrap()
        .map(|l| l.unwrap().text())
        .collect()
        .await;
    let mut want: Vec<String> = RESOLV_CONF.lines().map(String::from).collect();
    want.extend(HOSTS.lines().filter(|l| l.contains("web-task")).map(String::from));
    want.push("ready".into());
    assert_eq!(lines, want);
    // The pid start returns is where the agent attaches endpoints: the container's own
    // namespace (network mode none), not the host's.
    assert!(status.pid > 0, "{status:?}");
    let theirs = std::fs::read_link(format!("/proc/{}/ns/net", status.pid)).unwrap();
    let ours = std::fs::read_link("/proc/self/ns/net").unwrap();
    assert_ne!(theirs, ours);
    within("remove", ex.remove("sbx")).await.unwrap();
}

/// Prepare and start of 10 tasks at once, as a node receiving 10 replicas does, beside 10
/// concurrent `docker run -d` by the CLI on the same dockerd (run with `--ignored
/// --nocapture`; a measurement, not a check).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn concurrent_start() {
    use crate::executor::conformance::{task, within};
    let h = harness();
    let (Some(spec), Some(d)) = (h.spec(Scenario::RunUntilStopped), h.dockerd.clone()) else {
        return;
    };
    let ex = h.executor();
    for round in 0..3 {
        let t0 = tokio::time::Instant::now();
        let runs = (0..10).map(|i| {
            let (ex, spec) = (ex.clone(), spec.clone());
            async move {
                let id = format!("c{round}x{i}");
                let t = tokio::time::Instant::now();
                ex.prepare(&task(&id, spec)).await.unwrap();
                let p = t.elapsed();
                within("start", ex.start(&id)).await.unwrap();
                (p, t.elapsed() - p)
            }
        });
        let times = futures::future::join_all(runs).await;
        let all = t0.elapsed();
        println!("executor: 10 tasks at once in {all:?}; (prepare, start) each: {times:?}");
        for i in 0..10 {
            within("remove", ex.remove(&format!("c{round}x{i}")))
                .await
                .unwrap();
        }
        let t0 = tokio::time::Instant::now();
        let cli: Vec<_> = (0..10)
            .map(|i| {
                let name = format!("cc{round}x{i}");
                let d = d.clone();
                std::thread::spawn(move || {
                    d.ok(&["run", "-d", "--name", &name, IMAGE, "sleep", "1000"]);
                })
            })
            .collect();
        for c in cli {
            c.join().unwrap();
        }
        println!("docker run -d: 10 at once in {:?}", t0.elapsed());
        for i in 0..10 {
            d.ok(&["rm", "-f", &format!("cc{round}x{i}")]);
        }
    }
}

/// `start` returns once dockerd started the container, with health still `starting`, so the
/// agent can attach the endpoints a check may need; `ready` then waits for the first pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_returns_before_the_first_healthy_check_and_ready_waits_for_it() {
    use crate::executor::conformance::{task, within};
    let h = harness();
    let Some(d) = h.dockerd.clone() else { return };
    // Healthy only once /go exists, which the container makes on SIGUSR2.
    let mut spec = image(shell(
        "trap 'touch /go' USR2; while :; do sleep 1000 & wait $!; done",
    ));
    spec.container.healthcheck = Some(health("test -e /go", 1000));
    spec.container.stop_grace_period = Some(1_000_000_000);
    let ex = h.executor();
    ex.prepare(&task("gated", spec)).await.unwrap();
    let status = within("start", ex.start("gated")).await.unwrap();
    assert!(status.pid > 0, "{status:?}");
    let health = || d.ok(&["inspect", "--format", "{{.State.Health.Status}}", "web.1.gated"]);
    assert_eq!(health().trim(), "starting", "start did not wait for the check");

    let ready = tokio::spawn({
        let ex = ex.clone();
        async move { ex.ready("gated").await }
    });
    d.ok(&["kill", "--signal", "USR2", "web.1.gated"]);
    within("ready", ready).await.unwrap().unwrap();
    assert_eq!(health().trim(), "healthy");
    within("ready again", ex.ready("gated")).await.unwrap();
    within("remove", ex.remove("gated")).await.unwrap();
}
