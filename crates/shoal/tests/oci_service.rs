//! A service of a real image on the default (oci) executor, driven by the stock docker CLI:
//! a loopback `docker-registry` holds a busybox-static image; `shoal agent` pulls it, runs
//! each task in its own container, reports a missing image with the registry's words, and
//! leaves no container, mount or cgroup behind after `service rm`. Root only.
#![allow(clippy::disallowed_methods, clippy::unwrap_used, dead_code, unsafe_code)]

mod common;

// The registry and image fixtures of the image crate's tests, shared rather than copied.
#[path = "../../image/tests/common/build.rs"]
mod build;
#[path = "common/busybox.rs"]
mod busybox;
#[path = "common/oci_swarm.rs"]
mod oci_swarm;
#[path = "../../image/tests/common/registry.rs"]
mod registry;

use std::time::Duration;

use common::eventually;
use oci_swarm::{OciSwarm, task_ids};

const LIMIT: Duration = Duration::from_secs(60);

#[test]
fn an_image_service_runs_in_containers_and_leaves_nothing_behind() {
    let Some(mut node) = OciSwarm::start() else {
        return;
    };
    let image = node.image();
    let agent = &node.agent;
    agent.docker_ok(&[
        "service",
        "create",
        "--detach",
        "--name",
        "web",
        "--replicas",
        "2",
        "--no-healthcheck",
        &image,
        "sh",
        "-c",
        "echo pid=$$ host=$(busybox hostname) hello=$(busybox cat /etc/hello); exec busybox sleep 100000",
    ]);
    eventually("web at 2/2", LIMIT, || {
        let replicas = agent.docker_ok(&[
            "service",
            "ls",
            "--filter",
            "name=web",
            "--format",
            "{{.Replicas}}",
        ]);
        (replicas.trim() == "2/2").then_some(())
    });
    node.cleanup.task_ids = task_ids(agent, "web");
    // Two tasks of one image on one node: one pull.
    let log = std::fs::read_to_string(node.root.path().join("n1.log")).unwrap();
    let pulls = log
        .lines()
        .filter(|l| l.contains("pulling image") && l.contains("/busybox:latest"))
        .count();
    assert_eq!(pulls, 1, "{log}");

    // Each task is its own PID 1, on the image's root filesystem, under its own host name
    // (Swarm's default: the first 12 characters of the task ID).
    let lines = eventually("both tasks' first log line", LIMIT, || {
        let logs = agent.docker_ok(&["service", "logs", "--raw", "web"]);
        let lines: Vec<String> = logs
            .lines()
            .filter(|l| l.starts_with("pid="))
            .map(str::to_owned)
            .collect();
        (lines.len() == 2).then_some(lines)
    });
    for line in &lines {
        assert!(line.starts_with("pid=1 "), "{line}");
        assert!(line.ends_with(" hello=hello"), "the image's /etc/hello: {line}");
        assert!(
            node.cleanup
                .task_ids
                .iter()
                .any(|id| line.contains(&format!(" host={} ", &id[..12]))),
            "the task's own host name: {line} (tasks {:?})",
            node.cleanup.task_ids
        );
    }

    // An image the registry does not have: the tasks fail with the registry's reason.
    let missing = format!("{}/nope:1", node.registry.addr);
    agent.docker_ok(&["service", "create", "--detach", "--name", "ghost", &missing]);
    let error = eventually("ghost's task error", LIMIT, || {
        let errors = agent.docker_ok(&["service", "ps", "--no-trunc", "--format", "{{.Error}}", "ghost"]);
        errors.lines().find(|l| !l.trim().is_empty()).map(str::to_owned)
    });
    assert!(
        error.contains("manifest unknown") && error.contains("nope:1"),
        "{error}"
    );
    node.cleanup.task_ids.extend(task_ids(agent, "ghost"));

    node.remove_leaving_nothing(&["web", "ghost"]);
}

#[test]
fn a_private_image_pulls_with_the_credentials_of_with_registry_auth() {
    let Some(mut node) = OciSwarm::start_with(Some(("alice", "s3cret"))) else {
        return;
    };
    let agent = &node.agent;
    // The docker CLI reads the credentials from its config (as `docker login` leaves them) and
    // sends them as X-Registry-Auth with --with-registry-auth only.
    let config = node.root.path().join("docker-config");
    std::fs::create_dir_all(&config).unwrap();
    {
        use base64::Engine as _;
        let pair = base64::engine::general_purpose::STANDARD.encode("alice:s3cret");
        let json = serde_json::json!({"auths": {node.registry.addr.clone(): {"auth": pair}}});
        std::fs::write(config.join("config.json"), json.to_string()).unwrap();
    }
    let config = config.to_string_lossy().into_owned();
    let image = node.image();
    let create = |name: &str, with_auth: bool| {
        let mut args = vec![
            "--config",
            &config,
            "service",
            "create",
            "--detach",
            "--no-healthcheck",
        ];
        if with_auth {
            args.push("--with-registry-auth");
        }
        args.extend(["--name", name, &image, "busybox", "sleep", "100000"]);
        agent.docker_ok(&args);
    };
    // anon first, and its refusal seen before private pulls: once private has pulled the
    // image, the node holds it and anon would run it from there (as dockerd does).
    create("anon", false);
    let error = eventually("anon's task error", LIMIT, || {
        let errors = agent.docker_ok(&["service", "ps", "--no-trunc", "--format", "{{.Error}}", "anon"]);
        errors.lines().find(|l| !l.trim().is_empty()).map(str::to_owned)
    });
    assert!(
        error.contains("authentication required") || error.contains("unauthorized"),
        "{error}"
    );
    create("private", true);
    eventually("private at 1/1", LIMIT, || {
        let replicas = agent.docker_ok(&[
            "service",
            "ls",
            "--filter",
            "name=private",
            "--format",
            "{{.Replicas}}",
        ]);
        (replicas.trim() == "1/1").then_some(())
    });
    let shown = agent.docker_ok(&["service", "inspect", "private"]);
    assert!(
        !shown.contains("PullOptions") && !shown.contains("s3cret"),
        "{shown}"
    );
    node.cleanup.task_ids = task_ids(agent, "private");
    node.cleanup.task_ids.extend(task_ids(agent, "anon"));
    node.remove_leaving_nothing(&["private", "anon"]);
}

#[test]
fn a_service_with_tty_gets_a_terminal() {
    let Some(mut node) = OciSwarm::start() else {
        return;
    };
    let image = node.image();
    let agent = &node.agent;
    agent.docker_ok(&[
        "service",
        "create",
        "--detach",
        "--name",
        "term",
        "-t",
        "--no-healthcheck",
        &image,
        "sh",
        "-c",
        // Ticks until told to go on, so an attach can see it live.
        "echo tty=$(busybox tty) term=$TERM; i=0; while [ ! -e /go ]; do i=$((i+1)); \
         echo tick-$i; busybox sleep 0.2; done; echo attached-$((6*7)); exec busybox sleep 100000",
    ]);
    node.cleanup.task_ids = eventually("a task of term", LIMIT, || {
        let ids = task_ids(agent, "term");
        (!ids.is_empty()).then_some(ids)
    });
    // The task's output is the terminal's, logged as the terminal wrote it.
    let logs = eventually("the task's log line", LIMIT, || {
        let logs = agent.docker_ok(&["service", "logs", "--raw", "term"]);
        logs.contains("tty=").then_some(logs)
    });
    assert!(logs.contains("tty=/dev/pts/0 term=xterm"), "{logs:?}");

    // Through /containers, as a standalone `-t` container: resize reaches the terminal and
    // `docker attach` streams it live.
    let name = format!("term.1.{}", node.cleanup.task_ids[0]);
    let size = || agent.docker_ok(&["exec", &name, "sh", "-c", "busybox stty size < /proc/1/fd/0"]);
    assert_eq!(agent.resize(&name, 33, 101), 200);
    assert_eq!(size().trim(), "33 101");
    let mut attach = std::process::Command::new("docker")
        .args(["-H", &format!("unix://{}", agent.sock.display())])
        .args(["attach", "--no-stdin", &name])
        .env_remove("DOCKER_CONTEXT")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = attach.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = std::io::Read::read(&mut out, &mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut shown = String::new();
    let deadline = std::time::Instant::now() + LIMIT;
    let read_until = |needle: &str, shown: &mut String| {
        while !shown.contains(needle) {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match rx.recv_timeout(left) {
                Ok(chunk) => shown.push_str(&String::from_utf8_lossy(&chunk)),
                Err(_) => panic!(
                    "the attach never showed {needle:?}: {shown}\n{}",
                    agent.log_tail()
                ),
            }
        }
    };
    // A tick after the attach began: the stream is live.
    read_until("tick-", &mut shown);
    agent.docker_ok(&["exec", &name, "busybox", "touch", "/go"]);
    read_until("attached-42", &mut shown);
    assert!(
        !shown.contains("tty="),
        "live only, no replay of the start: {shown}"
    );
    let _ = attach.kill();
    let _ = attach.wait();
    reader.join().unwrap();
    agent.docker_ok(&["service", "rm", "term"]);
}
