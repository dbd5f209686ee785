//! Encrypted overlays across three hosts, driven by the stock docker CLI (issue 13, item 4):
//! `docker network create -d overlay --opt encrypted`, a service on it with tasks on every host,
//! a client reaching it by name across hosts; tcpdump on the underlay between the hosts'
//! namespaces sees neither the payload nor a VXLAN header, only WireGuard datagrams, while the
//! same exchange on a plain overlay shows both. The managers rotate the nodes' tunnel keys every
//! few seconds here (`SHOAL_TUNNEL_KEY_ROTATION`), and one TCP connection across hosts carries
//! on through several rotations. Root and tcpdump only; nothing leaves the test's namespaces.
#![allow(clippy::disallowed_methods, clippy::unwrap_used, dead_code, unsafe_code)]

mod common;
#[path = "common/hosts.rs"]
mod hosts;
#[path = "common/overlay.rs"]
mod overlay;

use std::collections::BTreeSet;
use std::path::Path;

use hosts::{Cluster, Task, skip_reason};
use netplane::capture::{Capture, contains, vxlan_header};
use overlay::*;

/// What the web tasks serve, followed by their host name: easy to look for in a capture.
const MARKER: &str = "SHOAL-PLAINTEXT-7d2f";

/// How often the nodes renew their tunnel keys in this test, in seconds.
const ROTATION_SECS: u64 = 4;

/// An HTTP server answering the marker and its host name on 80, and an echo server on 7000.
fn web_script() -> String {
    format!(
        "mkdir -p /www && echo {MARKER}-$(hostname) > /www/index.html && \
         (nc -ll -p 7000 -e cat &) && exec httpd -f -p 80 -h /www"
    )
}

/// The VNI of network `name`, as `network inspect` shows it.
fn vni(c: &Cluster, name: &str) -> u32 {
    let out = c.docker_ok(
        0,
        &[
            "network",
            "inspect",
            "--format",
            "{{index .Options \"com.docker.network.driver.overlay.vxlanid_list\"}}",
            name,
        ],
    );
    out.trim()
        .parse()
        .unwrap_or_else(|_| panic!("VNI of {name}: {out:?}"))
}

/// `count` HTTP requests by name from inside `client` to `name:80`, each on its own
/// connection; the bodies' last lines.
fn hits_by_name(c: &Cluster, client: &Task, name: &str, count: usize) -> Vec<String> {
    let script = format!(
        "for i in $(seq {count}); do r=$(printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 {name} 80 | tail -n 1); echo \"hit:$r\"; done"
    );
    let out = c.exec_ok(client.host, &client.container, &["sh", "-c", &script]);
    out.lines()
        .filter_map(|l| l.strip_prefix("hit:"))
        .map(|h| h.trim().to_owned())
        .collect()
}

/// How many key renewals host `i`'s agent logged so far.
fn renewals(c: &Cluster, i: usize) -> usize {
    std::fs::read_to_string(c.dir().join(format!("h{i}.log")))
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("tunnel key renewed"))
        .count()
}

/// Web tasks on every host and one client on `network`; the client and the web tasks on
/// other hosts than the client's.
fn deploy(c: &Cluster, network: &str, web: &str, client: &str) -> (Task, Vec<Task>) {
    service(c, web, &["--mode", "global", "--network", network], &web_script());
    service(c, client, &["--network", network], "exec sleep 100000");
    let webs = c.wait_running(web, c.hosts.len());
    let client = c.wait_running(client, 1).remove(0);
    let remote: Vec<Task> = webs.into_iter().filter(|t| t.host != client.host).collect();
    assert_eq!(remote.len(), c.hosts.len() - 1, "{remote:?}");
    (client, remote)
}

#[test]
fn an_encrypted_overlay_hides_its_traffic_and_keeps_connections_through_key_rotations() {
    if let Some(why) = skip_reason() {
        eprintln!("skipping: {why}");
        return;
    }
    if Cluster::in_netns(Path::new("/proc/self/ns/net"), "tcpdump")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipping: needs tcpdump");
        return;
    }
    // SAFETY: set before any agent starts and before this binary's only test spawns threads
    // that read the environment; the agents inherit it.
    unsafe { std::env::set_var(shoal_rotation_env(), ROTATION_SECS.to_string()) };
    let c = Cluster::new("wgc", 3);
    c.docker_ok(
        0,
        &[
            "network",
            "create",
            "-d",
            "overlay",
            "--opt",
            "encrypted",
            "secret",
        ],
    );
    c.docker_ok(0, &["network", "create", "-d", "overlay", "plain"]);
    // Shown as dockerd shows it.
    let options = c.docker_ok(
        0,
        &["network", "inspect", "--format", "{{json .Options}}", "secret"],
    );
    let options: serde_json::Value = serde_json::from_str(options.trim()).unwrap();
    assert_eq!(options["encrypted"], "", "{options}");

    let (client, remote) = deploy(&c, "secret", "web", "client");
    let hosts: BTreeSet<String> = remote.iter().map(|t| t.id[..12].to_owned()).collect();

    // Encrypted: the client reaches the web tasks on the other hosts by name through the VIP,
    // and the underlay of the client's host carries only WireGuard datagrams.
    let capture = Capture::start(
        Cluster::in_netns(c.hosts[client.host].netns(), "tcpdump"),
        c.dir().join("secret.pcap"),
    );
    let answers = c.wait("the web tasks on the other hosts answer by name", || {
        let answers = hits_by_name(&c, &client, "web", 30);
        let reached: BTreeSet<String> = answers
            .iter()
            .filter_map(|a| a.strip_prefix(&format!("{MARKER}-")))
            .map(str::to_owned)
            .collect();
        hosts.is_subset(&reached).then_some(answers)
    });
    let seen = capture.finish();
    let secret_vni = vni(&c, "secret");
    assert!(
        seen.iter()
            .any(|p| p.destination_port == netplane::crypt::TUNNEL_PORT),
        "no tunnel traffic captured ({} datagrams)",
        seen.len()
    );
    for packet in &seen {
        assert!(
            !contains(&packet.payload, MARKER.as_bytes()),
            "plaintext on the underlay: {packet:?}"
        );
        assert!(
            !contains(&packet.payload, &vxlan_header(secret_vni)),
            "a VXLAN header in the clear: {packet:?}"
        );
        assert!(
            packet.destination_port != netplane::crypt::ENCRYPTED_VXLAN_PORT
                && packet.destination_port != 4789,
            "VXLAN on the underlay: {packet:?}"
        );
    }
    assert!(answers.len() >= 30, "{answers:?}");

    // Plain: the same exchange is readable on the underlay, VXLAN header and all.
    let (plain_client, _) = deploy(&c, "plain", "web2", "client2");
    let capture = Capture::start(
        Cluster::in_netns(c.hosts[plain_client.host].netns(), "tcpdump"),
        c.dir().join("plain.pcap"),
    );
    hits_by_name(&c, &plain_client, "web2", 10);
    let seen = capture.finish();
    let plain_vni = vni(&c, "plain");
    assert!(
        seen.iter()
            .any(|p| p.destination_port == 4789 && p.payload.starts_with(&vxlan_header(plain_vni))),
        "no VXLAN captured on the plain network"
    );
    assert!(
        seen.iter().any(|p| contains(&p.payload, MARKER.as_bytes())),
        "the plain network's payload was not visible"
    );

    // Rotation: one connection from the client to a web task on another host, a line every
    // half second for 12 s, while both nodes renew their keys every few seconds.
    let server = &remote[0];
    let server_addr = task_addresses(&c, server)["secret"];
    let before = (renewals(&c, client.host), renewals(&c, server.host));
    let lines = 24;
    let script = format!(
        "(for i in $(seq {lines}); do echo line-$i; sleep 0.5; done; sleep 2) | nc -w 5 {server_addr} 7000"
    );
    let out = c.exec(client.host, &client.container, &["sh", "-c", &script]);
    let echoed = common::stdout(&out);
    let after = (renewals(&c, client.host), renewals(&c, server.host));
    for i in 1..=lines {
        assert!(
            echoed.lines().any(|l| l.trim() == format!("line-{i}")),
            "line {i} lost: the connection broke ({}): {echoed:?} {}",
            out.status,
            common::stderr(&out)
        );
    }
    assert!(
        after.0 > before.0 && after.1 > before.1,
        "no key renewal on both ends during the stream: {before:?} → {after:?}"
    );
}

/// The variable the daemon reads for the rotation period (`daemon/node.rs`).
fn shoal_rotation_env() -> &'static str {
    "SHOAL_TUNNEL_KEY_ROTATION"
}
