//! Issue 3 acceptance, driven by the stock docker CLI: 1 manager + 3 workers as real
//! `shoal agent` processes on loopback, running tasks as real processes.

#![allow(clippy::unwrap_used)]
// Failover and replacement times are measured on the real clock.
#![allow(clippy::disallowed_methods)]

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{Agent, eventually, stdout};

/// `docker service ps` rows of running tasks: (name, node).
fn running(m: &Agent, service: &str) -> Vec<(String, String)> {
    let out = m.docker_ok(&[
        "service",
        "ps",
        service,
        "--filter",
        "desired-state=running",
        "--format",
        "{{.Name}}|{{.Node}}|{{.CurrentState}}",
    ]);
    out.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('|').collect();
            (f.len() == 3 && f[2].starts_with("Running")).then(|| (f[0].to_string(), f[1].to_string()))
        })
        .collect()
}

fn per_node(rows: &[(String, String)]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for (_, node) in rows {
        *m.entry(node.clone()).or_default() += 1;
    }
    m
}

fn wait_running(m: &Agent, service: &str, n: usize, limit: Duration) -> Vec<(String, String)> {
    eventually(&format!("{n} running tasks of {service}"), limit, || {
        let rows = running(m, service);
        (rows.len() == n).then_some(rows)
    })
}

/// Task states of a service (all tasks, any desired state).
fn states(m: &Agent, service: &str) -> Vec<String> {
    m.docker_ok(&["service", "ps", service, "--format", "{{.CurrentState}}"])
        .lines()
        .map(|l| l.split_whitespace().next().unwrap_or("").to_string())
        .collect()
}

#[test]
fn docker_cli_runs_services_across_workers() {
    let root = tempfile::tempdir().unwrap();
    let m1 = Agent::start(root.path(), "m1");
    let mut workers = vec![
        Agent::start(root.path(), "w1"),
        Agent::start(root.path(), "w2"),
        Agent::start(root.path(), "w3"),
    ];
    m1.swarm_init();
    let token = m1
        .docker_ok(&["swarm", "join-token", "-q", "worker"])
        .trim()
        .to_string();
    for w in &workers {
        w.docker_ok(&[
            "swarm",
            "join",
            "--token",
            &token,
            "--listen-addr",
            &w.addr,
            "--advertise-addr",
            &w.addr,
            &m1.addr,
        ]);
    }
    // The manager only manages, so the spread is over the three workers.
    m1.docker_ok(&["node", "update", "--availability", "drain", "m1"]);
    eventually("4 ready nodes", Duration::from_secs(15), || {
        (m1.docker_ok(&["node", "ls", "--format", "{{.Status}}"])
            .lines()
            .filter(|l| *l == "Ready")
            .count()
            == 4)
            .then_some(())
    });

    // 6 replicas spread 2/2/2.
    m1.docker_ok(&[
        "service",
        "create",
        "--detach",
        "--name",
        "web",
        "--replicas",
        "6",
        "busybox",
        "sleep",
        "1000",
    ]);
    let rows = wait_running(&m1, "web", 6, Duration::from_secs(20));
    assert_eq!(
        per_node(&rows).into_values().collect::<Vec<_>>(),
        [2, 2, 2],
        "{rows:?}"
    );

    // The default convergence display finishes on its own.
    let out = m1.docker_ok(&[
        "service",
        "create",
        "--name",
        "shown",
        "--replicas",
        "2",
        "busybox",
        "sleep",
        "1000",
    ]);
    assert!(
        out.contains("verify: Service") && out.contains("converged"),
        "{out}"
    );
    m1.docker_ok(&["service", "rm", "shown"]);

    // A label constraint places only on labelled nodes.
    m1.docker_ok(&["node", "update", "--label-add", "type=x", "w1"]);
    m1.docker_ok(&[
        "service",
        "create",
        "--detach",
        "--name",
        "labelled",
        "--replicas",
        "3",
        "--constraint",
        "node.labels.type==x",
        "busybox",
        "sleep",
        "1000",
    ]);
    let rows = wait_running(&m1, "labelled", 3, Duration::from_secs(20));
    assert!(rows.iter().all(|(_, n)| n == "w1"), "{rows:?}");
    // A task that fits nowhere stays pending and says why.
    m1.docker_ok(&[
        "service",
        "create",
        "--detach",
        "--name",
        "nowhere",
        "--constraint",
        "node.labels.type==y",
        "busybox",
        "sleep",
        "1000",
    ]);
    eventually("nowhere explains itself", Duration::from_secs(10), || {
        let out = m1.docker_ok(&[
            "service",
            "ps",
            "nowhere",
            "--no-trunc",
            "--format",
            "{{.CurrentState}} {{.Error}}",
        ]);
        (out.contains("Pending") && out.contains("no suitable node")).then_some(())
    });
    m1.docker_ok(&["service", "rm", "labelled", "nowhere"]);

    // Drain moves tasks away.
    m1.docker_ok(&["node", "update", "--availability", "drain", "w2"]);
    let rows = eventually("web leaves w2", Duration::from_secs(20), || {
        let rows = running(&m1, "web");
        (rows.len() == 6 && rows.iter().all(|(_, n)| n != "w2")).then_some(rows)
    });
    assert_eq!(per_node(&rows).len(), 2);
    m1.docker_ok(&["node", "update", "--availability", "active", "w2"]);

    // kill -9 of a worker: its tasks run elsewhere within 10 s.
    let killed = Instant::now();
    workers[2].kill9();
    common::kill_tasks(workers[2].data_dir());
    eventually(
        "web tasks replaced after w3 died",
        Duration::from_secs(10),
        || {
            let rows = running(&m1, "web");
            (rows.len() == 6 && rows.iter().all(|(_, n)| n != "w3")).then_some(())
        },
    );
    println!(
        "worker killed → tasks running elsewhere in {:?}",
        killed.elapsed()
    );

    // Scale 6 → 12 → 2.
    m1.docker_ok(&["service", "scale", "--detach", "web=12"]);
    wait_running(&m1, "web", 12, Duration::from_secs(20));
    m1.docker_ok(&["service", "scale", "--detach", "web=2"]);
    wait_running(&m1, "web", 2, Duration::from_secs(20));

    // Rolling update, two at a time, that fails and rolls back.
    m1.docker_ok(&["service", "scale", "--detach", "web=4"]);
    wait_running(&m1, "web", 4, Duration::from_secs(20));
    m1.docker_ok(&[
        "service",
        "update",
        "--detach",
        "--update-parallelism",
        "2",
        "--update-failure-action",
        "rollback",
        "--update-monitor",
        "2s",
        "--args",
        "false",
        "web",
    ]);
    eventually("update rolled back", Duration::from_secs(40), || {
        let state = m1.docker_ok(&["service", "inspect", "web", "--format", "{{.UpdateStatus.State}}"]);
        (state.trim() == "rollback_completed").then_some(())
    });
    let args = m1.docker_ok(&[
        "service",
        "inspect",
        "web",
        "--format",
        "{{json .Spec.TaskTemplate.ContainerSpec.Args}}",
    ]);
    assert_eq!(args.trim(), r#"["sleep","1000"]"#);
    wait_running(&m1, "web", 4, Duration::from_secs(20));

    // A replicated job runs to completion.
    m1.docker_ok(&[
        "service",
        "create",
        "--detach",
        "--name",
        "job",
        "--mode",
        "replicated-job",
        "--replicas",
        "3",
        "busybox",
        "true",
    ]);
    eventually("job complete", Duration::from_secs(20), || {
        (states(&m1, "job").iter().filter(|s| *s == "Complete").count() == 3).then_some(())
    });

    // on-failure with 3 attempts stops after the third restart.
    m1.docker_ok(&[
        "service",
        "create",
        "--detach",
        "--name",
        "crash",
        "--restart-condition",
        "on-failure",
        "--restart-max-attempts",
        "3",
        "--restart-delay",
        "100ms",
        "busybox",
        "sh",
        "-c",
        "exit 3",
    ]);
    eventually("4 failed attempts", Duration::from_secs(20), || {
        (states(&m1, "crash").iter().filter(|s| *s == "Failed").count() == 4).then_some(())
    });
    // Ten restart delays later there is still no fifth attempt.
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(states(&m1, "crash").len(), 4, "{:?}", states(&m1, "crash"));

    // Logs come back from the workers.
    m1.docker_ok(&[
        "service",
        "create",
        "--detach",
        "--name",
        "talker",
        "busybox",
        "sh",
        "-c",
        "echo hi-from-talker; sleep 1000",
    ]);
    eventually("talker logs", Duration::from_secs(20), || {
        let out = m1.docker(&["service", "logs", "talker"]);
        stdout(&out).contains("hi-from-talker").then_some(())
    });

    // An agent restart keeps its tasks: same task IDs, nothing restarted.
    let before = m1.docker_ok(&["service", "ps", "web", "-q", "--filter", "desired-state=running"]);
    let on_w1 = m1.docker_ok(&["node", "ps", "w1", "-q", "--filter", "desired-state=running"]);
    workers[0].restart();
    eventually("w1 back", Duration::from_secs(15), || {
        m1.docker_ok(&["node", "ls", "--filter", "name=w1", "--format", "{{.Status}}"])
            .trim()
            .eq("Ready")
            .then_some(())
    });
    let after_w1 = m1.docker_ok(&["node", "ps", "w1", "-q", "--filter", "desired-state=running"]);
    assert_eq!(on_w1, after_w1, "tasks on the restarted node changed");
    assert_eq!(
        before,
        m1.docker_ok(&["service", "ps", "web", "-q", "--filter", "desired-state=running"])
    );

    for s in ["web", "job", "crash", "talker"] {
        m1.docker_ok(&["service", "rm", s]);
    }
}
