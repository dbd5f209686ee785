//! The stock docker CLI's container commands on a `shoal agent` socket, for the node's task
//! containers on the default (oci) executor: `docker ps` (Swarm's names and labels,
//! filters), `inspect`, `logs`, `top`, `stats --no-stream`, `wait`, `kill` (the service
//! replaces the task), `stop`, and dockerd's 404 for an unknown container. Root only, with a
//! loopback `docker-registry` holding a busybox-static image.
#![allow(clippy::disallowed_methods, clippy::unwrap_used, dead_code, unsafe_code)]

mod common;

#[path = "../../image/tests/common/build.rs"]
mod build;
#[path = "common/busybox.rs"]
mod busybox;
#[path = "../../image/tests/common/registry.rs"]
mod registry;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use busybox::{Cleanup, push_busybox, skip_reason};
use common::{Agent, eventually, stderr, stdout};
use oci_client::secrets::RegistryAuth;

const LIMIT: Duration = Duration::from_secs(60);

/// The running task of `service` (its ID), once there is exactly one.
fn running_task(agent: &Agent, service: &str) -> String {
    eventually(&format!("{service} running"), LIMIT, || {
        let out = agent.docker_ok(&[
            "service",
            "ps",
            "--no-trunc",
            "--filter",
            "desired-state=running",
            "--format",
            "{{.ID}} {{.CurrentState}}",
            service,
        ]);
        let running: Vec<&str> = out
            .lines()
            .filter(|l| l.contains(" Running"))
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        (running.len() == 1).then(|| running[0].to_owned())
    })
}

#[test]
fn docker_container_commands_see_and_drive_task_containers() {
    if let Some(why) = skip_reason() {
        eprintln!("skipping: {why}");
        return;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let registry = rt.block_on(registry::Registry::start(None));
    rt.block_on(push_busybox(&registry.addr, &RegistryAuth::Anonymous));
    let root = tempfile::tempdir().unwrap();
    let agent = Agent::start_default_executor(root.path(), "n1");
    let _cleanup = Cleanup {
        data_dir: agent.data_dir().to_path_buf(),
        task_ids: Vec::new(),
    };
    agent.swarm_init();
    let image = format!("{}/busybox:latest", registry.addr);
    agent.docker_ok(&[
        "service",
        "create",
        "--detach",
        "--name",
        "web",
        "--no-healthcheck",
        "--container-label",
        "app=front",
        "--env",
        "GREETING=hi",
        "--stop-grace-period",
        "2s",
        &image,
        "sh",
        "-c",
        "echo out-$GREETING; echo err-line >&2; exec busybox sleep 100000",
    ]);
    let task = running_task(&agent, "web");
    let node = agent
        .docker_ok(&["node", "ls", "--format", "{{.ID}}"])
        .trim()
        .to_owned();
    let name = format!("web.1.{task}");

    // docker ps: Swarm's name and labels; the ID is 64 hex digits shown as 12.
    let ps = agent.docker_ok(&[
        "ps",
        "--no-trunc",
        "--format",
        "{{.ID}}|{{.Names}}|{{.Label \"com.docker.swarm.service.name\"}}|{{.Label \"com.docker.swarm.task.id\"}}|{{.Label \"com.docker.swarm.node.id\"}}|{{.Label \"app\"}}|{{.State}}",
    ]);
    let fields: Vec<&str> = ps.trim().split('|').collect();
    assert_eq!(fields.len(), 7, "{ps}");
    let id = fields[0].to_owned();
    assert_eq!(id.len(), 64, "{ps}");
    assert!(id.chars().all(|c| c.is_ascii_hexdigit()), "{ps}");
    assert_eq!(
        &fields[1..],
        [
            name.as_str(),
            "web",
            task.as_str(),
            node.as_str(),
            "front",
            "running"
        ]
    );
    let short = agent.docker_ok(&["ps", "-q"]);
    assert_eq!(short.trim(), &id[..12]);
    // Filters.
    let by_label = agent.docker_ok(&["ps", "-q", "--filter", "label=com.docker.swarm.service.name=web"]);
    assert_eq!(by_label.trim(), &id[..12]);
    assert!(
        agent
            .docker_ok(&["ps", "-q", "--filter", "name=nope"])
            .trim()
            .is_empty()
    );
    assert_eq!(
        agent.docker_ok(&["ps", "-q", "--filter", "name=web."]).trim(),
        &id[..12]
    );
    assert!(
        agent
            .docker_ok(&["ps", "-q", "--filter", "status=exited"])
            .trim()
            .is_empty()
    );
    let refused = agent.docker(&["ps", "--filter", "network=foo"]);
    assert!(!refused.status.success());
    assert!(stderr(&refused).contains("'network'"), "{}", stderr(&refused));

    // docker inspect by name, by ID prefix.
    let inspect = agent.docker_ok(&[
        "container",
        "inspect",
        "--format",
        "{{.Name}}|{{.State.Status}}|{{.State.Running}}|{{.State.Pid}}|{{.Config.Image}}|{{index .Config.Labels \"com.docker.swarm.task.name\"}}|{{range .Config.Env}}{{.}},{{end}}",
        &name,
    ]);
    let fields: Vec<&str> = inspect.trim().split('|').collect();
    assert_eq!(
        fields[..3],
        [format!("/{name}").as_str(), "running", "true"],
        "{inspect}"
    );
    let pid: i32 = fields[3].parse().unwrap();
    assert!(
        pid > 0 && Path::new(&format!("/proc/{pid}")).exists(),
        "{inspect}"
    );
    assert_eq!(fields[4], image);
    assert_eq!(fields[5], name);
    assert!(fields[6].contains("GREETING=hi"), "{inspect}");
    let by_prefix = agent.docker_ok(&["inspect", "--format", "{{.Id}}", &id[..8]]);
    assert_eq!(by_prefix.trim(), id);

    // docker logs: stdout and stderr apart, as the multiplexed stream keeps them.
    let logs = eventually("both log lines", LIMIT, || {
        let out = agent.docker(&["logs", &name]);
        (stdout(&out).contains("out-hi") && stderr(&out).contains("err-line")).then_some(out)
    });
    assert!(!stdout(&logs).contains("err-line"), "{}", stdout(&logs));
    let stamped = agent.docker_ok(&["logs", "--timestamps", "--tail", "2", &id[..12]]);
    assert!(
        stamped.starts_with("20") && stamped.contains(" out-hi"),
        "{stamped}"
    );

    // docker top: the container's processes only.
    let top = agent.docker_ok(&["top", &name]);
    assert!(top.lines().next().unwrap().contains("PID"), "{top}");
    assert!(top.contains("sleep 100000"), "{top}");
    assert_eq!(top.lines().count(), 2, "one process besides the titles: {top}");

    // docker stats --no-stream: numbers from the container's cgroup.
    let stats = agent.docker_ok(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}}|{{.MemUsage}}|{{.PIDs}}|{{.CPUPerc}}",
        &name,
    ]);
    let fields: Vec<&str> = stats.trim().split('|').collect();
    assert_eq!(fields[0], name, "{stats}");
    assert!(!fields[1].starts_with("0B"), "memory in use: {stats}");
    assert_eq!(fields[2], "1", "{stats}");
    assert!(fields[3].ends_with('%'), "{stats}");

    // docker wait + docker kill: the exit is the task's, and the service replaces it.
    let waiter = Command::new("docker")
        .arg("-H")
        .arg(format!("unix://{}", root.path().join("n1.sock").display()))
        .args(["wait", &name])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Whether the wait arrives before or after the kill, it answers the same exit: the
    // exited container stays listed while its task is kept.
    agent.docker_ok(&["kill", &name]);
    let waited = waiter.wait_with_output().unwrap();
    assert_eq!(stdout(&waited).trim(), "137");
    let error = eventually("the killed task's error", LIMIT, || {
        let out = agent.docker_ok(&[
            "service",
            "ps",
            "--no-trunc",
            "--format",
            "{{.ID}} {{.Error}}",
            "web",
        ]);
        out.lines()
            .find(|l| l.starts_with(&task))
            .map(|l| l.to_owned())
            .filter(|l| l.contains("137"))
    });
    assert!(error.contains("non-zero exit (137)"), "{error}");
    let replacement = eventually("a replacement task", LIMIT, || {
        let t = running_task(&agent, "web");
        (t != task).then_some(t)
    });
    // The killed container is listed with -a while its task is kept.
    let all = agent.docker_ok(&["ps", "-a", "--format", "{{.Names}} {{.Status}}"]);
    assert!(
        all.lines()
            .any(|l| l.starts_with(&name) && l.contains("Exited (137)")),
        "{all}"
    );

    // docker stop: the stop signal, then the grace; the service replaces this one too.
    let second = format!("web.1.{replacement}");
    agent.docker_ok(&["stop", "-t", "5", &second]);
    let state = agent.docker_ok(&["inspect", "--format", "{{.State.Status}}", &second]);
    assert_eq!(state.trim(), "exited");
    eventually("a third task", LIMIT, || {
        let t = running_task(&agent, "web");
        (t != task && t != replacement).then_some(())
    });

    // Unknown containers: dockerd's 404 text.
    let missing = agent.docker(&["container", "inspect", "nope"]);
    assert!(!missing.status.success());
    assert!(
        stderr(&missing).contains("No such container: nope"),
        "{}",
        stderr(&missing)
    );
    let missing = agent.docker(&["logs", "nope"]);
    assert!(
        stderr(&missing).contains("No such container: nope"),
        "{}",
        stderr(&missing)
    );

    agent.docker_ok(&["service", "rm", "web"]);
    eventually("no containers left", LIMIT, || {
        agent.docker_ok(&["ps", "-aq"]).trim().is_empty().then_some(())
    });
}

/// The process executor's tasks are containers to the API too: listed, inspected, logged,
/// and a kill is the task's failure, replaced by the service. Needs no image or registry.
#[test]
fn process_executor_tasks_are_listed_and_killed_like_containers() {
    let root = tempfile::tempdir().unwrap();
    let agent = Agent::start(root.path(), "p1");
    let data_dir = agent.data_dir().to_path_buf();
    // Tasks outlive their agent on purpose; end them whatever happens below.
    struct KillTasks(PathBuf);
    impl Drop for KillTasks {
        fn drop(&mut self) {
            common::kill_tasks(&self.0);
        }
    }
    let _cleanup = KillTasks(data_dir);
    agent.swarm_init();
    agent.docker_ok(&[
        "service",
        "create",
        "--detach",
        "--name",
        "plain",
        "busybox",
        "/bin/sh",
        "-c",
        "echo plain-out; exec sleep 100000",
    ]);
    let task = running_task(&agent, "plain");
    let name = format!("plain.1.{task}");
    let ps = agent.docker_ok(&["ps", "--format", "{{.Names}} {{.State}}"]);
    assert_eq!(ps.trim(), format!("{name} running"));
    let pid = agent.docker_ok(&["inspect", "--format", "{{.State.Pid}}", &name]);
    let pid: i32 = pid.trim().parse().unwrap();
    assert!(Path::new(&format!("/proc/{pid}")).exists());
    eventually("the task's output", LIMIT, || {
        agent
            .docker_ok(&["logs", &name])
            .contains("plain-out")
            .then_some(())
    });
    agent.docker_ok(&["kill", "--signal", "TERM", &name]);
    assert_eq!(agent.docker_ok(&["wait", &name]).trim(), "143");
    eventually("a replacement task", LIMIT, || {
        let t = running_task(&agent, "plain");
        (t != task).then_some(())
    });
    agent.docker_ok(&["service", "rm", "plain"]);
    eventually("no containers left", LIMIT, || {
        agent.docker_ok(&["ps", "-aq"]).trim().is_empty().then_some(())
    });
}
