//! The API's edge against real `shoal agent` processes: `swarm init` answers with the node's
//! final version, the task limit refuses huge services and survives `docker swarm update` and
//! restarts, the TCP API refuses browser requests and foreign Host names, plain TCP stays on
//! loopback (TLS: `edge_tls.rs`).

#![allow(clippy::unwrap_used)]
#![allow(clippy::disallowed_methods)]

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::http::{JSON, docker_tcp, json_of, over_tcp, over_unix, request};
use common::{Agent, eventually, free_port, stderr, stdout};
use serde_json::{Value, json};

/// The default limit the daemon derives: a quarter of memory at 4 KiB a task.
fn default_max_tasks() -> u64 {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let kb: u64 = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap()
        .parse()
        .unwrap();
    (kb * 1024 / 4 / 4096).max(10_000)
}

#[test]
fn init_answers_with_the_final_node_version() {
    let root = tempfile::tempdir().unwrap();
    let agent = Agent::start(root.path(), "edge-init");
    let init = json!({"ListenAddr": agent.addr, "AdvertiseAddr": agent.addr}).to_string();
    let (status, body) = over_unix(
        &agent.sock,
        &request("POST", "/v1.47/swarm/init", "localhost", &[JSON], Some(&init)),
    );
    assert_eq!(status, 200, "init: {body}\n{}", agent.log_tail());
    let id: String = serde_json::from_str(&body).unwrap();
    // Right after init, as a script would: read the node, update it with that version.
    let (status, body) = over_unix(
        &agent.sock,
        &request("GET", &format!("/v1.47/nodes/{id}"), "localhost", &[], None),
    );
    assert_eq!(status, 200, "{body}");
    let node = json_of(&body);
    let version = node["Version"]["Index"].as_u64().unwrap();
    let mut spec = node["Spec"].clone();
    spec["Labels"] = json!({"edge": "1"});
    let (status, answer) = over_unix(
        &agent.sock,
        &request(
            "POST",
            &format!("/v1.47/nodes/{id}/update?version={version}"),
            "localhost",
            &[JSON],
            Some(&spec.to_string()),
        ),
    );
    assert_eq!(
        status, 200,
        "update with the version read right after init ({version}) failed: {answer}\nnode then: {body}"
    );
    let (_, after) = over_unix(
        &agent.sock,
        &request("GET", &format!("/v1.47/nodes/{id}"), "localhost", &[], None),
    );
    assert_eq!(json_of(&after)["Spec"]["Labels"]["edge"], "1", "{after}");
}

fn swarm_spec(agent: &Agent) -> Value {
    let (status, body) = over_unix(
        &agent.sock,
        &request("GET", "/v1.47/swarm", "localhost", &[], None),
    );
    assert_eq!(status, 200, "{body}");
    json_of(&body)["Spec"].clone()
}

#[test]
fn huge_services_are_refused_and_the_limit_is_kept() {
    let root = tempfile::tempdir().unwrap();
    let mut agent = Agent::start(root.path(), "edge-limit");
    agent.swarm_init();
    let expected = default_max_tasks();
    assert_eq!(
        swarm_spec(&agent)["Orchestration"]["MaxTasks"],
        expected,
        "default from memory"
    );

    let huge = agent.docker(&[
        "service",
        "create",
        "-d",
        "--replicas",
        "1000000000",
        "--name",
        "huge",
        "busybox",
    ]);
    assert!(!huge.status.success(), "accepted: {}", stdout(&huge));
    let message = stderr(&huge);
    assert!(
        message.contains("replicas 1000000000 exceed the cluster's task limit")
            && message.contains(&format!("MaxTasks is {expected}")),
        "{message}"
    );
    let (status, body) = over_unix(
        &agent.sock,
        &request(
            "POST",
            "/v1.47/services/create",
            "localhost",
            &[JSON],
            Some(
                r#"{"Name":"raw","TaskTemplate":{"ContainerSpec":{"Image":"busybox"}},"Mode":{"Replicated":{"Replicas":1000000000}}}"#,
            ),
        ),
    );
    assert_eq!(status, 400, "{body}");
    // The manager stays up and stored nothing.
    assert_eq!(agent.docker_ok(&["service", "ls", "-q"]).trim(), "");
    assert_eq!(
        agent
            .docker_ok(&["info", "--format", "{{.Swarm.ControlAvailable}}"])
            .trim(),
        "true"
    );

    // Our CLI sets the limit; docker's `swarm update` (which sends the spec without it) keeps it.
    agent.shoal_ok(&["swarm", "update", "--max-tasks", "5"]);
    agent.docker_ok(&["swarm", "update", "--task-history-limit", "3"]);
    let spec = swarm_spec(&agent);
    assert_eq!(spec["Orchestration"]["MaxTasks"], 5, "{spec}");
    assert_eq!(spec["Orchestration"]["TaskHistoryRetentionLimit"], 3, "{spec}");

    agent.docker_ok(&[
        "service",
        "create",
        "-d",
        "--replicas",
        "0",
        "--name",
        "small",
        "busybox",
    ]);
    let scaled = agent.docker(&["service", "scale", "-d", "small=6"]);
    assert!(!scaled.status.success());
    assert!(
        stderr(&scaled).contains("replicas 6 exceed the cluster's task limit: MaxTasks is 5"),
        "{}",
        stderr(&scaled)
    );

    // The limit survives a restart, and the manager starts.
    agent.restart();
    let spec = eventually("swarm spec after restart", Duration::from_secs(60), || {
        let (status, body) = over_unix(
            &agent.sock,
            &request("GET", "/v1.47/swarm", "localhost", &[], None),
        );
        (status == 200).then(|| json_of(&body)["Spec"].clone())
    });
    assert_eq!(spec["Orchestration"]["MaxTasks"], 5, "{spec}");
}

#[test]
fn tcp_api_refuses_browser_requests_and_foreign_hosts() {
    let root = tempfile::tempdir().unwrap();
    let addr = format!("127.0.0.1:{}", free_port());
    let agent = Agent::start_with(root.path(), "edge-tcp", &["--api-addr".into(), addr.clone()]);
    let config = root.path().join("docker-config");
    std::fs::create_dir_all(&config).unwrap();
    let host = format!("tcp://{addr}");
    eventually("TCP API", Duration::from_secs(30), || {
        std::net::TcpStream::connect(&addr).ok()
    });
    let out = docker_tcp(
        &config,
        &[
            "-H",
            &host,
            "swarm",
            "init",
            "--advertise-addr",
            &agent.addr,
            "--listen-addr",
            &agent.addr,
        ],
    );
    assert!(
        out.status.success(),
        "docker over loopback TCP: {}\n{}",
        stderr(&out),
        agent.log_tail()
    );

    // A web page's cross-origin POST without a body (what a browser sends freely).
    let (status, body) = over_tcp(
        &addr,
        &request(
            "POST",
            "/v1.47/swarm/leave?force=true",
            &addr,
            &["Origin: http://attacker.example"],
            None,
        ),
    );
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("Origin"), "{body}");
    // The same over the unix socket.
    let (status, _) = over_unix(
        &agent.sock,
        &request(
            "POST",
            "/v1.47/swarm/leave?force=true",
            "localhost",
            &["Origin: null"],
            None,
        ),
    );
    assert_eq!(status, 403);
    // A form-encoded or text/plain body (a "simple request" needing no preflight).
    for content_type in ["text/plain", "application/x-www-form-urlencoded"] {
        let (status, body) = over_tcp(
            &addr,
            &request(
                "POST",
                "/v1.47/services/create",
                &addr,
                &[&format!("Content-Type: {content_type}")],
                Some(r#"{"Name":"x","TaskTemplate":{"ContainerSpec":{"Image":"busybox"}}}"#),
            ),
        );
        assert_eq!(status, 403, "{content_type}: {body}");
    }
    // DNS rebinding: a page on attacker.example resolved to 127.0.0.1.
    let (status, body) = over_tcp(
        &addr,
        &request("GET", "/v1.47/swarm", "attacker.example:2375", &[], None),
    );
    assert_eq!(status, 403, "{body}");
    assert!(!body.contains("SWMTKN"), "tokens leaked: {body}");
    let (status, _) = over_tcp(&addr, &request("GET", "/v1.47/swarm", "localhost", &[], None));
    assert_eq!(status, 200);
    // An oversize body is refused before it is read.
    let big = format!(
        "POST /v1.47/services/create HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{JSON}\r\nContent-Length: {}\r\n\r\n{{",
        5 << 20
    );
    let (status, body) = over_tcp(&addr, big.as_bytes());
    assert_eq!(status, 413, "{body}");
    // Nothing above changed the swarm; docker's own requests still work.
    let out = docker_tcp(
        &config,
        &["-H", &host, "info", "--format", "{{.Swarm.LocalNodeState}}"],
    );
    assert_eq!(stdout(&out).trim(), "active", "{}", stderr(&out));
    let out = docker_tcp(
        &config,
        &[
            "-H",
            &format!("tcp://localhost:{}", addr.rsplit_once(':').unwrap().1),
            "node",
            "ls",
            "-q",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(agent.docker_ok(&["service", "ls", "-q"]).trim(), "");
}

/// Runs `shoal agent` with `args` and waits (at most 60 s) for it to exit.
fn agent_exit(root: &Path, args: &[&str]) -> (Option<i32>, String) {
    let log = root.join("refused.log");
    let file = std::fs::File::create(&log).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_shoal"))
        .arg("agent")
        .arg("--data-dir")
        .arg(root.join("refused"))
        .arg("--api-socket")
        .arg(root.join("refused.sock"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    (code, std::fs::read_to_string(&log).unwrap_or_default())
}

#[test]
fn plain_tcp_off_loopback_needs_insecure_tcp() {
    let root = tempfile::tempdir().unwrap();
    let addr = format!("0.0.0.0:{}", free_port());
    let (code, log) = agent_exit(root.path(), &["--api-addr", &addr]);
    assert!(code.is_some_and(|c| c != 0), "exit {code:?}: {log}");
    assert!(log.contains("refusing plain TCP"), "{log}");
    let (code, log) = agent_exit(
        root.path(),
        &["--api-addr", "127.0.0.1:1", "--tlsverify", "--tlscert", "x.pem"],
    );
    assert!(code.is_some_and(|c| c != 0), "exit {code:?}: {log}");
    assert!(log.contains("--tlskey"), "{log}");

    let agent = Agent::start_with(
        root.path(),
        "edge-insecure",
        &["--api-addr".into(), addr.clone(), "--insecure-tcp".into()],
    );
    let warned = eventually("insecure warning", Duration::from_secs(30), || {
        let tail = agent.log_tail();
        tail.contains("--insecure-tcp").then_some(tail)
    });
    assert!(warned.contains("without authentication"), "{warned}");
}

/// Tasks of a service, counted from `GET /tasks` (the body is parsed, not pattern-matched).
fn task_count(agent: &Agent, service: &str) -> usize {
    let filters = format!("%7B%22service%22%3A%5B%22{service}%22%5D%7D");
    tasks_matching(agent, &filters)
}

/// Tasks of `service` that are still wanted (desired state running): what the cluster's task
/// limit counts. A task whose hollow node missed heartbeats under load is shut down and
/// replaced; the old one stays in the history without counting against the limit.
fn live_task_count(agent: &Agent, service: &str) -> usize {
    let filters =
        format!("%7B%22service%22%3A%5B%22{service}%22%5D%2C%22desired-state%22%3A%5B%22running%22%5D%7D");
    tasks_matching(agent, &filters)
}

fn tasks_matching(agent: &Agent, filters: &str) -> usize {
    let (status, body) = over_unix(
        &agent.sock,
        &request(
            "GET",
            &format!("/v1.47/tasks?filters={filters}"),
            "localhost",
            &[],
            None,
        ),
    );
    assert_eq!(status, 200, "{body:.300}");
    json_of(&body).as_array().map_or(0, Vec::len)
}

/// Resident memory of a process, in bytes.
fn rss(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .unwrap_or(0)
        * 1024
}

#[test]
fn a_large_service_is_created_in_bounded_batches() {
    const REPLICAS: usize = 15_000;
    let root = tempfile::tempdir().unwrap();
    let agent = Agent::start(root.path(), "edge-batch");
    agent.swarm_init();
    let before = agent.pid().map_or(0, rss);
    let started = Instant::now();
    // No node matches, so the tasks stay pending and nothing runs.
    agent.docker_ok(&[
        "service",
        "create",
        "-d",
        "--name",
        "big",
        "--replicas",
        &REPLICAS.to_string(),
        "--constraint",
        "node.labels.nowhere==1",
        "busybox",
        "sleep",
        "1",
    ]);
    let mut last = 0;
    eventually(&format!("{REPLICAS} tasks"), Duration::from_secs(120), || {
        last = task_count(&agent, "big");
        (last == REPLICAS).then_some(())
    });
    let after = agent.pid().map_or(0, rss);
    println!(
        "{REPLICAS} tasks created in {} ms; agent RSS {} → {} MiB ({} bytes a task)",
        started.elapsed().as_millis(),
        before >> 20,
        after >> 20,
        after.saturating_sub(before) / REPLICAS as u64
    );
    assert_eq!(
        agent
            .docker_ok(&["info", "--format", "{{.Swarm.ControlAvailable}}"])
            .trim(),
        "true"
    );
}

/// `shoal agent --hollow N` joined to `agent`; killed when dropped.
struct Hollow(std::process::Child);

impl Hollow {
    fn join(agent: &Agent, count: usize, prefix: &str) -> Hollow {
        let token = agent.docker_ok(&["swarm", "join-token", "-q", "worker"]);
        let log = std::fs::File::create(agent.data_dir().with_extension("hollow.log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_shoal"))
            .args([
                "agent",
                "--hollow",
                &count.to_string(),
                "--join-token",
                token.trim(),
            ])
            .args(["--join-addr", &agent.addr, "--hostname", prefix])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        Hollow(child)
    }
}

impl Drop for Hollow {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `node ls` once the five `hold` hollow nodes are ready.
fn hollow_ready(agent: &Agent) -> Option<String> {
    let out = agent.docker_ok(&["node", "ls", "--format", "{{.Hostname}} {{.Status}}"]);
    (out.lines()
        .filter(|l| l.starts_with("hold") && l.ends_with("Ready"))
        .count()
        == 5)
        .then_some(out)
}

/// Tasks of `service` that are running and meant to.
fn running(agent: &Agent, service: &str) -> usize {
    let out = agent.docker_ok(&[
        "service",
        "ps",
        service,
        "--filter",
        "desired-state=running",
        "--format",
        "{{.CurrentState}}",
    ]);
    out.lines().filter(|l| l.starts_with("Running")).count()
}

#[test]
fn a_global_service_over_the_limit_is_held_at_it_across_a_restart() {
    let root = tempfile::tempdir().unwrap();
    let mut agent = Agent::start(root.path(), "edge-hold");
    agent.swarm_init();
    agent.shoal_ok(&["swarm", "update", "--max-tasks", "3"]);
    // One node now, so the service is admitted; it runs on hollow nodes only.
    agent.docker_ok(&[
        "service",
        "create",
        "-d",
        "--mode",
        "global",
        "--name",
        "g",
        "--constraint",
        "node.hostname!=edge-hold",
        "busybox",
        "sleep",
        "1000",
    ]);
    let _hollow = Hollow::join(&agent, 5, "hold");
    eventually("5 hollow nodes ready", Duration::from_secs(60), || {
        hollow_ready(&agent)
    });
    // Five eligible nodes, room for three tasks.
    let mut seen = 0;
    eventually("3 running global tasks", Duration::from_secs(60), || {
        seen = running(&agent, "g");
        (seen == 3).then_some(())
    });
    assert_eq!(live_task_count(&agent, "g"), 3, "more tasks than the limit");

    agent.restart();
    eventually(
        "5 hollow nodes ready after restart",
        Duration::from_secs(60),
        || hollow_ready(&agent),
    );
    eventually(
        "3 running global tasks after restart",
        Duration::from_secs(60),
        || {
            seen = running(&agent, "g");
            (seen == 3).then_some(())
        },
    );
    assert_eq!(
        live_task_count(&agent, "g"),
        3,
        "more tasks than the limit after restart"
    );

    // The limit, not slowness, held the count: raising it lets the rest through.
    agent.shoal_ok(&["swarm", "update", "--max-tasks", "100"]);
    eventually("5 running global tasks", Duration::from_secs(60), || {
        seen = running(&agent, "g");
        (seen == 5).then_some(())
    });
}
