//! `shoal service …` and `shoal node ps` end to end.

use super::common::MANAGER_ID;
use super::{Console, TestCli, execute, serve};
use clap::Parser;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shoal_service_commands_drive_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let (shoal, backend, stop) = serve(dir.path());

    // SCTP ports are refused (the routing mesh carries TCP and UDP), and the CLI shows why.
    let published = shoal
        .run(&[
            "service",
            "create",
            "--name",
            "web",
            "-p",
            "8080:80/sctp",
            "busybox",
            "sleep",
            "1",
        ])
        .await;
    assert!(
        !published.ok
            && published
                .stderr
                .contains("publishing SCTP ports is not supported (8080:80/sctp)"),
        "{}",
        published.stderr
    );

    let create = shoal
        .ok(&[
            "service",
            "create",
            "--name",
            "web",
            "--replicas",
            "3",
            "-e",
            "A=1",
            "--label",
            "team=x",
            "--container-label",
            "c=1",
            "--restart-condition",
            "on-failure",
            "--restart-delay",
            "2s",
            "--limit-memory",
            "64m",
            "--reserve-cpu",
            "0.5",
            "--update-parallelism",
            "2",
            "--update-monitor",
            "1s",
            "--rollback-order",
            "start-first",
            "--placement-pref",
            "spread=node.labels.zone",
            "--constraint",
            "node.role==manager",
            "-w",
            "/srv",
            "-u",
            "nobody",
            "--health-cmd",
            "true",
            "--health-interval",
            "5s",
            "busybox",
            "sleep",
            "1000",
        ])
        .await;
    let id = create.stdout.lines().next().unwrap().to_string();
    let stored = backend.stored_service("web");
    assert_eq!(id, stored.id);
    assert!(
        create.stdout.contains("overall progress: 3 out of 3 tasks\n"),
        "{}",
        create.stdout
    );
    assert!(create.stdout.contains("1/3: running\n"), "{}", create.stdout);
    assert!(
        create
            .stdout
            .ends_with(&format!("verify: Service {id} converged\n")),
        "{}",
        create.stdout
    );
    let task = &stored.spec.task;
    assert_eq!(stored.spec.mode, types::ServiceMode::Replicated { replicas: 3 });
    assert_eq!(task.container.args, ["sleep", "1000"]);
    assert_eq!(
        (
            task.container.env.as_slice(),
            task.container.dir.as_str(),
            task.container.user.as_str()
        ),
        (&["A=1".to_string()][..], "/srv", "nobody")
    );
    assert_eq!(
        task.container.healthcheck.as_ref().unwrap().test,
        ["CMD-SHELL", "true"]
    );
    assert_eq!(task.restart.condition, types::RestartCondition::OnFailure);
    assert_eq!(task.restart.delay, Some(2_000_000_000));
    assert_eq!(
        (
            task.resources.limits.memory_bytes,
            task.resources.reservations.nano_cpus
        ),
        (64 << 20, 500_000_000)
    );
    assert_eq!(task.placement.preferences, ["node.labels.zone"]);
    assert_eq!(stored.spec.update.unwrap().parallelism, 2);
    assert_eq!(
        stored.spec.rollback.unwrap().order,
        types::UpdateOrder::StartFirst
    );
    assert_eq!(stored.spec.labels.get("team").map(String::as_str), Some("x"));

    let ls = shoal.ok(&["service", "ls"]).await.stdout;
    assert_eq!(
        ls,
        format!(
            "ID             NAME      MODE         REPLICAS   IMAGE            PORTS\n{}   web       replicated   3/3        busybox:latest   \n",
            &id[..12]
        )
    );
    assert_eq!(
        shoal.ok(&["service", "ls", "-q"]).await.stdout,
        format!("{}\n", &id[..12])
    );

    let ps = shoal.ok(&["service", "ps", "web"]).await.stdout;
    let rows: Vec<&str> = ps.lines().collect();
    assert!(
        rows[0]
            .starts_with("ID             NAME      IMAGE            NODE      DESIRED STATE   CURRENT STATE"),
        "{ps}"
    );
    assert_eq!(rows.len(), 4, "{ps}");
    assert!(
        rows[1].contains(" web.1 ") && rows[1].contains("Running") && rows[1].contains(" ago"),
        "{ps}"
    );
    let tasks = backend.stored_tasks(&id);
    let full = shoal
        .ok(&[
            "service",
            "ps",
            "--no-trunc",
            "--filter",
            "desired-state=running",
            "web",
        ])
        .await
        .stdout;
    assert!(tasks.iter().all(|t| full.contains(&t.id)), "{full}");
    let missing = shoal.run(&["service", "ps", "web", "nope"]).await;
    assert!(
        !missing.ok && missing.stderr.contains("no such service: nope") && missing.stdout.contains("web.1")
    );

    let inspect = shoal.ok(&["service", "inspect", "web"]).await.stdout;
    let json: serde_json::Value = serde_json::from_str(&inspect).unwrap();
    assert_eq!(json[0]["Spec"]["Name"], "web");
    assert_eq!(json[0]["Spec"]["UpdateConfig"]["Parallelism"], 2);
    assert_eq!(
        json[0]["Spec"]["TaskTemplate"]["ContainerSpec"]["StopGracePeriod"],
        10_000_000_000i64
    );
    let pretty = shoal.ok(&["service", "inspect", "--pretty", "web"]).await.stdout;
    assert!(
        pretty.contains("Name:\t\tweb\n") && pretty.contains(" Replicas:\t3\n"),
        "{pretty}"
    );

    let scale = shoal.ok(&["service", "scale", "web=5"]).await.stdout;
    assert!(
        scale.starts_with("web scaled to 5\n") && scale.contains("5 out of 5 tasks"),
        "{scale}"
    );
    let bad = shoal.run(&["service", "scale", "web"]).await;
    assert!(
        !bad.ok && bad.stderr.contains("invalid scale specifier"),
        "{}",
        bad.stderr
    );

    let update = shoal
        .ok(&[
            "service",
            "update",
            "--image",
            "busybox:2",
            "--env-add",
            "B=2",
            "--env-rm",
            "A",
            "--label-rm",
            "team",
            "web",
        ])
        .await
        .stdout;
    // The fake daemon runs the real updater to its end inside the update call, so the CLI
    // finds the update completed at its first look and stops there, as docker's does.
    assert!(update.starts_with("web\n"), "{update}");
    let stored = backend.stored_service("web");
    assert_eq!(
        stored.update_status.as_ref().map(|u| u.state),
        Some(types::UpdateState::Completed),
        "{update}"
    );
    assert_eq!(stored.spec.task.container.image, "busybox:2");
    assert_eq!(stored.spec.task.container.env, ["B=2"]);
    assert!(stored.spec.labels.is_empty());
    assert_eq!(stored.spec.mode, types::ServiceMode::Replicated { replicas: 5 });

    let mixed = shoal
        .run(&["service", "update", "--rollback", "--image", "x", "web"])
        .await;
    assert!(
        !mixed.ok
            && mixed
                .stderr
                .contains("other flags may not be combined with --rollback")
    );
    let rolled = shoal.ok(&["service", "update", "--rollback", "web"]).await.stdout;
    // The real updater finishes the rollback inside the call: the CLI shows its end.
    assert!(rolled.contains("rollback: rollback completed\n"), "{rolled}");
    assert!(
        rolled.contains("overall progress: rolling back update: 5 out of 5 tasks"),
        "{rolled}"
    );
    assert_eq!(
        backend.stored_service("web").spec.task.container.image,
        "busybox:latest"
    );
    shoal.ok(&["service", "rollback", "-q", "web"]).await;
    assert_eq!(
        backend.stored_service("web").spec.task.container.image,
        "busybox:2"
    );

    let logs = shoal.ok(&["service", "logs", "web"]).await;
    let running: Vec<types::Task> = backend
        .stored_tasks(&id)
        .into_iter()
        .filter(|t| t.desired_state == types::TaskState::Running)
        .collect();
    for task in &running {
        let node = if task.node_id == MANAGER_ID {
            "alpha"
        } else {
            "beta"
        };
        let prefix = format!("web.{}.{}@{node}    | ", task.slot, &task.id[..12]);
        assert!(
            logs.stdout.contains(&format!("{prefix}starting up\n")),
            "{prefix}\n{}",
            logs.stdout
        );
        assert!(
            logs.stderr
                .contains(&format!("{prefix}warning: running on a fake daemon\n")),
            "{}",
            logs.stderr
        );
    }
    let tail = shoal
        .ok(&["service", "logs", "--tail", "1", "-t", "--no-task-ids", "web"])
        .await
        .stdout;
    assert!(
        tail.lines()
            .all(|l| l.starts_with("2026-11-27T05:01:02.125456789Z web.") && l.ends_with("    | ready")),
        "{tail}"
    );
    let raw = shoal.ok(&["service", "logs", "--raw", &running[0].id]).await;
    assert_eq!(
        (raw.stdout.as_str(), raw.stderr.as_str()),
        ("starting up\nready\n", "warning: running on a fake daemon\n")
    );
    let nothing = shoal.run(&["service", "logs", "nothing"]).await;
    assert!(
        !nothing.ok && nothing.stderr.contains("no such task or service: nothing"),
        "{}",
        nothing.stderr
    );

    // -f keeps streaming: the lines arrive and the command is still running.
    let (mut console, out, _err) = Console::captured();
    let cli = TestCli::try_parse_from([
        "shoal",
        "service",
        "logs",
        "-f",
        "--tail",
        "1",
        "web",
        "-H",
        shoal.host.as_str(),
    ])
    .unwrap();
    let follow = tokio::time::timeout(
        std::time::Duration::from_millis(1500),
        execute(cli.command, &cli.connection, &mut console),
    )
    .await;
    assert!(follow.is_err(), "still following");
    // Shut-down tasks logged too, as Swarm keeps their logs.
    for task in &running {
        assert!(
            out.text().contains(&format!(".{}@", &task.id[..12])),
            "{}",
            out.text()
        );
    }

    let node_ps = shoal.ok(&["node", "ps"]).await.stdout;
    let on_alpha = backend
        .stored_tasks(&id)
        .iter()
        .filter(|t| t.node_id == MANAGER_ID)
        .count();
    assert_eq!(node_ps.lines().count(), on_alpha + 1, "{node_ps}");
    assert!(node_ps.lines().skip(1).all(|l| l.contains("alpha")), "{node_ps}");
    let beta = shoal
        .ok(&["node", "ps", "beta", "--filter", "desired-state=running"])
        .await
        .stdout;
    assert!(
        beta.lines()
            .skip(1)
            .all(|l| l.contains("beta") && l.contains("Running")),
        "{beta}"
    );

    let global = shoal
        .ok(&[
            "service", "create", "--name", "agent", "--mode", "global", "busybox", "top",
        ])
        .await
        .stdout;
    assert!(global.contains("overall progress: 2 out of 2 tasks"), "{global}");
    let job = shoal
        .ok(&[
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
        .await
        .stdout;
    assert!(
        job.contains("job progress: 2 out of 2 complete\n") && job.ends_with("job complete\n"),
        "{job}"
    );
    let detached = shoal
        .ok(&["service", "create", "-d", "--name", "quiet", "busybox"])
        .await
        .stdout;
    assert_eq!(detached.lines().count(), 1, "{detached}");
    let ls = shoal.ok(&["service", "ls"]).await.stdout;
    assert!(
        ls.lines()
            .any(|l| l.contains("batch") && l.contains("replicated job") && l.contains("(2/2 completed)")),
        "{ls}"
    );
    assert!(
        ls.lines()
            .any(|l| l.contains("agent") && l.contains("global") && l.contains("2/2")),
        "{ls}"
    );

    let conflict = shoal
        .run(&["service", "create", "--name", "web", "busybox"])
        .await;
    assert!(
        !conflict.ok && conflict.stderr.contains("already exists"),
        "{}",
        conflict.stderr
    );
    let bad_mode = shoal
        .run(&[
            "service",
            "create",
            "--mode",
            "global",
            "--replicas",
            "2",
            "busybox",
        ])
        .await;
    assert!(
        !bad_mode.ok && bad_mode.stderr.contains("replicas can only be used"),
        "{}",
        bad_mode.stderr
    );

    let rm = shoal
        .run(&["service", "rm", "web", "nope", "agent", "batch", "quiet"])
        .await;
    assert!(
        !rm.ok && rm.stderr.contains("service nope not found"),
        "{}",
        rm.stderr
    );
    assert_eq!(rm.stdout, "web\nagent\nbatch\nquiet\n");
    assert_eq!(shoal.ok(&["service", "ls", "-q"]).await.stdout, "");
    assert!(backend.stored_tasks(&id).is_empty());

    let _ = stop.send(());
}
