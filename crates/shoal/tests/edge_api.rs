//! The API's edge against real `shoal agent` processes: `swarm init` answers with the node's
//! final version, the task limit refuses huge services and survives `docker swarm update` and
//! restarts, the TCP API refuses browser requests and foreign Host names, plain TCP stays on
//! loopback, and TLS with client certificates works with the stock docker CLI.

#![allow(clippy::unwrap_used)]
#![allow(clippy::disallowed_methods)]

mod common;

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{Agent, eventually, free_port, stderr, stdout};
use serde_json::{Value, json};

/// One HTTP/1.1 exchange over `stream`, the request written whole; returns the status (0
/// when the answer is not HTTP) and the body.
fn exchange(mut stream: impl Read + Write, request: &[u8]) -> (u16, String) {
    stream.write_all(request).unwrap();
    let mut raw = Vec::new();
    // A refused request may close the connection before we read everything: what was read
    // so far is the answer.
    let _ = stream.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// A request with `Connection: close`; `headers` are extra lines (`Name: value`).
fn request(method: &str, path: &str, host: &str, headers: &[&str], body: Option<&str>) -> Vec<u8> {
    let mut text = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for h in headers {
        text.push_str(h);
        text.push_str("\r\n");
    }
    let body = body.unwrap_or("");
    text.push_str(&format!("Content-Length: {}\r\n\r\n{body}", body.len()));
    text.into_bytes()
}

fn over_unix(sock: &Path, req: &[u8]) -> (u16, String) {
    let stream = std::os::unix::net::UnixStream::connect(sock).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    exchange(stream, req)
}

fn over_tcp(addr: &str, req: &[u8]) -> (u16, String) {
    let stream = std::net::TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    exchange(stream, req)
}

const JSON: &str = "Content-Type: application/json";

fn json_of(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

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
    agent.docker_ok(&[
        "swarm",
        "init",
        "--advertise-addr",
        &agent.addr,
        "--listen-addr",
        &agent.addr,
    ]);
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

/// The docker CLI against a TCP address, with its own empty config.
fn docker_tcp(config: &Path, args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .env("DOCKER_CONFIG", config)
        .env_remove("DOCKER_CONTEXT")
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_TLS_VERIFY")
        .env_remove("DOCKER_CERT_PATH")
        .output()
        .expect("run docker")
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

/// PEM files of a CA, a server certificate for loopback and a client certificate.
struct Pki {
    ca: std::path::PathBuf,
    server_cert: std::path::PathBuf,
    server_key: std::path::PathBuf,
    client_cert: std::path::PathBuf,
    client_key: std::path::PathBuf,
}

fn pki(dir: &Path, name: &str) -> Pki {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
        KeyUsagePurpose,
    };
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca_params
        .distinguished_name
        .push(DnType::CommonName, format!("{name} test CA"));
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf = |sans: Vec<String>, usage: ExtendedKeyUsagePurpose| {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(sans).unwrap();
        params.extended_key_usages = vec![usage];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params
            .distinguished_name
            .push(DnType::CommonName, format!("{name} leaf"));
        let cert = params.signed_by(&key, &issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    };
    let (server_cert, server_key) = leaf(
        vec!["127.0.0.1".into(), "localhost".into()],
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    let (client_cert, client_key) = leaf(Vec::new(), ExtendedKeyUsagePurpose::ClientAuth);
    let write = |file: &str, text: &str| {
        let path = dir.join(format!("{name}-{file}"));
        std::fs::write(&path, text).unwrap();
        path
    };
    Pki {
        ca: write("ca.pem", &ca_cert.pem()),
        server_cert: write("server.pem", &server_cert),
        server_key: write("server-key.pem", &server_key),
        client_cert: write("client.pem", &client_cert),
        client_key: write("client-key.pem", &client_key),
    }
}

#[test]
fn tls_api_serves_the_docker_cli_with_client_certificates_only() {
    let root = tempfile::tempdir().unwrap();
    let ours = pki(root.path(), "ours");
    let foreign = pki(root.path(), "foreign");
    let addr = format!("127.0.0.1:{}", free_port());
    let path = |p: &Path| p.display().to_string();
    let agent = Agent::start_with(
        root.path(),
        "edge-tls",
        &[
            "--api-addr".into(),
            addr.clone(),
            "--tlsverify".into(),
            "--tlscacert".into(),
            path(&ours.ca),
            "--tlscert".into(),
            path(&ours.server_cert),
            "--tlskey".into(),
            path(&ours.server_key),
        ],
    );
    eventually("TLS API port", Duration::from_secs(30), || {
        std::net::TcpStream::connect(&addr).ok()
    });
    let config = root.path().join("docker-config");
    std::fs::create_dir_all(&config).unwrap();
    let host = format!("tcp://{addr}");
    let tls = |pki: &Pki, rest: &[&str]| -> Output {
        let (ca, cert, key) = (path(&ours.ca), path(&pki.client_cert), path(&pki.client_key));
        let mut args = vec![
            "--tlsverify",
            "--tlscacert",
            &ca,
            "--tlscert",
            &cert,
            "--tlskey",
            &key,
            "-H",
            &host,
        ];
        args.extend_from_slice(rest);
        docker_tcp(&config, &args)
    };
    let out = tls(
        &ours,
        &[
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
        "swarm init over TLS: {}\n{}",
        stderr(&out),
        agent.log_tail()
    );
    let out = tls(&ours, &["node", "ls", "--format", "{{.Hostname}}"]);
    assert_eq!(stdout(&out).trim(), "edge-tls", "{}", stderr(&out));

    // A client certificate from another CA is refused in the handshake.
    let out = tls(&foreign, &["node", "ls"]);
    assert!(
        !out.status.success(),
        "foreign certificate accepted: {}",
        stdout(&out)
    );
    // So is a client without a certificate.
    let (ca, empty) = (path(&ours.ca), root.path().join("no-certs"));
    std::fs::create_dir_all(&empty).unwrap();
    let out = Command::new("docker")
        .args(["--tlsverify", "--tlscacert", &ca, "-H", &host, "node", "ls"])
        .env("DOCKER_CONFIG", &config)
        .env("DOCKER_CERT_PATH", &empty)
        .env_remove("DOCKER_CONTEXT")
        .env_remove("DOCKER_HOST")
        .output()
        .unwrap();
    assert!(!out.status.success(), "no certificate accepted: {}", stdout(&out));
    let refused = eventually("handshake refusals logged", Duration::from_secs(30), || {
        let tail = agent.log_tail();
        (tail.matches("API TLS handshake refused").count() >= 2).then_some(tail)
    });
    assert!(refused.contains("handshake refused"), "{refused}");
    // Plain HTTP on the TLS port gets no API answer.
    let (status, body) = over_tcp(&addr, &request("GET", "/v1.47/swarm", "localhost", &[], None));
    assert_ne!(status, 200, "{body}");
    assert!(!body.contains("SWMTKN"), "{body}");
}

/// Tasks of a service, counted from `GET /tasks` (the body is parsed, not pattern-matched).
fn task_count(agent: &Agent, service: &str) -> usize {
    let filters = format!("%7B%22service%22%3A%5B%22{service}%22%5D%7D");
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
fn rss(pid: u32) -> u64 {
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
    agent.docker_ok(&[
        "swarm",
        "init",
        "--advertise-addr",
        &agent.addr,
        "--listen-addr",
        &agent.addr,
    ]);
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

#[test]
fn tls_without_verify_needs_no_client_certificate() {
    let root = tempfile::tempdir().unwrap();
    let ours = pki(root.path(), "plain-tls");
    let addr = format!("127.0.0.1:{}", free_port());
    let path = |p: &Path| p.display().to_string();
    let agent = Agent::start_with(
        root.path(),
        "edge-tls-only",
        &[
            "--api-addr".into(),
            addr.clone(),
            "--tls".into(),
            "--tlscert".into(),
            path(&ours.server_cert),
            "--tlskey".into(),
            path(&ours.server_key),
        ],
    );
    eventually("TLS API port", Duration::from_secs(30), || {
        std::net::TcpStream::connect(&addr).ok()
    });
    let (config, empty) = (root.path().join("docker-config"), root.path().join("no-certs"));
    std::fs::create_dir_all(&config).unwrap();
    std::fs::create_dir_all(&empty).unwrap();
    // The client checks the server against our CA but presents no certificate of its own.
    let ca = path(&ours.ca);
    let out = Command::new("docker")
        .args([
            "--tlsverify",
            "--tlscacert",
            &ca,
            "-H",
            &format!("tcp://{addr}"),
            "info",
            "--format",
            "{{.Name}}",
        ])
        .env("DOCKER_CONFIG", &config)
        .env("DOCKER_CERT_PATH", &empty)
        .env_remove("DOCKER_CONTEXT")
        .env_remove("DOCKER_HOST")
        .output()
        .unwrap();
    assert_eq!(
        stdout(&out).trim(),
        "edge-tls-only",
        "{}\n{}",
        stderr(&out),
        agent.log_tail()
    );
}
