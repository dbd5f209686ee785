//! Issue 14 item 5: `docker swarm ca --rotate` (root CA rotation, `CAConfig.ForceRotate`) on
//! three hosts in network namespaces (two managers), with the stock docker CLI. The CLI waits until every
//! node holds a certificate from the new root and the rotation ended; then every node's
//! certificate file is under the new root and trusts only it, a service still converges, the
//! join tokens changed: the old worker token is refused and a node joins with the new one.
//! A second rotation, asked of the other manager, moves all three to a newer root.
//!
//! `docker swarm ca --rotate --ca-cert --ca-key` with a root of the operator's own (made by
//! `openssl`, its key in SEC1 form): a mismatched key, a certificate that is no CA, garbage PEM and a certificate
//! without its key (and no external CA for it) answer 400 and change nothing; the good pair moves every node to that root
//! (its certificate chains to it, the node trusts only it), the old join token is refused and
//! a service still scales; the same root given again rotates nothing.

#![allow(clippy::disallowed_methods, clippy::unwrap_used, dead_code, unsafe_code)]

mod common;
#[path = "common/hosts.rs"]
mod hosts;

use std::process::{Command, Output};

use common::{http, stderr, stdout};
use hosts::{Cluster, IMAGE, skip_reason};

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

fn join_args<'a>(c: &Cluster, i: usize, token: &'a str, listen: &'a [String; 2]) -> Vec<&'a str> {
    let _ = (c, i);
    vec![
        "swarm",
        "join",
        "--token",
        token,
        "--advertise-addr",
        &listen[0],
        "--listen-addr",
        &listen[1],
    ]
}

#[test]
fn docker_swarm_ca_rotate_moves_every_node_to_a_new_root() {
    if let Some(why) = skip_reason() {
        eprintln!("skipping: {why}");
        return;
    }
    // Hosts 0 and 1 are managers: their Raft traffic crosses the rotation too.
    let c = Cluster::with_managers("carot", 3, 2);
    let old_root = c.docker_ok(0, &["swarm", "ca"]);
    assert!(old_root.contains("BEGIN CERTIFICATE"), "{old_root}");
    let old_worker = c
        .docker_ok(0, &["swarm", "join-token", "-q", "worker"])
        .trim()
        .to_string();
    let old_manager = c
        .docker_ok(0, &["swarm", "join-token", "-q", "manager"])
        .trim()
        .to_string();

    // Host 2 leaves and is removed: it joins again after the rotation, with the new token.
    c.docker_ok(2, &["swarm", "leave"]);
    let gone = c.hosts[2].node_id.clone();
    c.wait("host 2 down", || {
        let state = c.docker_ok(0, &["node", "inspect", "--format", "{{.Status.State}}", &gone]);
        (state.trim() == "down").then_some(())
    });
    c.docker_ok(0, &["node", "rm", &gone]);

    c.docker_ok(
        0,
        &[
            "service",
            "create",
            "--detach",
            "--name",
            "web",
            "--replicas",
            "2",
            IMAGE,
            "sleep",
            "3600",
        ],
    );
    c.wait_running("web", 2);

    // The stock CLI bumps ForceRotate and polls GET /swarm and the nodes until done.
    let started = std::time::Instant::now();
    let out = docker_within(&c, 0, 120, &["swarm", "ca", "--rotate"]);
    eprintln!("swarm ca --rotate over 2 nodes took {:?}", started.elapsed());
    assert!(
        out.status.success(),
        "swarm ca --rotate: {}{}",
        stdout(&out),
        stderr(&out)
    );
    let new_root = c.docker_ok(0, &["swarm", "ca"]);
    assert_ne!(new_root.trim(), old_root.trim());
    assert!(stdout(&out).contains(new_root.trim()), "{}", stdout(&out));
    assert_eq!(
        c.docker_ok(
            0,
            &["info", "--format", "{{.Swarm.Cluster.RootRotationInProgress}}"]
        )
        .trim(),
        "false"
    );
    let issuer = c.docker_ok(
        0,
        &[
            "info",
            "--format",
            "{{json .Swarm.Cluster.TLSInfo.CertIssuerPublicKey}}",
        ],
    );
    for id in [&c.hosts[0].node_id, &c.hosts[1].node_id] {
        let node = c.docker_ok(
            0,
            &[
                "node",
                "inspect",
                "--format",
                "{{json .Description.TLSInfo.CertIssuerPublicKey}}",
                id,
            ],
        );
        assert_eq!(node, issuer, "node {id}");
    }

    // Every node's own files: a certificate from the new root, and only the new root trusted.
    for i in 0..2 {
        c.wait(&format!("host {i} trusts only the new root"), || {
            (node_pem(&c, i, "ca.pem").trim() == new_root.trim()).then_some(())
        });
        assert!(ca::issued_by(&node_pem(&c, i, "node.pem"), &new_root), "host {i}");
    }

    // New join tokens pin the new root: the old one is refused, the new one joins.
    let new_worker = c
        .docker_ok(0, &["swarm", "join-token", "-q", "worker"])
        .trim()
        .to_string();
    let new_manager = c
        .docker_ok(0, &["swarm", "join-token", "-q", "manager"])
        .trim()
        .to_string();
    assert_ne!(new_worker, old_worker);
    assert_ne!(new_manager, old_manager);
    let address = c.hosts[2].address.to_string();
    let listen = [address.clone(), format!("{address}:2377")];
    let manager = format!("{}:2377", c.hosts[0].address);
    let mut args = join_args(&c, 2, &old_worker, &listen);
    args.push(&manager);
    let refused = docker_within(&c, 2, 60, &args);
    assert!(
        !refused.status.success(),
        "old token joined: {}",
        stdout(&refused)
    );
    let mut args = join_args(&c, 2, &new_worker, &listen);
    args.push(&manager);
    let joined = docker_within(&c, 2, 60, &args);
    assert!(joined.status.success(), "new token: {}", stderr(&joined));
    c.wait("3 nodes ready", || {
        let out = c.docker_ok(0, &["node", "ls", "--format", "{{.Status}}"]);
        (out.lines().filter(|l| l.trim() == "Ready").count() == 3).then_some(())
    });
    assert!(ca::issued_by(&node_pem(&c, 2, "node.pem"), &new_root));

    // `swarm update` sends back the ForceRotate it read: no new rotation, the expiry applies.
    c.docker_ok(0, &["swarm", "update", "--cert-expiry", "48h"]);
    let expiry = c.docker_ok(
        0,
        &[
            "info",
            "--format",
            "{{.Swarm.Cluster.Spec.CAConfig.NodeCertExpiry}}",
        ],
    );
    assert_eq!(expiry.trim(), "48h0m0s");
    assert_eq!(c.docker_ok(0, &["swarm", "ca"]), new_root);
    // The cluster keeps working: the service scales over all three nodes.
    c.docker_ok(0, &["service", "scale", "--detach", "web=3"]);
    c.wait_running("web", 3);

    // A second rotation, asked of the other manager: the newer root replaces the new one.
    let out = docker_within(&c, 1, 120, &["swarm", "ca", "--rotate", "-q"]);
    assert!(out.status.success(), "second rotation: {}", stderr(&out));
    let newer_root = c.docker_ok(0, &["swarm", "ca"]);
    assert_ne!(newer_root, new_root);
    for i in 0..3 {
        c.wait(&format!("host {i} on the newer root"), || {
            (node_pem(&c, i, "ca.pem") == newer_root
                && ca::issued_by(&node_pem(&c, i, "node.pem"), &newer_root))
            .then_some(())
        });
    }
    c.docker_ok(0, &["service", "scale", "--detach", "web=1"]);
    c.wait_running("web", 1);
    // Each rotation moves a node once: no renewal or trust swap repeats while the sessions
    // keep sending the same roots.
    for (i, host) in c.hosts.iter().enumerate() {
        let log = host.log_tail();
        for line in [
            "renewed the node certificate under the new root CA",
            "trusting the cluster's new root CA",
        ] {
            let seen = log.matches(line).count();
            assert!(seen <= 2, "host {i}: {seen} × {line}\n{log}");
        }
    }
    eprintln!(
        "refused old token: {}",
        stderr(&refused).lines().last().unwrap_or_default()
    );
}

/// `openssl` in `dir`: a P-256 key `<name>-key.pem` in SEC1 form (`EC PRIVATE KEY`, as
/// `openssl ecparam` and cfssl write it) and a self-signed certificate `<name>.pem` for it;
/// `extra` adds `openssl req` arguments (extensions).
fn openssl_root(dir: &std::path::Path, name: &str, subject: &str, extra: &[&str]) -> (String, String) {
    let (cert, key) = (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}-key.pem")),
    );
    let run = |args: &mut Command| {
        let out = args.output().expect("run openssl");
        assert!(out.status.success(), "openssl: {}", stderr(&out));
    };
    run(Command::new("openssl")
        .args(["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out"])
        .arg(&key));
    run(Command::new("openssl")
        .args(["req", "-x509", "-new", "-days", "3650", "-subj", subject, "-key"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .args(extra));
    (
        cert.to_string_lossy().into_owned(),
        key.to_string_lossy().into_owned(),
    )
}

/// `GET /swarm`'s body (the CLI has no `swarm inspect`).
fn get_swarm(c: &Cluster) -> String {
    let (status, body) = http::over_unix(
        &c.hosts[0].sock,
        &http::request("GET", "/v1.41/swarm", "shoal", &[], None),
    );
    assert_eq!(status, 200, "{body}");
    body
}

/// `POST /swarm/update` with the current spec plus `SigningCACert`/`SigningCAKey`: the
/// status and body dockerd's clients would see.
fn post_signing_root(c: &Cluster, cert_pem: &str, key_pem: &str) -> (u16, String) {
    let swarm: serde_json::Value = serde_json::from_str(&get_swarm(c)).unwrap();
    let version = swarm["Version"]["Index"].as_u64().unwrap();
    let mut spec = swarm["Spec"].clone();
    spec["CAConfig"]["SigningCACert"] = cert_pem.into();
    spec["CAConfig"]["SigningCAKey"] = key_pem.into();
    let body = spec.to_string();
    http::over_unix(
        &c.hosts[0].sock,
        &http::request(
            "POST",
            &format!("/v1.41/swarm/update?version={version}"),
            "shoal",
            &["Content-Type: application/json"],
            Some(&body),
        ),
    )
}

#[test]
fn docker_swarm_ca_rotate_to_a_root_of_the_operators_own() {
    if let Some(why) = skip_reason() {
        eprintln!("skipping: {why}");
        return;
    }
    // Host 0 a manager, host 1 a worker; host 2 leaves to try the join tokens afterwards.
    let (c, old_worker) = hosts::two_hosts_and_a_spare("caown");
    let old_root = c.docker_ok(0, &["swarm", "ca"]);

    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = openssl_root(dir.path(), "root", "/C=DE/O=Operators/CN=Operator Root CA", &[]);
    let (_, other_key) = openssl_root(dir.path(), "other", "/CN=Other Root", &[]);
    let (leaf, leaf_key) = openssl_root(
        dir.path(),
        "leaf",
        "/CN=not a ca",
        &["-addext", "basicConstraints=critical,CA:FALSE"],
    );
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(
        &garbage,
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let garbage = garbage.to_string_lossy().into_owned();
    let read = |p: &str| std::fs::read_to_string(p).unwrap();
    let before = get_swarm(&c);

    // Bad input: 400 from the API, the CLI prints the reason, nothing changes.
    for (what, cert, key, says) in [
        ("mismatched key", &cert, &other_key, "certificate key mismatch"),
        ("not a CA", &leaf, &leaf_key, "is not a CA certificate"),
        (
            "garbage PEM",
            &garbage,
            &key,
            "could not parse the desired CA certificate",
        ),
    ] {
        let (status, body) = post_signing_root(&c, &read(cert), &read(key));
        assert_eq!(status, 400, "{what}: {body}");
        assert!(body.contains(says), "{what}: {body}");
        assert!(!body.contains("PRIVATE KEY"), "{what}: {body}");
        let out = docker_within(
            &c,
            0,
            60,
            &["swarm", "ca", "--rotate", "--ca-cert", cert, "--ca-key", key],
        );
        assert!(
            !out.status.success() && stderr(&out).contains(says),
            "{what}: {}{}",
            stdout(&out),
            stderr(&out)
        );
    }
    let (status, body) = post_signing_root(&c, &read(&cert), "");
    assert_eq!(status, 400, "cert without key: {body}");
    assert!(
        body.contains("external CA for the desired CA certificate"),
        "{body}"
    );
    let (status, body) = post_signing_root(&c, "", &read(&key));
    assert_eq!(status, 400, "key without cert: {body}");
    assert_eq!(get_swarm(&c), before, "a refused root changed the swarm");

    // The good pair: the CLI waits until every node moved to it.
    let out = docker_within(
        &c,
        0,
        120,
        &["swarm", "ca", "--rotate", "--ca-cert", &cert, "--ca-key", &key],
    );
    assert!(
        out.status.success(),
        "swarm ca --rotate --ca-cert: {}{}",
        stdout(&out),
        stderr(&out)
    );
    let operator_root = read(&cert);
    let new_root = c.docker_ok(0, &["swarm", "ca"]);
    assert_eq!(new_root.trim(), operator_root.trim());
    assert_ne!(new_root.trim(), old_root.trim());
    assert!(stdout(&out).contains(operator_root.trim()), "{}", stdout(&out));
    for i in 0..2 {
        c.wait(&format!("host {i} trusts only the operator's root"), || {
            (node_pem(&c, i, "ca.pem").trim() == operator_root.trim()).then_some(())
        });
        assert!(
            ca::issued_by(&node_pem(&c, i, "node.pem"), &operator_root),
            "host {i}"
        );
    }
    // Neither key is shown: not the operator's, not the cluster's.
    let inspect = get_swarm(&c) + &c.docker_ok(0, &["info", "--format", "{{json .Swarm}}"]);
    let operator_key = read(&key);
    let key_body = operator_key.lines().nth(1).unwrap();
    assert!(
        !inspect.contains("PRIVATE KEY") && !inspect.contains(key_body),
        "{inspect}"
    );
    assert!(!inspect.contains("SigningCAKey"), "{inspect}");

    // The join tokens changed: the old one is refused.
    let new_worker = c
        .docker_ok(0, &["swarm", "join-token", "-q", "worker"])
        .trim()
        .to_string();
    assert_ne!(new_worker, old_worker);
    let address = c.hosts[2].address.to_string();
    let listen = [address.clone(), format!("{address}:2377")];
    let manager = format!("{}:2377", c.hosts[0].address);
    let mut args = join_args(&c, 2, &old_worker, &listen);
    args.push(&manager);
    let refused = docker_within(&c, 2, 60, &args);
    assert!(
        !refused.status.success(),
        "old token joined: {}",
        stdout(&refused)
    );

    // The same root again rotates nothing; the service still scales.
    let out = docker_within(
        &c,
        0,
        60,
        &[
            "swarm",
            "ca",
            "--rotate",
            "-d",
            "--ca-cert",
            &cert,
            "--ca-key",
            &key,
        ],
    );
    assert!(out.status.success(), "same root again: {}", stderr(&out));
    assert_eq!(
        c.docker_ok(
            0,
            &["info", "--format", "{{.Swarm.Cluster.RootRotationInProgress}}"]
        )
        .trim(),
        "false"
    );
    assert_eq!(
        c.docker_ok(0, &["swarm", "join-token", "-q", "worker"]).trim(),
        new_worker
    );
    c.docker_ok(0, &["service", "scale", "--detach", "web=4"]);
    c.wait_running("web", 4);
}
