//! `docker swarm leave` takes the node's data plane down, as dockerd's leave does: after it,
//! nothing of the node's overlays, task sandboxes, ingress sandbox or routing-mesh tables is
//! left — no pinned namespace, no link in the host's namespace, no nft table — whether the
//! node was running (a worker's leave, a manager's `--force`) or locked by autolock; and the
//! same agent can `swarm init` again. Stock docker CLI on network-namespace hosts. Root only.
#![allow(clippy::disallowed_methods, clippy::unwrap_used, dead_code, unsafe_code)]

mod common;
#[path = "common/hosts.rs"]
mod hosts;
#[path = "common/overlay.rs"]
mod overlay;

use hosts::{Cluster, skip_reason};
use overlay::*;

macro_rules! skip_unless_root {
    () => {
        if let Some(why) = skip_reason() {
            eprintln!("skipping: {why}");
            return;
        }
    };
}

/// What is left of host `i`'s data plane tagged `tag`: pinned namespaces, links in its host
/// namespace (the ingress link `shi<tag>`, stranded VXLAN devices), nft tables of the tag there,
/// sandbox files under its data dir. Empty when the plane is gone.
fn data_plane(c: &Cluster, i: usize, tag: &str) -> Vec<String> {
    let host = &c.hosts[i];
    let mut left: Vec<String> = common::plane_pins(tag)
        .iter()
        .map(|p| format!("namespace {}", p.display()))
        .collect();
    left.extend(
        c.link_names(host.netns())
            .into_iter()
            .filter(|l| *l == format!("shi{tag}") || l.starts_with("shoal-"))
            .map(|l| format!("link {l}")),
    );
    left.extend(
        c.nft_tables(host.netns())
            .into_iter()
            .filter(|t| t.starts_with(&format!("shoal-{tag}")))
            .map(|t| format!("nft table {t}")),
    );
    if let Ok(dir) = std::fs::read_dir(host.data_dir.join("sandboxes")) {
        left.extend(
            dir.flatten()
                .map(|e| format!("sandbox files {}", e.path().display())),
        );
    }
    left
}

/// Waits until host `i` (tag `tag`) has its ingress sandbox, the mesh's host table and
/// `tasks` task namespaces.
fn wait_data_plane(c: &Cluster, i: usize, tag: &str, tasks: usize) {
    c.wait(&format!("host {i}'s data plane (tag {tag})"), || {
        let pins = common::plane_pins(tag);
        let named = |needle: &str| {
            pins.iter()
                .filter(|p| p.to_string_lossy().contains(needle))
                .count()
        };
        let table = c
            .nft_tables(c.hosts[i].netns())
            .contains(&format!("shoal-{tag}-mesh"));
        (named("-ingress") == 1 && named("-ov-") >= 2 && named("-t-") == tasks && table).then_some(())
    });
}

fn node_id(c: &Cluster, i: usize) -> String {
    c.docker_ok(i, &["info", "--format", "{{.Swarm.NodeID}}"])
        .trim()
        .to_owned()
}

#[test]
fn leaving_takes_the_data_plane_down_running_or_locked_and_init_works_again() {
    skip_unless_root!();
    let mut c = Cluster::new("lve", 2);
    c.docker_ok(0, &["network", "create", "-d", "overlay", "app"]);
    service(
        &c,
        "web",
        &["--mode", "global", "--network", "app", "--publish", "8080:80"],
        WEB,
    );
    c.wait_running("web", 2);
    let (tag0, tag1) = (c.hosts[0].tag(), c.hosts[1].tag());
    wait_data_plane(&c, 0, &tag0, 1);
    wait_data_plane(&c, 1, &tag1, 1);

    // A worker leaves: its tasks and its whole data plane go.
    c.docker_ok(1, &["swarm", "leave"]);
    assert_eq!(
        data_plane(&c, 1, &tag1),
        Vec::<String>::new(),
        "host 1 after its leave"
    );
    assert!(
        !data_plane(&c, 0, &tag0).is_empty(),
        "the other node's data plane is not touched"
    );

    // A locked manager (autolock, restarted) runs nothing, but its last run's plane is there;
    // `leave --force` takes it down too.
    c.docker_ok(0, &["swarm", "update", "--autolock=true"]);
    c.restart(0);
    c.wait("host 0 locked", || {
        let state = c.docker_ok(0, &["info", "--format", "{{.Swarm.LocalNodeState}}"]);
        (state.trim() == "locked").then_some(())
    });
    assert!(
        !data_plane(&c, 0, &tag0).is_empty(),
        "the locked node's plane outlived the restart"
    );
    c.docker_ok(0, &["swarm", "leave", "--force"]);
    assert_eq!(
        data_plane(&c, 0, &tag0),
        Vec::<String>::new(),
        "host 0 after its locked leave"
    );

    // The node that left starts a new swarm on the same agent: a new tag, a new ingress; and
    // a running manager's `leave --force` takes that down as well.
    let address = c.hosts[1].address.to_string();
    let listen = format!("{address}:2377");
    c.docker_ok(
        1,
        &[
            "swarm",
            "init",
            "--advertise-addr",
            &address,
            "--listen-addr",
            &listen,
        ],
    );
    c.hosts[1].node_id = node_id(&c, 1);
    let tag1 = c.hosts[1].tag();
    c.docker_ok(
        1,
        &["import", &c.dir().join("bb.tar").to_string_lossy(), hosts::IMAGE],
    );
    c.docker_ok(1, &["network", "create", "-d", "overlay", "app"]);
    let created = c.docker(
        1,
        &[
            "service",
            "create",
            "--detach",
            "--no-healthcheck",
            "--name",
            "web",
            "--network",
            "app",
            "--publish",
            "8080:80",
            hosts::IMAGE,
            "sh",
            "-c",
            WEB,
        ],
    );
    assert!(created.status.success(), "{}", common::stderr(&created));
    wait_data_plane(&c, 1, &tag1, 1);
    c.docker_ok(1, &["swarm", "leave", "--force"]);
    assert_eq!(
        data_plane(&c, 1, &tag1),
        Vec::<String>::new(),
        "host 1 after its second leave"
    );
}
