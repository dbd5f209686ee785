//! The oci executor under the conformance suite, plus container tests: own PID namespace,
//! hostname, rootfs, memory limit in its cgroup, loopback, read-only rootfs and mounts.
//!
//! Needs root (namespaces, mounts, cgroups) and Debian's `busybox-static` for the image;
//! without them every test here returns early with a message saying why. Supervisors are
//! this test binary re-run, as in the process executor's tests.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tempfile::TempDir;
use types::{TaskSpec, Timestamp};

use super::image::{DirImageSource, ImageRootfs, ImageRunConfig, busybox_rootfs};
use super::*;
use crate::executor::conformance::{Harness, Scenario, health, run_task_spec, shell, within};
use crate::executor::process::SHIM_DIR_ENV;
use crate::executor::process::launch::{TASK_PID, read_pid};

/// The wall clock, for supervisors run by tests.
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
    let code = crate::executor::process::shim::run(Path::new(&dir), Arc::new(TestClock));
    std::process::exit(code);
}

/// Not a test: the exec helper's entry point (health checks, execs) when this binary is run
/// as one.
#[test]
#[allow(unsafe_code)]
fn exec_shim_entry() {
    if std::env::var_os(super::enter::ENTRY_VAR).is_none() {
        return;
    }
    // libtest runs this on a thread of its own, and joining a mount namespace takes a
    // single-threaded process (the `shoal exec-shim` subcommand is one): the helper runs in
    // a forked child, where glibc's fork leaves malloc usable.
    // SAFETY: fork takes no arguments; the child only runs the helper and leaves by _exit.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let code = super::enter::run();
        // SAFETY: ends the child without running the parent's exit handlers.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: waits for the child just forked, writing its status to a local.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    std::process::exit(if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        126
    });
}

/// A script that runs until SIGUSR1, then says bye and exits 0.
const UNTIL_USR1: &str = "trap 'echo bye; exit 0' USR1; echo ready; sleep 1000 & wait $!";

/// Where the harness's host work directory appears in every container.
const WORK: &str = "/work";

pub(super) struct OciHarness {
    state: TempDir,
    work: TempDir,
    images: Arc<DirImageSource>,
    pub(super) cgroup_parent: String,
}

/// The harness, or `None` (with the reason printed) where containers cannot run.
pub(super) fn harness() -> Option<OciHarness> {
    if crate::executor::process::sys::geteuid() != 0 {
        eprintln!("skipping oci executor test: it needs root (namespaces, mounts, cgroups)");
        return None;
    }
    let state = tempfile::tempdir().unwrap();
    let Some(layer) = busybox_rootfs(&state.path().join("layer")).unwrap() else {
        eprintln!("skipping oci executor test: no static busybox (install busybox-static)");
        return None;
    };
    let mut images = DirImageSource::new();
    let config = ImageRunConfig {
        cmd: vec!["sh".into()],
        env: vec!["FROM_IMAGE=yes".into()],
        ..ImageRunConfig::default()
    };
    images.insert(
        "busybox",
        ImageRootfs {
            layers: vec![layer.clone()],
            config,
        },
    );
    images.insert(
        "nocmd",
        ImageRootfs {
            layers: vec![layer],
            config: ImageRunConfig::default(),
        },
    );
    let name = state
        .path()
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Some(OciHarness {
        state,
        work: tempfile::tempdir().unwrap(),
        images: Arc::new(images),
        cgroup_parent: format!("shoal-test/{name}"),
    })
}

/// A harness or an early return from the test.
macro_rules! harness_or_skip {
    () => {
        match harness() {
            Some(h) => h,
            None => return,
        }
    };
}

impl OciHarness {
    pub(super) fn config(&self) -> OciConfig {
        OciConfig {
            state_dir: self.state.path().join("containers"),
            runtime_root: self.state.path().join("runtime"),
            volumes_dir: self.state.path().join("volumes"),
            cgroup_parent: self.cgroup_parent.clone(),
            shim: ShimCommand {
                program: std::env::current_exe().unwrap(),
                args: [
                    "executor::oci::tests::shim_entry",
                    "--exact",
                    "--nocapture",
                    "--test-threads=1",
                ]
                .map(String::from)
                .to_vec(),
            },
            exec_shim_args: [
                "executor::oci::tests::exec_shim_entry",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ]
            .map(String::from)
            .to_vec(),
            log_limit: 1 << 20,
            labels: Default::default(),
            images: self.images.clone(),
            volume_observer: None,
            peer_state_dirs: Vec::new(),
            health: Default::default(),
        }
    }

    fn work(&self, name: &str) -> PathBuf {
        self.work.path().join(name)
    }

    /// `script` under /bin/sh in the busybox image, with the work dir bound at /work.
    pub(super) fn shell(&self, script: &str) -> TaskSpec {
        let mut spec = shell(script);
        spec.container.image = "busybox".into();
        spec.container.extra = format!(
            r#"{{"Mounts":[{{"Type":"bind","Source":"{}","Target":"{WORK}"}}]}}"#,
            self.work.path().display()
        );
        spec
    }
}

impl Drop for OciHarness {
    /// Kills and deletes containers a failed test left behind, unmounts their rootfs and
    /// removes the test's cgroups, so nothing outlives the test run.
    fn drop(&mut self) {
        let config = self.config();
        if let Ok(entries) = std::fs::read_dir(&config.state_dir) {
            for entry in entries.flatten() {
                if let Some(task) = read_pid(&entry.path().join(TASK_PID)).filter(|p| p.alive()) {
                    let _ = crate::executor::process::sys::kill_process(task.pid, libc::SIGKILL);
                }
                let id = entry.file_name().to_string_lossy().into_owned();
                let _ = runtime::delete(&config.runtime_root, &id);
                let _ = rootfs::release(&entry.path());
            }
        }
        if let Ok(hierarchies) = std::fs::read_dir("/sys/fs/cgroup") {
            for h in hierarchies.flatten() {
                let _ = std::fs::remove_dir(h.path().join(&self.cgroup_parent));
                // The shared parent goes once the last test's is gone (busy until then).
                let _ = std::fs::remove_dir(h.path().join("shoal-test"));
            }
        }
    }
}

impl Harness for OciHarness {
    type E = OciExecutor;

    fn executor(&self) -> Arc<OciExecutor> {
        Arc::new(OciExecutor::new(self.config()).unwrap())
    }

    fn spec(&self, scenario: Scenario) -> Option<TaskSpec> {
        let with_check = |mut spec: TaskSpec, check: &str, retries| {
            spec.container.healthcheck = Some(health(check, retries));
            spec.container.dir = WORK.into();
            spec
        };
        Some(match scenario {
            Scenario::Exit(code) => self.shell(&format!("exit {code}")),
            Scenario::RunUntilStopped => {
                let mut spec = self.shell(UNTIL_USR1);
                spec.container.stop_signal = "SIGUSR1".into();
                spec
            }
            Scenario::IgnoresStop => self.shell("trap '' TERM; echo ready; sleep 1000"),
            Scenario::EnvAndDir => {
                let mut spec = self.shell("echo \"$SHOAL_GREETING\"; pwd");
                spec.container.dir = WORK.into();
                spec
            }
            Scenario::NoCommand => {
                let mut spec = TaskSpec::default();
                spec.container.image = "nocmd".into();
                spec
            }
            Scenario::Logs => {
                let script =
                    "trap 'echo bye; exit 0' USR1; echo out1; echo err1 >&2; echo out2; sleep 1000 & wait $!";
                let mut spec = self.shell(script);
                spec.container.stop_signal = "USR1".into();
                spec
            }
            Scenario::ExitWhenReleased(code) => self.shell(&format!(
                "while [ ! -e {WORK}/go ]; do sleep 0.05; done; exit {code}"
            )),
            Scenario::Healthy => {
                let mut spec = with_check(
                    self.shell("sleep 0.3; touch ready; sleep 1000 & wait $!"),
                    "test -e ready",
                    1,
                );
                if let Some(check) = spec.container.healthcheck.as_mut() {
                    check.start_period = 30_000_000_000;
                    check.start_interval = 50_000_000;
                }
                spec
            }
            Scenario::TurnsUnhealthy => with_check(self.shell("touch ok; sleep 1000 & wait $!"), "rm ok", 2),
            Scenario::NeverHealthy => with_check(self.shell("sleep 1000 & wait $!"), "exit 1", 2),
        })
    }

    fn release(&self, _task_id: &str) {
        std::fs::write(self.work("go"), b"").unwrap();
    }

    fn work_dir(&self) -> String {
        WORK.into()
    }
}

crate::executor_conformance_tests!(harness_or_skip!());

/// Every log line of a finished task.
pub(super) async fn log_lines(ex: &OciExecutor, id: &str) -> Vec<String> {
    use futures::StreamExt;
    let lines: Vec<_> = ex.logs(id, Default::default()).await.unwrap().collect().await;
    lines
        .into_iter()
        .map(|l| String::from_utf8_lossy(&l.unwrap().line).into_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_has_its_own_pid_1_hostname_rootfs_and_memory_limit() {
    let h = harness_or_skip!();
    let ex = h.executor();
    let mut spec = h.shell(
        "echo pid=$$; hostname; \
         if [ -e /etc/debian_version ]; then echo host-rootfs; else echo own-rootfs; fi; \
         cat /sys/fs/cgroup/memory/memory.limit_in_bytes; \
         ip -o link show lo | grep -q ',UP' && echo lo-up; \
         echo image-env=$FROM_IMAGE; exit 3",
    );
    spec.container.hostname = "box1".into();
    spec.resources.limits.memory_bytes = 64 << 20;
    run_task_spec(&*ex, "iso", spec).await;
    let exit = within("exit", ex.wait("iso")).await.unwrap();
    assert_eq!(exit.code, 3);
    let lines = log_lines(&ex, "iso").await;
    assert_eq!(
        lines,
        [
            "pid=1",
            "box1",
            "own-rootfs",
            &(64u64 << 20).to_string(),
            "lo-up",
            "image-env=yes"
        ],
        "{lines:?}"
    );
    ex.remove("iso").await.unwrap();
    assert!(!h.config().state_dir.join("iso").exists());
    assert!(!h.config().runtime_root.join("iso").exists());
    assert!(
        !Path::new("/sys/fs/cgroup/memory")
            .join(&h.cgroup_parent)
            .join("iso")
            .exists(),
        "the container's cgroup is removed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_cmd_runs_when_the_spec_has_none_and_mounts_apply() {
    let h = harness_or_skip!();
    let ex = h.executor();
    // The spec's Args replace the image's Cmd ("sh"); with no Command, the image's
    // Entrypoint (none) stays, so the args are the whole command line.
    let mut spec = TaskSpec::default();
    spec.container.image = "busybox".into();
    spec.container.args = vec![
        "sh".into(),
        "-c".into(),
        "touch /rofs 2>/dev/null && echo rw || echo ro; echo hi > /t/f && cat /t/f; \
         echo kept > /v/f; ulimit -n"
            .into(),
    ];
    spec.container.extra = r#"{"ReadOnly":true,"Mounts":[{"Type":"tmpfs","Target":"/t"},{"Type":"volume","Source":"data","Target":"/v"}],"Ulimits":[{"Name":"nofile","Soft":4096,"Hard":8192}]}"#.into();
    run_task_spec(&*ex, "mounts", spec).await;
    assert_eq!(within("exit", ex.wait("mounts")).await.unwrap().code, 0);
    assert_eq!(log_lines(&ex, "mounts").await, ["ro", "hi", "4096"]);
    ex.remove("mounts").await.unwrap();
    let volume = h.config().volumes_dir.join("data/_data/f");
    assert_eq!(
        std::fs::read_to_string(volume).unwrap(),
        "kept\n",
        "volumes outlive the task"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsupported_fields_and_unknown_images_are_refused() {
    let h = harness_or_skip!();
    let ex = h.executor();
    let mut spec = h.shell("true");
    spec.container.extra = r#"{"Init":true}"#.into();
    let err = ex
        .prepare(&crate::executor::conformance::task("init", spec))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no init process"), "{err}");
    assert!(
        !h.config().state_dir.join("init").exists(),
        "a refused task leaves nothing"
    );
    let mut spec = h.shell("true");
    spec.container.image = "no-such-image".into();
    let err = ex
        .prepare(&crate::executor::conformance::task("img", spec))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("No such image: no-such-image"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_capabilities_sysctls_and_user_apply_inside() {
    let h = harness_or_skip!();
    let ex = h.executor();
    let mut spec = h.shell(
        "cat /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/cpu/cpu.cfs_quota_us; \
         grep CapBnd /proc/self/status | tr -d '\\t'; cat /proc/sys/net/core/somaxconn; \
         id -u; umask; ls / >/dev/null && echo root-readable",
    );
    spec.resources.limits.pids = 50;
    spec.resources.limits.nano_cpus = 500_000_000;
    spec.container.user = "nobody".into();
    spec.container.extra = r#"{"CapabilityDrop":["ALL"],"Sysctls":{"net.core.somaxconn":"321"}}"#.into();
    run_task_spec(&*ex, "limits", spec).await;
    assert_eq!(within("exit", ex.wait("limits")).await.unwrap().code, 0);
    assert_eq!(
        log_lines(&ex, "limits").await,
        [
            "50",
            "50000",
            "CapBnd:0000000000000000",
            "321",
            "65534",
            "0022",
            "root-readable"
        ]
    );
    ex.remove("limits").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthcheck_runs_inside_the_container() {
    let h = harness_or_skip!();
    let ex = h.executor();
    // Passes only in the container's UTS namespace and rootfs, never on the host.
    let mut spec = h.shell("echo up; sleep 1000 & wait $!");
    spec.container.hostname = "hc-box".into();
    spec.container.healthcheck = Some(crate::executor::conformance::health(
        "[ \"$(hostname)\" = hc-box ] && [ ! -e /etc/debian_version ]",
        3,
    ));
    spec.container.stop_grace_period = Some(100_000_000);
    // start returns only once the check passed.
    run_task_spec(&*ex, "hc", spec).await;
    let exit = within("shutdown", ex.shutdown("hc")).await.unwrap();
    // A shell as PID 1 with no handler ignores SIGTERM (as in Docker): SIGKILL after grace.
    assert_eq!(exit.map(|e| e.code), Some(128 + i64::from(libc::SIGKILL)));
    ex.remove("hc").await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthcheck_runs_under_the_container_seccomp_filter() {
    let h = harness_or_skip!();
    let ex = h.executor();
    // Passes only with a seccomp filter loaded (mode 2); the namespace-only check of before
    // ran with none.
    let mut spec = h.shell("sleep 1000 & wait $!");
    spec.container.healthcheck = Some(crate::executor::conformance::health(
        "grep -q 'Seccomp:.*2' /proc/self/status",
        3,
    ));
    spec.container.stop_grace_period = Some(100_000_000);
    // start returns only once the check passed.
    run_task_spec(&*ex, "hcsec", spec).await;
    ex.remove("hcsec").await.unwrap();
}

/// Prepare + start latency of a cached busybox image (`cargo test -p agent --lib --
/// oci::tests::start_latency --ignored --nocapture`); prints p50 and max.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a check"]
async fn start_latency() {
    let h = harness_or_skip!();
    let ex = h.executor();
    // Alternating, so both kinds see the same machine: a fresh namespace per task, and one
    // joined namespace with the sandbox's files mounted.
    let sandboxed = crate::executor::test_netns::TestNetns::create().await;
    let (mut own, mut joined) = (Vec::new(), Vec::new());
    for i in 0..40 {
        let id = format!("lat{i}");
        let mut spec = h.shell("sleep 1000 & wait $!");
        // PID 1 ignores SIGTERM; kill at once on remove.
        spec.container.stop_grace_period = Some(0);
        let task = crate::executor::conformance::task(&id, spec);
        let begin = tokio::time::Instant::now();
        match (&sandboxed, i % 2) {
            (Some(ns), 1) => ex.prepare_in(&task, &ns.sandbox).await.unwrap(),
            _ => ex.prepare(&task).await.unwrap(),
        }
        within("start", ex.start(&id)).await.unwrap();
        if i % 2 == 1 && sandboxed.is_some() {
            joined.push(begin.elapsed());
        } else {
            own.push(begin.elapsed());
        }
        ex.remove(&id).await.unwrap();
    }
    for (what, mut took) in [("own netns", own), ("sandbox", joined)] {
        if took.is_empty() {
            continue;
        }
        took.sort();
        println!(
            "oci prepare+start ({what}): p50 {:?}, max {:?} over {}",
            took[took.len() / 2],
            took[took.len() - 1],
            took.len()
        );
    }
}

/// What a task in a sandbox prints: its namespace, the namespace's mark, the sandbox's files,
/// its hostname, whether it can write its resolv.conf; then it runs until SIGUSR1.
const SANDBOX_SCRIPT: &str = "readlink /proc/self/ns/net; cat /proc/sys/net/ipv4/ip_default_ttl; \
     cat /etc/resolv.conf; grep web-task /etc/hosts; hostname; \
     (echo x >> /etc/resolv.conf) 2>/dev/null && echo rw || echo ro; \
     trap 'exit 0' USR1; echo ready; sleep 1000 & wait $!";

/// The lines [`SANDBOX_SCRIPT`] prints in `ns` with hostname `host`.
fn sandbox_lines(ns: &crate::executor::test_netns::TestNetns, host: &str) -> Vec<String> {
    use crate::executor::test_netns::{HOSTS, MARK_TTL, RESOLV_CONF};
    let mut want = vec![ns.link(), MARK_TTL.to_string()];
    want.extend(RESOLV_CONF.lines().map(String::from));
    want.extend(HOSTS.lines().filter(|l| l.contains("web-task")).map(String::from));
    want.extend([host.to_string(), "ro".into(), "ready".into()]);
    want
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn container_joins_the_sandbox_namespace_and_files_across_an_agent_restart() {
    use crate::executor::conformance::{task, wait_ready};
    use crate::executor::test_netns::TestNetns;
    let h = harness_or_skip!();
    let Some(ns) = TestNetns::create().await else {
        return;
    };
    let host_resolv = std::fs::read("/etc/resolv.conf").ok();
    let mut spec = h.shell(SANDBOX_SCRIPT);
    spec.container.hostname = "sb-box".into();
    spec.container.stop_signal = "SIGUSR1".into();
    // The health check joins the container's namespaces exactly as `docker exec`'s helper
    // does (sys::namespace_fds); start returns only once it passed there.
    spec.container.healthcheck = Some(health(
        &format!(
            "[ \"$(readlink /proc/self/ns/net)\" = '{}' ] && grep -q 10.9.8.7 /etc/resolv.conf",
            ns.link()
        ),
        1,
    ));
    if let Some(check) = spec.container.healthcheck.as_mut() {
        check.start_period = 30_000_000_000;
        check.start_interval = 50_000_000;
    }
    // Prepared by one agent, started by the next: the bundle keeps the sandbox.
    let first = h.executor();
    first.prepare_in(&task("sbx", spec), &ns.sandbox).await.unwrap();
    drop(first);
    let ex = h.executor();
    let attached = ex.reattach().await.unwrap();
    assert_eq!(
        attached
            .iter()
            .map(|a| (a.task_id.as_str(), a.phase.clone()))
            .collect::<Vec<_>>(),
        [("sbx", crate::executor::Phase::Prepared)]
    );
    within("start", ex.start("sbx")).await.unwrap();
    wait_ready(&*ex, "sbx").await;
    assert_eq!(log_lines(&ex, "sbx").await, sandbox_lines(&ns, "sb-box"));
    assert_eq!(
        within("shutdown", ex.shutdown("sbx")).await.unwrap(),
        Some(Exit::code(0))
    );
    ex.remove("sbx").await.unwrap();
    assert!(
        netplane_exists(&ns.path),
        "the namespace is the agent's: removing the task keeps it"
    );
    assert_eq!(
        std::fs::read("/etc/resolv.conf").ok(),
        host_resolv,
        "the host's file is untouched"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sandbox_that_is_not_a_namespace_is_refused_at_prepare() {
    let h = harness_or_skip!();
    let ex = h.executor();
    let bogus = crate::executor::Sandbox {
        netns: Some(h.work("not-a-netns")),
        ..Default::default()
    };
    std::fs::write(h.work("not-a-netns"), b"").unwrap();
    let err = ex
        .prepare_in(
            &crate::executor::conformance::task("bogus", h.shell("true")),
            &bogus,
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("is not a network namespace"), "{err}");
    assert!(!h.config().state_dir.join("bogus").exists(), "nothing is left");
}

/// True while the pinned namespace at `path` is still there.
fn netplane_exists(path: &Path) -> bool {
    std::fs::File::open(path)
        .and_then(|f| crate::executor::process::sys::namespace_type(&f))
        .is_ok_and(|t| t == libc::CLONE_NEWNET)
}
