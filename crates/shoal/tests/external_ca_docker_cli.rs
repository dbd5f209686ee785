//! Issue 14: external CAs with the stock docker CLI on three hosts in network namespaces.
//! An operator's root is made with `openssl`; its key stays with a `cfssl serve` (Debian's
//! golang-cfssl) on host 0's loopback over mutual TLS (it signs only for a client whose
//! certificate chains to the cluster's root or the operator's: the managers present their
//! node certificates, as SwarmKit's do). `docker swarm ca --rotate --ca-cert …
//! --external-ca protocol=cfssl,url=https://127.0.0.1:PORT/api/v1/cfssl/sign` moves every
//! node to that root through cfssl (the cluster never holds its key); afterwards the old join
//! token is refused, a new node joins with a certificate cfssl signed (it chains to the
//! operator's root) and renews through cfssl when promoted and demoted, and with cfssl stopped
//! a join fails saying so and leaves nothing behind.
//! Bad external CAs (another protocol, an http URL, a garbage CACert, none reachable for the
//! root) answer 400 and change nothing; `GET /swarm` shows the external CA as dockerd does.

#![allow(clippy::disallowed_methods, clippy::unwrap_used, dead_code, unsafe_code)]

mod common;
#[path = "common/hosts.rs"]
mod hosts;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;

use common::{http, stderr, stdout};
use hosts::{Cluster, skip_reason};

/// Where cfssl listens inside host 0's network namespace.
const CFSSL_PORT: u16 = 8888;

/// The docker CLI against host `i`, killed after `secs` (a rotation that never converges
/// would make `swarm ca --rotate` wait for ever).
fn docker_within(c: &Cluster, i: usize, secs: u32, args: &[&str]) -> Output {
    Command::new("timeout")
        .arg(secs.to_string())
        .arg("docker")
        .arg("-H")
        .arg(format!("unix://{}", c.hosts[i].sock.display()))
        .args(args)
        .env_remove("DOCKER_CONTEXT")
        .output()
        .expect("run docker")
}

fn node_pem(c: &Cluster, i: usize, file: &str) -> String {
    std::fs::read_to_string(c.hosts[i].data_dir.join("swarm/certs").join(file)).unwrap_or_default()
}

fn run(command: &mut Command) -> String {
    let out = command.output().unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(out.status.success(), "{command:?}: {}", stderr(&out));
    stdout(&out)
}

/// The operator's root (P-256, SEC1 key) and a TLS certificate for cfssl's listener on
/// 127.0.0.1 signed by it, all made by `openssl` in `dir`.
fn make_roots(dir: &Path) {
    let at = |name: &str| dir.join(name);
    run(Command::new("openssl")
        .args(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out"])
        .arg(at("root-key.pem")));
    run(Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-new",
            "-days",
            "3650",
            "-subj",
            "/O=Operators/CN=Operator External Root",
        ])
        .arg("-key")
        .arg(at("root-key.pem"))
        .arg("-out")
        .arg(at("root.pem")));
    run(Command::new("openssl")
        .args(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out"])
        .arg(at("tls-key.pem")));
    run(Command::new("openssl")
        .args(["req", "-new", "-subj", "/CN=127.0.0.1", "-key"])
        .arg(at("tls-key.pem"))
        .arg("-out")
        .arg(at("tls.csr")));
    std::fs::write(
        at("tls.ext"),
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    run(Command::new("openssl")
        .args(["x509", "-req", "-days", "30", "-in"])
        .arg(at("tls.csr"))
        .arg("-CA")
        .arg(at("root.pem"))
        .arg("-CAkey")
        .arg(at("root-key.pem"))
        .arg("-CAcreateserial")
        .arg("-extfile")
        .arg(at("tls.ext"))
        .arg("-out")
        .arg(at("tls.pem")));
}

/// A `cfssl serve` this test started inside host 0's namespace; killed (by its own PID)
/// when dropped. Its log lines arrive on `lines`.
struct Cfssl {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Cfssl {
    /// Starts cfssl with the operator's root, requiring client certificates that chain to
    /// a root in `clients.pem`, and waits for its "listening" line.
    fn start(c: &Cluster, dir: &Path) -> Cfssl {
        // The namespace's loopback carries the manager's requests.
        run(Cluster::in_netns(c.hosts[0].netns(), "ip").args(["link", "set", "lo", "up"]));
        let at = |name: &str| dir.join(name);
        let mut child = Cluster::in_netns(c.hosts[0].netns(), "cfssl")
            .args(["serve", "-address", "127.0.0.1", "-port", &CFSSL_PORT.to_string()])
            .arg(format!("-ca={}", at("root.pem").display()))
            .arg(format!("-ca-key={}", at("root-key.pem").display()))
            .arg(format!("-tls-cert={}", at("tls.pem").display()))
            .arg(format!("-tls-key={}", at("tls-key.pem").display()))
            .arg(format!("-mutual-tls-ca={}", at("clients.pem").display()))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start cfssl serve");
        let (tx, lines) = mpsc::channel();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                eprintln!("cfssl: {line}");
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let cfssl = Cfssl { child, lines };
        cfssl.wait_for("Now listening");
        cfssl
    }

    /// Blocks until cfssl logs a line containing `text` (or 60 s pass).
    fn wait_for(&self, text: &str) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(text) => return,
                Ok(_) => {}
                Err(e) => panic!("cfssl never logged {text:?}: {e}"),
            }
        }
    }

    /// Blocks until cfssl logged `n` more signed certificates (its log line comes before
    /// its answer, so a certificate a node holds has its line in the pipe already).
    fn wait_signed(&self, n: usize) {
        for _ in 0..n {
            self.wait_for("signed certificate");
        }
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Cfssl {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `GET /swarm`'s body (the CLI has no `swarm inspect`).
fn get_swarm(c: &Cluster) -> serde_json::Value {
    let (status, body) = http::over_unix(
        &c.hosts[0].sock,
        &http::request("GET", "/v1.41/swarm", "shoal", &[], None),
    );
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// `POST /swarm/update` with the current spec and `ExternalCAs` set to `cas`.
fn post_external_cas(c: &Cluster, cas: serde_json::Value) -> (u16, String) {
    let swarm = get_swarm(c);
    let version = swarm["Version"]["Index"].as_u64().unwrap();
    let mut spec = swarm["Spec"].clone();
    spec["CAConfig"]["ExternalCAs"] = cas;
    http::over_unix(
        &c.hosts[0].sock,
        &http::request(
            "POST",
            &format!("/v1.41/swarm/update?version={version}"),
            "shoal",
            &["Content-Type: application/json"],
            Some(&spec.to_string()),
        ),
    )
}

fn join_args<'a>(token: &'a str, listen: &'a [String; 2], manager: &'a str) -> Vec<&'a str> {
    vec![
        "swarm",
        "join",
        "--token",
        token,
        "--advertise-addr",
        &listen[0],
        "--listen-addr",
        &listen[1],
        manager,
    ]
}

#[test]
fn docker_swarm_ca_rotate_to_an_external_cfssl_root() {
    if let Some(why) = skip_reason() {
        eprintln!("skipping: {why}");
        return;
    }
    if Command::new("cfssl").arg("version").output().is_err() {
        eprintln!("skipping: needs cfssl (Debian's golang-cfssl; scripts/test.sh installs it)");
        return;
    }
    // Host 0 a manager, host 1 a worker; host 2 leaves to join again afterwards.
    let (c, old_worker) = hosts::two_hosts_and_a_spare("extca");

    let dir = tempfile::tempdir().unwrap();
    make_roots(dir.path());
    let root_path = dir.path().join("root.pem").to_string_lossy().into_owned();
    let operator_root = std::fs::read_to_string(&root_path).unwrap();
    let url = format!("https://127.0.0.1:{CFSSL_PORT}/api/v1/cfssl/sign");

    // Bad external CAs: 400 with the reason, nothing changes.
    let before = get_swarm(&c);
    for (what, ca, says) in [
        (
            "another protocol",
            serde_json::json!({"Protocol": "acme", "URL": url}),
            r#"invalid protocol: \"acme\""#,
        ),
        (
            "an http URL",
            serde_json::json!({"Protocol": "cfssl", "URL": "http://127.0.0.1:8888/api/v1/cfssl/sign"}),
            "an https:// URL is required",
        ),
        (
            "a garbage CACert",
            serde_json::json!({"Protocol": "cfssl", "URL": url,
                "CACert": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}),
            "one PEM certificate is required",
        ),
    ] {
        let (status, body) = post_external_cas(&c, serde_json::json!([ca]));
        assert_eq!(status, 400, "{what}: {body}");
        assert!(body.contains(says), "{what}: {body}");
    }
    let out = docker_within(
        &c,
        0,
        60,
        &[
            "swarm",
            "update",
            "--external-ca",
            "protocol=cfssl,url=http://127.0.0.1:8888/api/v1/cfssl/sign",
        ],
    );
    assert!(
        !out.status.success() && stderr(&out).contains("an https:// URL is required"),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    // The certificate without its key and without an external CA for it: refused (the CLI
    // itself refuses `--ca-cert` alone, so through the API).
    let swarm = get_swarm(&c);
    let mut spec = swarm["Spec"].clone();
    spec["CAConfig"]["SigningCACert"] = operator_root.as_str().into();
    let (status, body) = http::over_unix(
        &c.hosts[0].sock,
        &http::request(
            "POST",
            &format!("/v1.41/swarm/update?version={}", swarm["Version"]["Index"]),
            "shoal",
            &["Content-Type: application/json"],
            Some(&spec.to_string()),
        ),
    );
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("external CA for the desired CA certificate"),
        "{body}"
    );
    // An external CA for it that nobody answers at: refused as SwarmKit refuses it.
    let external = format!("protocol=cfssl,url={url}");
    let rotate = [
        "swarm",
        "ca",
        "--rotate",
        "--ca-cert",
        &root_path,
        "--external-ca",
        &external,
    ];
    let out = docker_within(&c, 0, 60, &rotate);
    assert!(
        !out.status.success() && stderr(&out).contains("reachable, valid external CA"),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert_eq!(get_swarm(&c), before, "a refused external CA changed the swarm");

    // cfssl holds the key; the cluster gets only the certificate and the URL. It answers
    // only clients with a certificate of the cluster's root (the managers' now) or of the
    // operator's (theirs after the rotation).
    let cluster_root = c.docker_ok(0, &["swarm", "ca"]);
    std::fs::write(
        dir.path().join("clients.pem"),
        format!("{}\n{}", cluster_root.trim(), operator_root.trim()),
    )
    .unwrap();
    let cfssl = Cfssl::start(&c, dir.path());
    let anonymous = Cluster::in_netns(c.hosts[0].netns(), "curl")
        .args(["-sk", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", &url])
        .output()
        .unwrap();
    assert!(
        !anonymous.status.success() && stdout(&anonymous) == "000",
        "cfssl answered a client without a certificate: {}",
        stdout(&anonymous)
    );
    let out = docker_within(&c, 0, 180, &rotate);
    assert!(
        out.status.success(),
        "swarm ca --rotate --ca-cert --external-ca: {}{}",
        stdout(&out),
        stderr(&out)
    );
    // Both nodes renewed through cfssl.
    cfssl.wait_signed(2);
    assert_eq!(c.docker_ok(0, &["swarm", "ca"]).trim(), operator_root.trim());
    for i in 0..2 {
        c.wait(&format!("host {i} trusts only the operator's root"), || {
            (node_pem(&c, i, "ca.pem").trim() == operator_root.trim()).then_some(())
        });
        assert!(
            ca::issued_by(&node_pem(&c, i, "node.pem"), &operator_root),
            "host {i}"
        );
    }
    // Shown as dockerd shows it: protocol, URL and the root it signs under.
    let swarm = get_swarm(&c);
    let cas = &swarm["Spec"]["CAConfig"]["ExternalCAs"];
    assert_eq!(cas.as_array().map(Vec::len), Some(1), "{swarm}");
    assert_eq!(cas[0]["Protocol"], "cfssl");
    assert_eq!(cas[0]["URL"], url.as_str());
    assert_eq!(
        cas[0]["CACert"].as_str().map(str::trim),
        Some(operator_root.trim())
    );
    assert_eq!(swarm["RootRotationInProgress"], false);
    let info = c.docker_ok(
        0,
        &[
            "info",
            "--format",
            "{{json .Swarm.Cluster.Spec.CAConfig.ExternalCAs}}",
        ],
    );
    assert_eq!(serde_json::from_str::<serde_json::Value>(&info).unwrap(), *cas);

    // The old join token is refused; the new one joins with a certificate cfssl signed.
    let new_worker = c
        .docker_ok(0, &["swarm", "join-token", "-q", "worker"])
        .trim()
        .to_string();
    assert_ne!(new_worker, old_worker);
    let address = c.hosts[2].address.to_string();
    let listen = [address.clone(), format!("{address}:2377")];
    let manager = format!("{}:2377", c.hosts[0].address);
    let refused = docker_within(&c, 2, 60, &join_args(&old_worker, &listen, &manager));
    assert!(
        !refused.status.success(),
        "old token joined: {}",
        stdout(&refused)
    );
    let joined = docker_within(&c, 2, 60, &join_args(&new_worker, &listen, &manager));
    assert!(joined.status.success(), "new token: {}", stderr(&joined));
    // The new node's certificate came from cfssl.
    cfssl.wait_signed(1);
    let leaf = node_pem(&c, 2, "node.pem");
    assert!(ca::issued_by(&leaf, &operator_root));
    let identity = ca::PeerIdentity::from_pem(&leaf).unwrap();
    assert_eq!(identity.role, types::Role::Worker);
    c.wait("3 nodes ready", || {
        let out = c.docker_ok(0, &["node", "ls", "--format", "{{.Status}}"]);
        (out.lines().filter(|l| l.trim() == "Ready").count() == 3).then_some(())
    });
    c.docker_ok(0, &["service", "scale", "--detach", "web=3"]);
    c.wait_running("web", 3);

    // Role changes renew through cfssl too: promoted, the node holds a manager certificate
    // from the operator's root; demoted, a worker one again.
    for (verb, role) in [("promote", types::Role::Manager), ("demote", types::Role::Worker)] {
        c.docker_ok(0, &["node", verb, &identity.node_id]);
        c.wait(&format!("host 2's certificate after {verb}"), || {
            let pem = node_pem(&c, 2, "node.pem");
            let now = ca::PeerIdentity::from_pem(&pem).ok()?;
            (now.role == role && ca::issued_by(&pem, &operator_root)).then_some(())
        });
        cfssl.wait_signed(1);
        if role == types::Role::Manager {
            // Demoted only once it is a Raft member (not while it is still joining).
            c.wait("host 2 a reachable manager", || {
                let out = c.docker(
                    0,
                    &[
                        "node",
                        "inspect",
                        "--format",
                        "{{.ManagerStatus.Reachability}}",
                        &identity.node_id,
                    ],
                );
                (stdout(&out).trim() == "reachable").then_some(())
            });
        }
    }

    // `swarm update` sends the external CA back as it read it: kept.
    c.docker_ok(0, &["swarm", "update", "--cert-expiry", "48h"]);
    assert_eq!(get_swarm(&c)["Spec"]["CAConfig"]["ExternalCAs"], *cas);

    // cfssl gone: a join fails saying why, and no node is left behind.
    drop(cfssl);
    c.docker_ok(2, &["swarm", "leave"]);
    c.wait("host 2 down again", || {
        let out = c.docker_ok(0, &["node", "ls", "--format", "{{.ID}} {{.Status}}"]);
        out.lines()
            .any(|l| l.starts_with(&identity.node_id) && l.ends_with("Down"))
            .then_some(())
    });
    c.docker_ok(0, &["node", "rm", &identity.node_id]);
    let nodes_before = c.docker_ok(0, &["node", "ls", "-q"]);
    let failed = docker_within(&c, 2, 90, &join_args(&new_worker, &listen, &manager));
    assert!(
        !failed.status.success(),
        "joined without cfssl: {}",
        stdout(&failed)
    );
    assert!(
        stderr(&failed).contains("external CA"),
        "unclear error: {}",
        stderr(&failed)
    );
    assert_eq!(c.docker_ok(0, &["node", "ls", "-q"]), nodes_before);
    eprintln!(
        "join without cfssl: {}",
        stderr(&failed).lines().last().unwrap_or_default()
    );
}
