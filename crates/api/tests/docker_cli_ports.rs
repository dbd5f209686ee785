//! The port control plane through the stock `docker` CLI, over the fake backend with
//! published ports let through (`FakeBackend::serve_published_ports`; the real daemon still
//! refuses them, see `docker_cli_services.rs`): `--publish` in its short and long forms,
//! automatic ports, conflicts as dockerd words them, `service ls`'s PORTS column and
//! `service inspect`'s `Endpoint`.

#![allow(clippy::unwrap_used)]

mod common;
mod support;

use common::{FakeBackend, INGRESS_ID};
use serde_json::{Value, json};
use support::{Cli, Docker, cli};

/// `docker service inspect NAME`'s `Endpoint`.
async fn endpoint(docker: &Docker, name: &str) -> Value {
    let out = docker.ok(&["service", "inspect", name]).await;
    let services: Value = serde_json::from_str(&out).unwrap();
    services[0]["Endpoint"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_cli_publishes_ports() {
    let backend = FakeBackend::new();
    backend.serve_published_ports();
    let Some(Cli {
        docker,
        stop: _stop,
        dir: _dir,
    }) = cli(&backend)
    else {
        return;
    };

    // Short form with a published port, a target alone (automatic), and the long form in
    // host mode over udp.
    docker
        .ok(&[
            "service",
            "create",
            "-d",
            "--name",
            "web",
            "-p",
            "8080:80",
            "-p",
            "443",
            "--publish",
            "published=9090,target=90,protocol=udp,mode=host",
            "busybox",
            "sleep",
            "1000",
        ])
        .await;
    let web = backend.stored_service("web");
    let e = endpoint(&docker, "web").await;
    assert_eq!(
        e["Spec"],
        json!({"Mode": "vip", "Ports": [
            {"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8080, "PublishMode": "ingress"},
            {"Protocol": "tcp", "TargetPort": 443, "PublishMode": "ingress"},
            {"Protocol": "udp", "TargetPort": 90, "PublishedPort": 9090, "PublishMode": "host"},
        ]})
    );
    assert_eq!(
        e["Ports"],
        json!([
            {"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8080, "PublishMode": "ingress"},
            {"Protocol": "tcp", "TargetPort": 443, "PublishedPort": 30000, "PublishMode": "ingress"},
            {"Protocol": "udp", "TargetPort": 90, "PublishedPort": 9090, "PublishMode": "host"},
        ])
    );
    // A VIP on the ingress network, since it publishes through the mesh.
    let vips = e["VirtualIPs"].as_array().unwrap();
    assert_eq!(vips.len(), 1, "{e}");
    assert_eq!(vips[0]["NetworkID"], INGRESS_ID);
    assert!(vips[0]["Addr"].as_str().unwrap().starts_with("10.0.0."), "{e}");

    // ls: the CLI shows the ingress ports from Endpoint.Ports (host-mode ones are per task).
    let ls = docker
        .ok(&["service", "ls", "--format", "{{.Name}} {{.Ports}}"])
        .await;
    assert_eq!(ls.trim(), "web *:8080->80/tcp, *:30000->443/tcp");

    // Conflicts, as dockerd words them.
    let clash = docker
        .run(&[
            "service",
            "create",
            "-d",
            "--name",
            "clash",
            "-p",
            "8080:8080",
            "busybox",
            "sleep",
            "1",
        ])
        .await;
    assert!(!clash.ok);
    assert!(
        clash.stderr.contains(&format!(
            "Error response from daemon: port '8080' is already in use by service 'web' ({}) as an ingress port",
            web.id
        )),
        "{}",
        clash.stderr
    );
    let on_host_port = docker
        .run(&[
            "service",
            "create",
            "-d",
            "--name",
            "clash",
            "-p",
            "9090:90/udp",
            "busybox",
            "sleep",
            "1",
        ])
        .await;
    assert!(
        on_host_port
            .stderr
            .contains("port '9090' is already in use by service 'web'")
            && on_host_port.stderr.contains("as a host-published port"),
        "{}",
        on_host_port.stderr
    );
    // SCTP: the nodes' mesh carries TCP and UDP only, so it is refused by name.
    let sctp = docker
        .run(&[
            "service",
            "create",
            "-d",
            "--name",
            "sctp",
            "-p",
            "8080:80/sctp",
            "busybox",
            "sleep",
            "1",
        ])
        .await;
    assert!(
        !sctp.ok && sctp.stderr.contains("publishing SCTP ports is not supported"),
        "{}",
        sctp.stderr
    );

    // Refused by name: a port the Engine API does not have, and dnsrr through the mesh.
    let dnsrr = docker
        .run(&[
            "service",
            "create",
            "-d",
            "--name",
            "rr",
            "--endpoint-mode",
            "dnsrr",
            "-p",
            "7000:70",
            "busybox",
            "sleep",
            "1",
        ])
        .await;
    assert!(
        dnsrr
            .stderr
            .contains("port published with ingress mode can't be used with dnsrr mode"),
        "{}",
        dnsrr.stderr
    );

    // An update keeps the automatic port and frees the one it drops (`--publish-rm` names
    // the target port).
    docker
        .ok(&["service", "update", "-d", "--publish-rm", "80", "web"])
        .await;
    assert_eq!(
        endpoint(&docker, "web").await["Ports"],
        json!([
            {"Protocol": "tcp", "TargetPort": 443, "PublishedPort": 30000, "PublishMode": "ingress"},
            {"Protocol": "udp", "TargetPort": 90, "PublishedPort": 9090, "PublishMode": "host"},
        ])
    );
    docker
        .ok(&[
            "service", "create", "-d", "--name", "takes", "-p", "8080:80", "busybox", "sleep", "1",
        ])
        .await;

    // Remove frees the rest: the automatic port goes to the next service asking.
    docker.ok(&["service", "rm", "web"]).await;
    docker
        .ok(&[
            "service", "create", "-d", "--name", "next", "-p", "80", "busybox", "sleep", "1",
        ])
        .await;
    assert_eq!(
        endpoint(&docker, "next").await["Ports"][0]["PublishedPort"],
        30000
    );
}
