//! Acceptance: the stock `docker` CLI's `service` commands and `node ps` against our router
//! on a unix socket, over the fake backend (whose tasks start running at once, so the CLI's
//! convergence progress finishes).

#![allow(clippy::unwrap_used)]

mod common;
mod support;

use std::time::Duration;

use common::{FakeBackend, MANAGER_ID, WORKER_ID};
use support::{Cli, cli};
use tokio::io::{AsyncBufReadExt, BufReader};
use types::ServiceMode;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_cli_drives_services() {
    let backend = FakeBackend::new();
    let Some(Cli {
        docker,
        stop,
        dir: _dir,
    }) = cli(&backend)
    else {
        return;
    };

    // SCTP ports are refused: the routing mesh carries TCP and UDP (rules' `controlapi::supported`),
    // with dockerd's 400 and the reason.
    let published = docker
        .run(&[
            "service",
            "create",
            "--name",
            "web",
            "--publish",
            "8080:80/sctp",
            "busybox",
            "sleep",
            "1000",
        ])
        .await;
    assert!(!published.ok, "{}", published.stdout);
    assert!(
        published.stderr.contains(
            "Error response from daemon: EndpointSpec: publishing SCTP ports is not supported (8080:80/sctp)"
        ),
        "{}",
        published.stderr
    );

    // create, with the default progress display: it polls until the tasks run, then waits
    // the monitor period (5 s by default) and says the service converged.
    let created = docker
        .run(&[
            "service",
            "create",
            "--name",
            "web",
            "--replicas",
            "3",
            "busybox",
            "sleep",
            "1000",
        ])
        .await;
    assert!(created.ok, "{}{}", created.stdout, created.stderr);
    let id = created.stdout.lines().next().unwrap().trim().to_string();
    assert_eq!(id, backend.stored_service("web").id);
    assert!(
        created.stdout.contains("overall progress: 3 out of 3 tasks"),
        "{}",
        created.stdout
    );
    assert!(
        created
            .stdout
            .contains(&format!("verify: Service {id} converged")),
        "{}",
        created.stdout
    );
    let stored = backend.stored_service("web");
    assert_eq!(stored.spec.mode, ServiceMode::Replicated { replicas: 3 });
    assert_eq!(stored.spec.task.container.args, ["sleep", "1000"]);

    // ls: the REPLICAS column comes from ServiceStatus.
    let ls = docker.ok(&["service", "ls"]).await;
    let mut lines = ls.lines();
    let header = lines.next().unwrap();
    for column in ["ID", "NAME", "MODE", "REPLICAS", "IMAGE", "PORTS"] {
        assert!(header.contains(column), "{header}");
    }
    let row = lines.next().unwrap();
    assert!(row.starts_with(&id[..12]), "{row}");
    for word in ["web", "replicated", "3/3", "busybox"] {
        assert!(row.contains(word), "{row}");
    }
    assert_eq!(docker.ok(&["service", "ls", "-q"]).await.trim(), &id[..12]);

    // ps: one running task per slot, on the ready nodes.
    let ps = docker.ok(&["service", "ps", "web"]).await;
    let rows: Vec<&str> = ps.lines().skip(1).collect();
    assert_eq!(rows.len(), 3, "{ps}");
    for (slot, row) in rows.iter().enumerate() {
        assert!(row.contains(&format!("web.{}", slot + 1)), "{row}");
        assert!(row.contains("Running") && row.contains("busybox"), "{row}");
        assert!(row.contains("alpha") || row.contains("beta"), "{row}");
    }
    let full = docker
        .ok(&[
            "service",
            "ps",
            "--no-trunc",
            "--filter",
            "desired-state=running",
            "web",
        ])
        .await;
    let tasks = backend.stored_tasks(&id);
    for task in &tasks {
        assert!(full.contains(&task.id), "{full}");
    }
    let quiet = docker
        .ok(&["service", "ps", "-q", "--filter", "desired-state=shutdown", "web"])
        .await;
    assert!(quiet.trim().is_empty(), "{quiet}");

    // inspect: Docker's JSON with the defaults filled in, and the pretty form.
    let inspect = docker.ok(&["service", "inspect", "web"]).await;
    let services: serde_json::Value = serde_json::from_str(&inspect).unwrap();
    assert_eq!(services[0]["ID"], id.as_str());
    assert_eq!(services[0]["Spec"]["UpdateConfig"]["Monitor"], 5_000_000_000i64);
    // The CLI normalises the reference before sending it.
    assert_eq!(
        services[0]["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"],
        "busybox:latest"
    );
    let pretty = docker.ok(&["service", "inspect", "--pretty", "web"]).await;
    for line in [
        "Name:\t\tweb",
        "Replicas:\t3",
        "Parallelism:\t1",
        " Image:\t\tbusybox:latest",
        " Args:\t\tsleep 1000 ",
    ] {
        assert!(pretty.contains(line), "missing {line:?} in\n{pretty}");
    }
    let missing = docker.run(&["service", "inspect", "nope"]).await;
    assert!(
        !missing.ok && missing.stderr.contains("no such service: nope"),
        "{}",
        missing.stderr
    );

    // update: image, parallelism and env; a 1 s monitor keeps the rest of the test short.
    let updated = docker
        .run(&[
            "service",
            "update",
            "--image",
            "busybox:1.36",
            "--update-parallelism",
            "2",
            "--env-add",
            "GREETING=hello",
            "--update-monitor",
            "1s",
            "web",
        ])
        .await;
    assert!(updated.ok, "{}{}", updated.stdout, updated.stderr);
    // The fake daemon runs the real updater to its end inside the update call, so the CLI
    // finds the update completed at its first look and stops there.
    let stored = backend.stored_service("web");
    assert_eq!(
        stored.update_status.as_ref().map(|u| u.state),
        Some(types::UpdateState::Completed),
        "{}",
        updated.stdout
    );
    assert_eq!(stored.spec.task.container.image, "busybox:1.36");
    assert_eq!(stored.spec.task.container.env, ["GREETING=hello"]);
    assert_eq!(stored.spec.update.unwrap().parallelism, 2);

    // scale: replicas only; the running tasks are kept.
    let scaled = docker.run(&["service", "scale", "web=5"]).await;
    assert!(scaled.ok, "{}{}", scaled.stdout, scaled.stderr);
    assert!(
        scaled.stdout.starts_with("web scaled to 5\n"),
        "{}",
        scaled.stdout
    );
    assert!(
        scaled.stdout.contains("overall progress: 5 out of 5 tasks"),
        "{}",
        scaled.stdout
    );
    assert_eq!(
        backend.stored_service("web").spec.mode,
        ServiceMode::Replicated { replicas: 5 }
    );
    assert!(docker.ok(&["service", "ls"]).await.contains("5/5"));

    // update --rollback: back to the spec before the scale.
    let rolled = docker.run(&["service", "update", "--rollback", "web"]).await;
    assert!(rolled.ok, "{}{}", rolled.stdout, rolled.stderr);
    assert!(
        // The real updater ends the rollback inside the call: the CLI shows its end.
        rolled.stdout.contains("rollback: rollback completed"),
        "{}",
        rolled.stdout
    );
    assert!(
        rolled.stdout.contains("rolling back update: 3 out of 3 tasks"),
        "{}",
        rolled.stdout
    );
    assert_eq!(
        backend.stored_service("web").spec.mode,
        ServiceMode::Replicated { replicas: 3 }
    );

    // rollback: and forward again (the previous spec is the scaled one).
    let rolled = docker.run(&["service", "rollback", "web"]).await;
    assert!(rolled.ok, "{}{}", rolled.stdout, rolled.stderr);
    assert!(rolled.stdout.starts_with("web\n"), "{}", rolled.stdout);
    assert_eq!(
        backend.stored_service("web").spec.mode,
        ServiceMode::Replicated { replicas: 5 }
    );

    // logs: each line prefixed with task name and node, stderr lines on stderr.
    let logs = docker.run(&["service", "logs", "web"]).await;
    assert!(logs.ok, "{}", logs.stderr);
    let running: Vec<types::Task> = backend
        .stored_tasks(&id)
        .into_iter()
        .filter(|t| t.desired_state == types::TaskState::Running)
        .collect();
    assert_eq!(running.len(), 5);
    for task in &running {
        let node = if task.node_id == MANAGER_ID {
            "alpha"
        } else {
            "beta"
        };
        let prefix = format!("web.{}.{}@{node}    | ", task.slot, &task.id[..12]);
        assert!(
            logs.stdout.contains(&format!("{prefix}starting up\n")),
            "{prefix} in\n{}",
            logs.stdout
        );
        assert!(
            logs.stdout.contains(&format!("{prefix}ready\n")),
            "{}",
            logs.stdout
        );
        assert!(
            logs.stderr
                .contains(&format!("{prefix}warning: running on a fake daemon\n")),
            "{}",
            logs.stderr
        );
    }
    let tail = docker
        .ok(&[
            "service",
            "logs",
            "--tail",
            "1",
            "--timestamps",
            "--no-task-ids",
            "web",
        ])
        .await;
    let tail_lines: Vec<&str> = tail.lines().collect();
    assert!(tail_lines.len() >= 5, "{tail}");
    for line in &tail_lines {
        assert!(line.starts_with("2026-11-27T05:01:02.125456789Z web."), "{line}");
        assert!(line.ends_with("    | ready"), "{line}");
    }
    let task_logs = docker.ok(&["service", "logs", "--raw", &running[0].id]).await;
    assert_eq!(task_logs, "starting up\nready\n");

    // logs -f: the lines arrive and the stream stays open until the CLI is stopped.
    let mut follow = docker.spawn(&["service", "logs", "-f", "--tail", "1", "web"]);
    let mut out = BufReader::new(follow.stdout.take().unwrap()).lines();
    for _ in 0..5 {
        let line = tokio::time::timeout(Duration::from_secs(10), out.next_line())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert!(line.ends_with("    | ready"), "{line}");
    }
    assert!(
        tokio::time::timeout(Duration::from_millis(300), follow.wait())
            .await
            .is_err(),
        "still following"
    );
    follow.kill().await.unwrap();

    // node ps: this node's tasks by default, or the named node's.
    let mine = docker.ok(&["node", "ps"]).await;
    let on_worker = docker.ok(&["node", "ps", "beta"]).await;
    let count = |text: &str, node: &str| text.lines().filter(|l| l.contains(node)).count();
    let expected = |node: &str| {
        backend
            .stored_tasks(&id)
            .iter()
            .filter(|t| t.node_id == node)
            .count()
    };
    assert_eq!(count(&mine, "alpha"), expected(MANAGER_ID), "{mine}");
    assert_eq!(count(&on_worker, "beta"), expected(WORKER_ID), "{on_worker}");
    assert!(
        on_worker.lines().next().unwrap().contains("DESIRED STATE"),
        "{on_worker}"
    );

    // Other modes: a global service and a replicated job converge too.
    let global = docker
        .run(&[
            "service",
            "create",
            "--name",
            "agent",
            "--mode",
            "global",
            "--update-monitor",
            "500ms",
            "busybox",
            "top",
        ])
        .await;
    assert!(
        global.ok && global.stdout.contains("overall progress: 2 out of 2 tasks"),
        "{}{}",
        global.stdout,
        global.stderr
    );
    let job = docker
        .run(&[
            "service",
            "create",
            "--name",
            "batch",
            "--mode",
            "replicated-job",
            "--replicas",
            "2",
            "busybox",
            "true",
        ])
        .await;
    assert!(
        job.ok && job.stdout.contains("job complete"),
        "{}{}",
        job.stdout,
        job.stderr
    );
    let ls = docker.ok(&["service", "ls"]).await;
    assert!(
        ls.lines()
            .any(|l| l.contains("agent") && l.contains("global") && l.contains("2/2")),
        "{ls}"
    );
    assert!(
        ls.lines()
            .any(|l| l.contains("batch") && l.contains("(2/2 completed)")),
        "{ls}"
    );

    // rm: gone, with its tasks.
    assert_eq!(
        docker.ok(&["service", "rm", "web", "agent", "batch"]).await,
        "web\nagent\nbatch\n"
    );
    assert!(docker.ok(&["service", "ls", "-q"]).await.trim().is_empty());
    let gone = docker.run(&["service", "rm", "web"]).await;
    assert!(
        !gone.ok && gone.stderr.contains("service web not found"),
        "{}",
        gone.stderr
    );
    assert!(backend.stored_tasks(&id).is_empty());

    let _ = stop.send(());
}

/// What `docker service inspect` shows of zero-valued flags, of a new service's update status
/// and of a replicated job of zero, as dockerd shows them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_cli_sees_zero_values_as_dockerd_shows_them() {
    let backend = FakeBackend::new();
    let Some(Cli {
        docker,
        stop,
        dir: _dir,
    }) = cli(&backend)
    else {
        return;
    };
    docker
        .ok(&[
            "service",
            "create",
            "--detach",
            "--name",
            "zeros",
            "--restart-window",
            "0",
            "--restart-max-attempts",
            "0",
            "--update-delay",
            "0",
            "busybox",
            "sleep",
            "1000",
        ])
        .await;
    let inspect = |format: &'static str| {
        let docker = &docker;
        async move {
            docker
                .ok(&["service", "inspect", "--format", format, "zeros"])
                .await
                .trim()
                .to_string()
        }
    };
    assert_eq!(
        inspect("{{json .Spec.TaskTemplate.RestartPolicy}}").await,
        r#"{"Condition":"any","Delay":5000000000,"MaxAttempts":0,"Window":0}"#
    );
    // dockerd's UpdateConfig.Delay is omitted when zero.
    assert!(!inspect("{{json .Spec.UpdateConfig}}").await.contains("Delay"));
    assert_eq!(inspect("{{json .UpdateStatus}}").await, "null");

    // Without the window flag there is no Window, as dockerd.
    docker
        .ok(&[
            "service", "create", "--detach", "--name", "plain", "busybox", "sleep", "1000",
        ])
        .await;
    let plain = docker
        .ok(&[
            "service",
            "inspect",
            "--format",
            "{{json .Spec.TaskTemplate.RestartPolicy}}",
            "plain",
        ])
        .await;
    assert_eq!(
        plain.trim(),
        r#"{"Condition":"any","Delay":5000000000,"MaxAttempts":0}"#
    );

    // `--mode replicated-job --replicas 0`: accepted (SwarmKit takes 0 of both), done at once.
    let job = docker
        .run(&[
            "service",
            "create",
            "--name",
            "none",
            "--mode",
            "replicated-job",
            "--replicas",
            "0",
            "busybox",
            "true",
        ])
        .await;
    assert!(job.ok, "{}{}", job.stdout, job.stderr);
    assert_eq!(
        backend.stored_service("none").spec.mode,
        ServiceMode::ReplicatedJob {
            max_concurrent: 0,
            total_completions: 0
        }
    );
    let _ = stop.send(());
}
