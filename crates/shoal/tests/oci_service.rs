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
#[path = "../../image/tests/common/registry.rs"]
mod registry;

use std::path::Path;
use std::time::Duration;

use busybox::{Cleanup, push_busybox, skip_reason, task_cgroups};
use common::{Agent, eventually};
use oci_client::secrets::RegistryAuth;

const LIMIT: Duration = Duration::from_secs(60);

/// Containers left under a data dir: task directories, mounts below it, task cgroups.
fn leftovers(data_dir: &Path, task_ids: &[String]) -> Vec<String> {
    let mut found = Vec::new();
    let containers = data_dir.join("containers");
    if let Ok(entries) = std::fs::read_dir(&containers) {
        found.extend(
            entries
                .flatten()
                .map(|e| format!("task dir {}", e.path().display())),
        );
    }
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let prefix = data_dir.to_string_lossy();
    found.extend(
        mounts
            .lines()
            .filter(|l| {
                l.split_whitespace()
                    .nth(4)
                    .is_some_and(|m| m.starts_with(&*prefix))
            })
            .map(|l| format!("mount {l}")),
    );
    found.extend(
        task_cgroups(task_ids)
            .into_iter()
            .map(|d| format!("cgroup {}", d.display())),
    );
    found
}

fn task_ids(agent: &Agent, service: &str) -> Vec<String> {
    agent
        .docker_ok(&["service", "ps", "-q", "--no-trunc", service])
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn an_image_service_runs_in_containers_and_leaves_nothing_behind() {
    if let Some(why) = skip_reason() {
        eprintln!("skipping: {why}");
        return;
    }
    let (_rt, registry) = busybox::serve_busybox();
    let root = tempfile::tempdir().unwrap();
    let agent = Agent::start_default_executor(root.path(), "n1");
    let mut cleanup = Cleanup {
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
    cleanup.task_ids = task_ids(&agent, "web");
    // Two tasks of one image on one node: one pull.
    let log = std::fs::read_to_string(root.path().join("n1.log")).unwrap();
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
            cleanup
                .task_ids
                .iter()
                .any(|id| line.contains(&format!(" host={} ", &id[..12]))),
            "the task's own host name: {line} (tasks {:?})",
            cleanup.task_ids
        );
    }

    // An image the registry does not have: the tasks fail with the registry's reason.
    let missing = format!("{}/nope:1", registry.addr);
    agent.docker_ok(&["service", "create", "--detach", "--name", "ghost", &missing]);
    let error = eventually("ghost's task error", LIMIT, || {
        let errors = agent.docker_ok(&["service", "ps", "--no-trunc", "--format", "{{.Error}}", "ghost"]);
        errors.lines().find(|l| !l.trim().is_empty()).map(str::to_owned)
    });
    assert!(
        error.contains("manifest unknown") && error.contains("nope:1"),
        "{error}"
    );
    cleanup.task_ids.extend(task_ids(&agent, "ghost"));

    agent.docker_ok(&["service", "rm", "web", "ghost"]);
    let data_dir = agent.data_dir().to_path_buf();
    let ids = cleanup.task_ids.clone();
    eventually("no containers, mounts or cgroups left", LIMIT, || {
        leftovers(&data_dir, &ids).is_empty().then_some(())
    });
}

#[test]
fn a_private_image_pulls_with_the_credentials_of_with_registry_auth() {
    if let Some(why) = skip_reason() {
        eprintln!("skipping: {why}");
        return;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let registry = rt.block_on(registry::Registry::start(Some(("alice", "s3cret"))));
    let auth = RegistryAuth::Basic("alice".into(), "s3cret".into());
    rt.block_on(push_busybox(&registry.addr, &auth));
    let root = tempfile::tempdir().unwrap();
    let agent = Agent::start_default_executor(root.path(), "n1");
    let mut cleanup = Cleanup {
        data_dir: agent.data_dir().to_path_buf(),
        task_ids: Vec::new(),
    };
    agent.swarm_init();
    // The docker CLI reads the credentials from its config (as `docker login` leaves them) and
    // sends them as X-Registry-Auth with --with-registry-auth only.
    let config = root.path().join("docker-config");
    std::fs::create_dir_all(&config).unwrap();
    {
        use base64::Engine as _;
        let pair = base64::engine::general_purpose::STANDARD.encode("alice:s3cret");
        let json = serde_json::json!({"auths": {registry.addr.clone(): {"auth": pair}}});
        std::fs::write(config.join("config.json"), json.to_string()).unwrap();
    }
    let config = config.to_string_lossy().into_owned();
    let image = format!("{}/busybox:latest", registry.addr);
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
    cleanup.task_ids = task_ids(&agent, "private");
    cleanup.task_ids.extend(task_ids(&agent, "anon"));
    agent.docker_ok(&["service", "rm", "private", "anon"]);
    let data_dir = agent.data_dir().to_path_buf();
    let ids = cleanup.task_ids.clone();
    eventually("no containers, mounts or cgroups left", LIMIT, || {
        leftovers(&data_dir, &ids).is_empty().then_some(())
    });
}

#[test]
fn a_service_with_tty_gets_a_terminal() {
    if let Some(why) = skip_reason() {
        eprintln!("skipping: {why}");
        return;
    }
    let (_rt, registry) = busybox::serve_busybox();
    let root = tempfile::tempdir().unwrap();
    let agent = Agent::start_default_executor(root.path(), "n1");
    let mut cleanup = Cleanup {
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
        "term",
        "-t",
        "--no-healthcheck",
        &image,
        "sh",
        "-c",
        "echo tty=$(busybox tty) term=$TERM; exec busybox sleep 100000",
    ]);
    cleanup.task_ids = eventually("a task of term", LIMIT, || {
        let ids = task_ids(&agent, "term");
        (!ids.is_empty()).then_some(ids)
    });
    // The task's output is the terminal's, logged as the terminal wrote it.
    let logs = eventually("the task's log line", LIMIT, || {
        let logs = agent.docker_ok(&["service", "logs", "--raw", "term"]);
        logs.contains("tty=").then_some(logs)
    });
    assert!(logs.contains("tty=/dev/pts/0 term=xterm"), "{logs:?}");
    agent.docker_ok(&["service", "rm", "term"]);
}
