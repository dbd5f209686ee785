//! Acceptance: `docker events` against a real agent: a task container's create/start/die,
//! image import/tag/untag/delete, service create/update and secret, config and network
//! create/remove events, replayed with
//! `--since`/`--until`, filtered, and streamed live.

#![allow(clippy::unwrap_used, clippy::disallowed_methods)]

#[path = "../../image/tests/common/build.rs"]
#[allow(dead_code)]
mod build;
mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{Agent, eventually, kill_tasks};
use serde_json::Value;

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// `docker events --since … --until … [args]` as parsed JSON lines.
fn events(agent: &Agent, since: f64, until: f64, args: &[&str]) -> Vec<Value> {
    let (since, until) = (format!("{since:.3}"), format!("{until:.3}"));
    let mut all = vec![
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--format",
        "{{json .}}",
    ];
    all.extend_from_slice(args);
    agent
        .docker_ok(&all)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn actions(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["Action"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn docker_events_reports_task_containers_and_images() {
    let root = tempfile::tempdir().unwrap();
    let agent = Agent::start(root.path(), "ev");
    agent.swarm_init();
    let t0 = unix_now() - 1.0;

    // A task that runs and exits 3, not restarted.
    agent.docker_ok(&[
        "service",
        "create",
        "-d",
        "--name",
        "ev",
        "--restart-condition",
        "none",
        "busybox",
        "sh",
        "-c",
        "exit 3",
    ]);
    let task_id = eventually("the task to fail", Duration::from_secs(30), || {
        let out = agent.docker_ok(&[
            "service",
            "ps",
            "ev",
            "--no-trunc",
            "--format",
            "{{.ID}} {{.CurrentState}}",
        ]);
        let line = out.lines().next()?.to_string();
        line.contains("Failed")
            .then(|| line.split(' ').next().unwrap().to_string())
    });

    // An image from a tar with no registry: import, tag, untag, delete.
    let tar = root.path().join("rootfs.tar");
    std::fs::write(&tar, build::Tar::default().file("hello", 0o644, b"hi").finish()).unwrap();
    let image_id = agent
        .docker_ok(&["import", tar.to_str().unwrap(), "ev-img:1"])
        .trim()
        .to_string();
    agent.docker_ok(&["tag", "ev-img:1", "ev-img:2"]);
    agent.docker_ok(&["rmi", "ev-img:2"]);
    agent.docker_ok(&["rmi", "ev-img:1"]);
    agent.docker_ok(&["service", "update", "-d", "--label-add", "x=1", "ev"]);
    let t1 = unix_now() + 1.0;

    // The container events, as dockerd names and labels task containers.
    let container = events(&agent, t0, t1, &["--filter", "type=container"]);
    assert_eq!(actions(&container), ["create", "start", "die"], "{container:#?}");
    let die = &container[2];
    let name = format!("ev.1.{task_id}");
    // The container ID is the SHA-256 of the task ID, as `docker ps` shows it.
    assert_eq!(
        die["Actor"]["ID"],
        api::containers::container_id(&task_id).as_str()
    );
    assert_eq!(die["Actor"]["Attributes"]["name"], name.as_str());
    assert_eq!(die["Actor"]["Attributes"]["exitCode"], "3");
    assert_eq!(die["Actor"]["Attributes"]["image"], "busybox:latest");
    assert_eq!(die["Actor"]["Attributes"]["com.docker.swarm.service.name"], "ev");
    assert_eq!(
        die["Actor"]["Attributes"]["com.docker.swarm.task.id"],
        task_id.as_str()
    );
    assert_eq!(die["scope"], "local");
    assert!(die["timeNano"].as_i64().unwrap() >= (t0 * 1e9) as i64);

    // The image events.
    let images = events(&agent, t0, t1, &["--filter", "type=image"]);
    assert_eq!(
        actions(&images),
        ["import", "tag", "untag", "untag", "delete"],
        "{images:#?}"
    );
    assert_eq!(images[1]["Actor"]["ID"], image_id.as_str());
    assert_eq!(images[1]["Actor"]["Attributes"]["name"], "ev-img:2");
    assert_eq!(images[4]["Actor"]["ID"], image_id.as_str());

    // Swarm events: the service's create and update, scope swarm.
    let services = events(&agent, t0, t1, &["--filter", "type=service"]);
    // The label update, and the rollout's progress (`updatestate.*`, as dockerd reports it: the
    // first rollout pauses, its task exiting 3) in whichever order the two commit.
    assert_eq!(actions(&services)[0], "create", "{services:#?}");
    assert!(services.len() >= 2, "{services:#?}");
    assert!(
        services[1..].iter().all(|e| e["Action"] == "update"),
        "{services:#?}"
    );
    assert_eq!(services[0]["scope"], "swarm");
    assert_eq!(services[0]["Actor"]["Attributes"]["name"], "ev");
    let swarm_scope = events(
        &agent,
        t0,
        t1,
        &["--filter", "scope=swarm", "--filter", "service=ev"],
    );
    assert_eq!(swarm_scope.len(), services.len(), "{swarm_scope:#?}");

    // Filters: event, container (by name), image, label; and values of one key are alternatives.
    let die_only = events(&agent, t0, t1, &["--filter", "event=die"]);
    assert_eq!(actions(&die_only), ["die"]);
    let by_name = events(&agent, t0, t1, &["--filter", &format!("container={name}")]);
    assert_eq!(actions(&by_name), ["create", "start", "die"]);
    let by_image = events(&agent, t0, t1, &["--filter", "image=ev-img:2"]);
    assert_eq!(actions(&by_image), ["tag", "untag"]);
    let by_label = events(
        &agent,
        t0,
        t1,
        &["--filter", "label=com.docker.swarm.service.name=ev"],
    );
    assert_eq!(by_label.len(), 3);
    let either = events(
        &agent,
        t0,
        t1,
        &["--filter", "event=start", "--filter", "event=tag"],
    );
    assert_eq!(actions(&either), ["start", "tag"]);
    // A window before anything happened is empty; a bad filter is refused.
    assert!(events(&agent, t0 - 100.0, t0 - 50.0, &[]).is_empty());
    let bad = agent.docker(&["events", "--until", "1", "--filter", "colour=red"]);
    assert!(!bad.status.success());
    assert!(
        common::stderr(&bad).contains("invalid filter 'colour'"),
        "{}",
        common::stderr(&bad)
    );

    let backwards = agent.docker(&["events", "--since", "100", "--until", "50"]);
    assert!(!backwards.status.success());
    assert!(
        common::stderr(&backwards).contains("`since` time (100"),
        "{}",
        common::stderr(&backwards)
    );

    // Live: a client with no `until` sees an event as it happens, and the stream stays open.
    let mut live = Command::new("docker")
        .arg("-H")
        .arg(format!("unix://{}", agent.sock.display()))
        .args([
            "events",
            "--filter",
            "event=tag",
            "--format",
            "{{.Actor.Attributes.name}}",
        ])
        .arg("--since")
        .arg(format!("{:.3}", unix_now()))
        .env_remove("DOCKER_CONTEXT")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = live.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if tx.send(line.unwrap_or_default()).is_err() {
                return;
            }
        }
    });
    agent.docker_ok(&["import", tar.to_str().unwrap(), "ev-img:3"]);
    agent.docker_ok(&["tag", "ev-img:3", "ev-img:live"]);
    let line = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("a live tag event");
    assert_eq!(line, "ev-img:live");
    assert_eq!(live.try_wait().unwrap(), None, "the stream stays open");
    live.kill().unwrap();
    live.wait().unwrap();
    kill_tasks(agent.data_dir());
}

#[test]
fn docker_events_reports_secrets_configs_and_networks() {
    let root = tempfile::tempdir().unwrap();
    let agent = Agent::start(root.path(), "evs");
    agent.swarm_init();
    let t0 = unix_now();
    let payload = root.path().join("payload");
    std::fs::write(&payload, b"s3cret").unwrap();
    let payload = payload.to_str().unwrap();
    let secret = agent.docker_ok(&["secret", "create", "ev-pass", payload]);
    let config = agent.docker_ok(&["config", "create", "ev-conf", payload]);
    let network = agent.docker_ok(&["network", "create", "-d", "overlay", "ev-net"]);
    agent.docker_ok(&["secret", "rm", "ev-pass"]);
    agent.docker_ok(&["config", "rm", "ev-conf"]);
    agent.docker_ok(&["network", "rm", "ev-net"]);

    // The events follow the commits: wait for the last one before reading a closed window.
    let removes = eventually("three remove events", Duration::from_secs(20), || {
        let found = events(
            &agent,
            t0,
            unix_now() + 1.0,
            &["--filter", "scope=swarm", "--filter", "event=remove"],
        );
        (found.len() >= 3).then_some(found)
    });
    assert_eq!(removes.len(), 3, "{removes:#?}");
    let t1 = unix_now() + 1.0;
    for (kind, name, id) in [
        ("secret", "ev-pass", secret.trim()),
        ("config", "ev-conf", config.trim()),
        ("network", "ev-net", network.trim()),
    ] {
        let filter = format!("type={kind}");
        let seen = events(
            &agent,
            t0,
            t1,
            &["--filter", &filter, "--filter", &format!("{kind}={name}")],
        );
        assert_eq!(actions(&seen), ["create", "remove"], "{kind}: {seen:#?}");
        for event in &seen {
            assert_eq!(event["Type"], kind);
            assert_eq!(event["scope"], "swarm");
            assert_eq!(event["Actor"]["ID"], id, "{event:#}");
            assert_eq!(event["Actor"]["Attributes"]["name"], name);
        }
    }
    // `type=service` shows none of them.
    assert!(events(&agent, t0, t1, &["--filter", "type=service"]).is_empty());
    kill_tasks(agent.data_dir());
}
