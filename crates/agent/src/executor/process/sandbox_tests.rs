//! A native task in a network sandbox: its process, its health checks and `docker exec` run
//! in the sandbox's namespace and see its resolv.conf and hosts, as the task's user; the
//! host's own files and mounts stay as they were. Needs root (skipped otherwise).

use tokio::io::AsyncReadExt;

use super::tests::harness;
use super::*;
use crate::executor::conformance::{Harness, health, shell, task, wait_ready, within};
use crate::executor::exec::ExecSpec;
use crate::executor::test_netns::{HOSTS, MARK_TTL, RESOLV_CONF, TestNetns};

/// Mount lines naming `/etc/resolv.conf` or `/etc/hosts` in this process's mount table.
fn etc_mounts() -> usize {
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains(" /etc/resolv.conf ") || l.contains(" /etc/hosts "))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_health_check_and_exec_run_in_the_sandbox_as_the_tasks_user() {
    let Some(ns) = TestNetns::create().await else {
        return;
    };
    let h = harness();
    let ex = h.executor();
    let host_files = (
        std::fs::read("/etc/resolv.conf").ok(),
        std::fs::read("/etc/hosts").ok(),
    );
    let host_mounts = etc_mounts();
    let mut spec = shell(
        "readlink /proc/self/ns/net; cat /proc/sys/net/ipv4/ip_default_ttl; cat /etc/resolv.conf; \
         grep web-task /etc/hosts; id -u; (echo x >> /etc/resolv.conf) 2>/dev/null && echo rw || echo ro; \
         trap 'exit 0' USR1; echo ready; sleep 1000 & wait $!",
    );
    spec.container.user = "nobody".into();
    spec.container.stop_signal = "SIGUSR1".into();
    spec.container.healthcheck = Some(health(
        &format!(
            "[ \"$(readlink /proc/self/ns/net)\" = '{}' ] && grep -q 10.9.8.7 /etc/resolv.conf && [ $(id -u) = 65534 ]",
            ns.link()
        ),
        1,
    ));
    if let Some(check) = spec.container.healthcheck.as_mut() {
        check.start_period = 30_000_000_000;
        check.start_interval = 50_000_000;
    }
    ex.prepare_in(&task("psb", spec), &ns.sandbox).await.unwrap();
    // start returns only once the check passed inside the sandbox.
    within("start", ex.start("psb")).await.unwrap();
    wait_ready(&*ex, "psb").await;

    let mut want = vec![ns.link(), MARK_TTL.to_string()];
    want.extend(RESOLV_CONF.lines().map(String::from));
    want.extend(HOSTS.lines().filter(|l| l.contains("web-task")).map(String::from));
    want.extend(["65534".to_string(), "ro".into(), "ready".into()]);
    assert_eq!(log_lines(&ex, "psb").await, want);

    let exec = ExecSpec {
        argv: [
            "sh",
            "-c",
            "readlink /proc/self/ns/net; head -n 1 /etc/resolv.conf; id -u",
        ]
        .map(String::from)
        .to_vec(),
        ..ExecSpec::default()
    };
    let mut p = ex.exec("psb", &exec).await.unwrap();
    let mut out = String::new();
    within("exec output", p.stdout.read_to_string(&mut out))
        .await
        .unwrap();
    assert!(within("exec exit", p.child.wait()).await.unwrap().success());
    assert_eq!(out, format!("{}\nnameserver 10.9.8.7\n65534\n", ns.link()));

    assert_eq!(
        within("shutdown", ex.shutdown("psb")).await.unwrap(),
        Some(Exit::code(0))
    );
    ex.remove("psb").await.unwrap();
    assert_eq!(
        (
            std::fs::read("/etc/resolv.conf").ok(),
            std::fs::read("/etc/hosts").ok()
        ),
        host_files,
        "the host's files are untouched"
    );
    assert_eq!(etc_mounts(), host_mounts, "no mount reached the host's namespace");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sandbox_with_a_missing_file_is_refused_at_prepare() {
    let h = harness();
    let ex = h.executor();
    let missing = crate::executor::Sandbox {
        resolv_conf: Some(h.work("no-such-resolv.conf")),
        ..Default::default()
    };
    let err = ex
        .prepare_in(&task("missing", shell("true")), &missing)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("sandbox file for /etc/resolv.conf"),
        "{err}"
    );
    assert!(matches!(ex.start("missing").await, Err(Error::NotFound(_))));
}

/// Every log line of a task.
async fn log_lines(ex: &ProcessExecutor, id: &str) -> Vec<String> {
    use futures::StreamExt;
    let lines: Vec<_> = ex.logs(id, Default::default()).await.unwrap().collect().await;
    lines.into_iter().map(|l| l.unwrap().text()).collect()
}
