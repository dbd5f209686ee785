//! A published service on an overlay of its own: its tasks' default route is that network's
//! (as libnetwork picks the gateway: `ingress` stands where `docker_gwbridge` does, last), and
//! the routing mesh's clients, whose address the mesh keeps when the task is on the receiving
//! host, still get their answers — through `ingress`, by the task's source address. Stock
//! docker CLI on network-namespace hosts. Root only.
#![allow(clippy::disallowed_methods, clippy::unwrap_used, dead_code, unsafe_code)]

mod common;
#[path = "common/hosts.rs"]
mod hosts;
#[path = "common/overlay.rs"]
mod overlay;

use hosts::{Cluster, skip_reason};
use overlay::*;

#[test]
fn a_published_task_routes_through_its_network_and_answers_the_mesh_through_ingress() {
    if let Some(why) = skip_reason() {
        eprintln!("skipping: {why}");
        return;
    }
    let c = Cluster::new("gwy", 2);
    // "a-app" sorts before "ingress": the name alone would pick it too; "zz-app" shows the
    // spec's network wins over ingress whatever its name.
    c.docker_ok(0, &["network", "create", "-d", "overlay", "zz-app"]);
    let node0 = c.hosts[0].name.clone();
    service(
        &c,
        "web",
        &[
            "--network",
            "zz-app",
            "--publish",
            "8080:80",
            "--constraint",
            &format!("node.hostname=={node0}"),
        ],
        WEB,
    );
    let task = c.wait_running("web", 1).remove(0);
    assert_eq!(task.host, 0);
    let gateway = c.docker_ok(
        0,
        &[
            "network",
            "inspect",
            "--format",
            "{{range .IPAM.Config}}{{.Gateway}}{{end}}",
            "zz-app",
        ],
    );
    let routes = c.exec_ok(0, &task.container, &["ip", "route"]);
    let default = routes
        .lines()
        .find(|l| l.starts_with("default"))
        .unwrap_or_else(|| panic!("no default route: {routes}"));
    assert!(
        default.starts_with(&format!("default via {} dev eth0", gateway.trim())),
        "the default route is zz-app's (eth0): {routes}"
    );
    // From host 1 through host 0, where the task runs: the mesh keeps host 1's address, and
    // the answer goes back through ingress although the default route is zz-app's.
    let via = c.hosts[0].address;
    let answer = c.wait("the mesh answers through host 0", || get(&c, 1, via, 8080, "/"));
    assert_eq!(answer.trim(), &task.id[..12], "the task answered");
}
