//! Issue 14 item 5: `docker swarm ca --rotate` (root CA rotation, `CAConfig.ForceRotate`) on
//! three hosts in network namespaces (two managers), with the stock docker CLI. The CLI waits until every
//! node holds a certificate from the new root and the rotation ended; then every node's
//! certificate file is under the new root and trusts only it, a service still converges, the
//! join tokens changed: the old worker token is refused and a node joins with the new one.
//! A second rotation, asked of the other manager, moves all three to a newer root.

#![allow(clippy::disallowed_methods, clippy::unwrap_used, dead_code, unsafe_code)]

mod common;
#[path = "common/hosts.rs"]
mod hosts;

use std::process::{Command, Output};

use common::{stderr, stdout};
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
    // A root of the operator's own is refused by name, not dropped.
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("ca.pem"), dir.path().join("ca.key"));
    std::fs::write(&cert, &new_root).unwrap();
    std::fs::write(
        &key,
        "-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n",
    )
    .unwrap();
    let own = docker_within(
        &c,
        0,
        60,
        &[
            "swarm",
            "ca",
            "--rotate",
            "--ca-cert",
            cert.to_str().unwrap(),
            "--ca-key",
            key.to_str().unwrap(),
        ],
    );
    assert!(
        !own.status.success() && stderr(&own).contains("--ca-cert"),
        "{}",
        stderr(&own)
    );

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
