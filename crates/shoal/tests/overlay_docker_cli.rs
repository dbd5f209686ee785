//! Overlay networks across three hosts, driven by the stock docker CLI (issue 12, "Tests"):
//! each host a network namespace of netplane's test bed running `shoal agent --executor oci`
//! (`common/hosts.rs`); services of a busybox-static image; checks from inside the tasks with
//! `docker exec` (busybox `nslookup`, `nc`, `httpd`) and from the hosts' namespaces (links,
//! namespaces, nft tables). Root only; every test makes its own cluster under its own prefix,
//! so they run in parallel.
#![allow(clippy::disallowed_methods, clippy::unwrap_used, dead_code, unsafe_code)]

mod common;
#[path = "common/hosts.rs"]
mod hosts;
#[path = "common/overlay.rs"]
mod overlay;

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use common::stderr;
use hosts::{Cluster, Task, skip_reason};
use overlay::*;

macro_rules! skip_unless_root {
    () => {
        if let Some(why) = skip_reason() {
            eprintln!("skipping: {why}");
            return;
        }
    };
}

#[test]
fn three_hosts_form_a_swarm_and_spread_a_service() {
    skip_unless_root!();
    let c = Cluster::new("ovh", 3);
    let nodes = c.docker_ok(0, &["node", "ls", "--format", "{{.Hostname}} {{.Status}}"]);
    for host in &c.hosts {
        assert!(nodes.contains(&format!("{} Ready", host.name)), "{nodes}");
    }
    service(&c, "spread", &["--replicas", "3"], "exec sleep 100000");
    let tasks = c.wait_running("spread", 3);
    assert_eq!(hosts_of(&tasks), BTreeSet::from([0, 1, 2]), "{tasks:?}");
    // Each task is a container on its own host, reached through that host's socket.
    for task in &tasks {
        let name = c.exec_ok(task.host, &task.container, &["hostname"]);
        assert_eq!(name.trim(), &task.id[..12]);
    }
}

#[test]
fn an_overlay_honours_subnet_range_gateway_and_aux_addresses() {
    skip_unless_root!();
    let c = Cluster::new("ovi", 3);
    c.docker_ok(
        0,
        &[
            "network",
            "create",
            "-d",
            "overlay",
            "--subnet",
            "10.123.0.0/24",
            "--ip-range",
            "10.123.0.128/25",
            "--gateway",
            "10.123.0.1",
            "--aux-address",
            "reserved=10.123.0.130",
            "front",
        ],
    );
    let config = c.docker_ok(
        0,
        &["network", "inspect", "--format", "{{json .IPAM.Config}}", "front"],
    );
    let config: serde_json::Value = serde_json::from_str(config.trim()).unwrap();
    assert_eq!(config[0]["Subnet"], "10.123.0.0/24", "{config}");
    assert_eq!(config[0]["IPRange"], "10.123.0.128/25", "{config}");
    assert_eq!(config[0]["Gateway"], "10.123.0.1", "{config}");
    assert_eq!(
        config[0]["AuxiliaryAddresses"]["reserved"], "10.123.0.130",
        "{config}"
    );
    let driver = c.docker_ok(
        0,
        &[
            "network",
            "inspect",
            "--format",
            "{{.Driver}} {{.Scope}}",
            "front",
        ],
    );
    assert_eq!(driver.trim(), "overlay swarm");

    service(
        &c,
        "web",
        &["--replicas", "3", "--network", "front"],
        "exec sleep 100000",
    );
    let tasks = c.wait_running("web", 3);
    for task in &tasks {
        let addr = task_addresses(&c, task)["front"];
        let [a, b, c3, d] = addr.octets();
        assert!(
            (a, b, c3) == (10, 123, 0) && d >= 128,
            "{addr} outside 10.123.0.128/25"
        );
        assert_ne!(
            addr,
            Ipv4Addr::new(10, 123, 0, 130),
            "an auxiliary address was handed out"
        );
        // Inside the task: that address on its interface, the gateway as its default route.
        let own = c.exec_ok(task.host, &task.container, &["ip", "-4", "-o", "addr", "show"]);
        assert!(own.contains(&format!("{addr}/24")), "{own}");
        let routes = c.exec_ok(task.host, &task.container, &["ip", "route"]);
        assert!(routes.contains("default via 10.123.0.1"), "{routes}");
    }
}

#[test]
fn a_vip_balances_over_three_hosts_and_follows_a_scale() {
    skip_unless_root!();
    let c = Cluster::new("ovv", 3);
    c.docker_ok(0, &["network", "create", "-d", "overlay", "app"]);
    service(&c, "web", &["--replicas", "3", "--network", "app"], WEB);
    let web = c.wait_running("web", 3);
    assert_eq!(hosts_of(&web), BTreeSet::from([0, 1, 2]), "{web:?}");
    service(&c, "client", &["--network", "app"], "exec sleep 100000");
    let client = c.wait_running("client", 1).remove(0);
    let vip = vip(&c, "web", "app");
    let web_ips: BTreeSet<Ipv4Addr> = web.iter().map(|t| task_addresses(&c, t)["app"]).collect();
    assert_eq!(web_ips.len(), 3);

    // DNS: the service name is its VIP, tasks.<service> its tasks' addresses.
    c.wait("web → VIP", || {
        (lookup(&c, &client, "web") == BTreeSet::from([vip])).then_some(())
    });
    c.wait("tasks.web → 3 task addresses", || {
        (lookup(&c, &client, "tasks.web") == web_ips).then_some(())
    });

    // 30 connections to the VIP reach all three tasks, on three hosts.
    let answers = c.wait("VIP answers", || {
        let answers = hits(&c, &client, vip, 30);
        answers.iter().all(|a| !a.is_empty()).then_some(answers)
    });
    let seen: BTreeSet<String> = answers.iter().cloned().collect();
    assert_eq!(seen, hostnames(&web), "{answers:?}");

    // Scale to 1: every connection goes to the one left, and the names follow.
    c.docker_ok(0, &["service", "scale", "--detach", "web=1"]);
    let left = c.wait_running("web", 1);
    let left_ip = task_addresses(&c, &left[0])["app"];
    c.wait("tasks.web → the one task left", || {
        (lookup(&c, &client, "tasks.web") == BTreeSet::from([left_ip])).then_some(())
    });
    c.wait("all 30 connections to the task left", || {
        let answers = hits(&c, &client, vip, 30);
        answers.iter().all(|a| *a == left[0].id[..12]).then_some(())
    });
}

#[test]
fn two_overlays_cannot_reach_each_other() {
    skip_unless_root!();
    let c = Cluster::new("ovs", 3);
    c.docker_ok(0, &["network", "create", "-d", "overlay", "red"]);
    c.docker_ok(0, &["network", "create", "-d", "overlay", "blue"]);
    service(&c, "redweb", &["--replicas", "3", "--network", "red"], WEB);
    service(&c, "redclient", &["--network", "red"], "exec sleep 100000");
    service(&c, "blueclient", &["--network", "blue"], "exec sleep 100000");
    let web = c.wait_running("redweb", 3);
    let red = c.wait_running("redclient", 1).remove(0);
    let blue = c.wait_running("blueclient", 1).remove(0);
    for task in &web {
        let addr = task_addresses(&c, task)["red"];
        // The same network reaches it (so the refusal below is the networks' separation).
        c.wait(&format!("red reaches {addr}"), || {
            connects(&c, &red, addr, 80).then_some(())
        });
        assert!(!connects(&c, &blue, addr, 80), "blue reached red's {addr}");
    }
    let red_vip = vip(&c, "redweb", "red");
    assert!(!connects(&c, &blue, red_vip, 80), "blue reached red's VIP");
    assert!(
        lookup(&c, &blue, "redweb").is_empty(),
        "blue resolves red's service"
    );
}

#[test]
fn an_internal_overlay_has_no_route_out() {
    skip_unless_root!();
    let c = Cluster::new("ovn", 3);
    c.docker_ok(0, &["network", "create", "-d", "overlay", "--internal", "inside"]);
    c.docker_ok(0, &["network", "create", "-d", "overlay", "outside"]);
    let internal = c.docker_ok(0, &["network", "inspect", "--format", "{{.Internal}}", "inside"]);
    assert_eq!(internal.trim(), "true");
    service(&c, "closed", &["--network", "inside"], "exec sleep 100000");
    service(&c, "open", &["--network", "outside"], "exec sleep 100000");
    let closed = c.wait_running("closed", 1).remove(0);
    let open = c.wait_running("open", 1).remove(0);
    let routes = c.exec_ok(closed.host, &closed.container, &["ip", "route"]);
    assert!(
        !routes.contains("default"),
        "internal task has a default route: {routes}"
    );
    let routes = c.exec_ok(open.host, &open.container, &["ip", "route"]);
    assert!(
        routes.contains("default"),
        "a plain overlay's task has no default route: {routes}"
    );
    // No path to the hosts' own addresses (the cluster port listens there).
    let manager = c.hosts[0].address;
    let out = c.exec(
        closed.host,
        &closed.container,
        &["sh", "-c", &format!("echo | nc -w 1 {manager} 2377")],
    );
    assert!(!out.status.success(), "an internal task reached {manager}:2377");
}

#[test]
fn a_network_in_use_is_not_removed() {
    skip_unless_root!();
    let c = Cluster::new("ovr", 3);
    c.docker_ok(0, &["network", "create", "-d", "overlay", "busy"]);
    service(
        &c,
        "user",
        &["--replicas", "3", "--network", "busy"],
        "exec sleep 100000",
    );
    c.wait_running("user", 3);
    let out = c.docker(0, &["network", "rm", "busy"]);
    assert!(!out.status.success(), "removed a network in use");
    assert!(stderr(&out).contains("in use"), "{}", stderr(&out));
    assert!(c.docker(0, &["network", "inspect", "busy"]).status.success());
    c.docker_ok(0, &["service", "rm", "user"]);
    c.wait("the network removable once its service is gone", || {
        c.docker(0, &["network", "rm", "busy"])
            .status
            .success()
            .then_some(())
    });
}

/// What of the data plane is on host `i`: links in its namespace, its nft tables, and the
/// namespaces its agent pinned (named `shoal-<tag>-…` after its node, or under its data dir).
fn plane_state(c: &Cluster, i: usize) -> BTreeSet<String> {
    let host = &c.hosts[i];
    let mut state: BTreeSet<String> = c
        .link_names(host.netns())
        .into_iter()
        .map(|l| format!("link {l}"))
        .collect();
    state.extend(c.nft_tables(host.netns()).into_iter().map(|t| format!("nft {t}")));
    state.extend(
        host.pinned_netns()
            .into_iter()
            .map(|p| format!("netns {}", p.display())),
    );
    // Pins elsewhere under its data directory count too.
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    for line in mounts.lines() {
        let point = line.split_whitespace().nth(4).unwrap_or_default();
        let nsfs = line.split(" - ").nth(1).is_some_and(|t| t.starts_with("nsfs"));
        if nsfs && std::path::Path::new(point).starts_with(&host.data_dir) {
            state.insert(format!("netns {point}"));
        }
    }
    state
}

/// How many entries of each kind (`link`, `nft`, `netns`) a [`plane_state`] holds.
fn shape(state: &BTreeSet<String>) -> BTreeMap<String, usize> {
    let mut kinds = BTreeMap::new();
    for entry in state {
        *kinds
            .entry(entry.split(' ').next().unwrap().to_owned())
            .or_default() += 1;
    }
    kinds
}

#[test]
fn an_agent_killed_and_restarted_leaves_no_links_namespaces_or_tables() {
    skip_unless_root!();
    let mut c = Cluster::new("ovk", 3);
    // The baseline once host 1's ingress sandbox is made (the agent makes it from the ingress
    // view, after the node is ready), so it does not arrive after it. No port is published:
    // no mesh table.
    let before = c.wait("host 1's ingress sandbox", || {
        let state = plane_state(&c, 1);
        let has = |kind: &str, part: &str| state.iter().any(|e| e.starts_with(kind) && e.contains(part));
        (has("link ", "shi") && has("netns ", "-ingress") && has("netns ", "-ov-")).then_some(state)
    });
    c.docker_ok(0, &["network", "create", "-d", "overlay", "crash"]);
    service(&c, "web", &["--replicas", "3", "--network", "crash"], WEB);
    let web = c.wait_running("web", 3);
    assert!(hosts_of(&web).contains(&1), "{web:?}");
    let during = plane_state(&c, 1);
    assert_ne!(
        during, before,
        "host 1 runs a task on the overlay but shows none of it"
    );

    // Killed and restarted with its task in place: the same shape, nothing doubled.
    c.kill9(1);
    c.restart(1);
    c.wait(
        "host 1's task running again, its plane as before the crash",
        || {
            let running = c.running_tasks("web");
            let back = running.len() == 3 && running.iter().any(|t| t.host == 1);
            (back && shape(&plane_state(&c, 1)) == shape(&during)).then_some(())
        },
    );

    // Killed while its task and overlay are in place; the service goes while it is down, so
    // after the restart nothing of it may remain on host 1.
    c.kill9(1);
    c.docker_ok(0, &["service", "rm", "web"]);
    c.restart(1);
    c.wait("the network removed", || {
        c.docker(0, &["network", "rm", "crash"])
            .status
            .success()
            .then_some(())
    });
    c.wait("host 1 back to its state before the overlay", || {
        (plane_state(&c, 1) == before).then_some(())
    });
}

#[test]
fn a_lost_host_leaves_every_balancer_before_its_task_is_replaced() {
    skip_unless_root!();
    let mut c = Cluster::new("ovl", 3);
    c.docker_ok(0, &["network", "create", "-d", "overlay", "app"]);
    service(&c, "web", &["--replicas", "3", "--network", "app"], WEB);
    let web = c.wait_running("web", 3);
    service(
        &c,
        "client",
        &["--mode", "global", "--network", "app"],
        "exec sleep 100000",
    );
    let clients = c.wait_running("client", 3);
    let lost = web.iter().find(|t| t.host == 2).unwrap().clone();
    let lost_ip = task_addresses(&c, &lost)["app"];
    let watchers: Vec<(Task, u32)> = clients
        .into_iter()
        .filter(|t| t.host != 2)
        .map(|t| {
            let pid = c.task_pid(&t);
            (t, pid)
        })
        .collect();
    for (_, pid) in &watchers {
        c.wait("the lost task in every balancer first", || {
            in_balancer(*pid, lost_ip).then_some(())
        });
    }

    // Host 2 goes dark: its link down, its agent killed.
    Cluster::in_netns_ok(c.hosts[2].netns(), "ip", &["link", "set", "eth0", "down"]);
    c.kill_host(2);
    let start = Instant::now();
    // Both moments are awaited (so a failure says how far apart they were), each by a loop of
    // its own: the balancers' one looks at nothing else, so a slow `docker service ps` does not
    // delay when it sees the task leave.
    let (left, replaced) = std::thread::scope(|s| {
        let left = s.spawn(|| {
            c.wait("the lost task out of every balancer", || {
                watchers
                    .iter()
                    .all(|(_, pid)| !in_balancer(*pid, lost_ip))
                    .then(|| start.elapsed())
            })
        });
        let replaced = c.wait("the lost task replaced", || {
            (c.running_tasks("web").iter().filter(|t| t.host != 2).count() == 3).then(|| start.elapsed())
        });
        (left.join().expect("the balancers' watch"), replaced)
    });
    println!("host loss: out of every balancer after {left:?}, replaced after {replaced:?}");
    assert!(
        left <= replaced,
        "{lost_ip} left the balancers {left:?} after the host's loss, its replacement ran at {replaced:?}"
    );
    // The peers' probes judge the silent host (≈ 0.5 s), not the manager's heartbeat verdict
    // (≈ 5 s); the margin is for a loaded machine, whose stalls restart the probes' counts.
    assert!(
        left < Duration::from_secs(3),
        "{lost_ip} left the balancers only after {left:?}: the probes did not judge its host"
    );
}

#[test]
fn a_network_of_two_subnets_fills_the_first_then_reaches_across_both() {
    skip_unless_root!();
    let c = Cluster::new("ovs", 3);
    // Two /29s of 5 addresses each (.2–.6). The docker CLI sends `--subnet`s in a map's order,
    // so which one the network lists first varies: the test reads it and expects that one
    // filled first.
    c.docker_ok(
        0,
        &[
            "network",
            "create",
            "-d",
            "overlay",
            "--subnet",
            "10.124.0.0/29",
            "--subnet",
            "10.125.0.0/29",
            "--gateway",
            "10.124.0.1",
            "--gateway",
            "10.125.0.1",
            "two",
        ],
    );
    let config = c.docker_ok(
        0,
        &["network", "inspect", "--format", "{{json .IPAM.Config}}", "two"],
    );
    let config: serde_json::Value = serde_json::from_str(config.trim()).unwrap();
    let listed: BTreeSet<(String, String)> = (0..2)
        .map(|i| {
            let c = &config[i];
            (
                c["Subnet"].as_str().unwrap_or_default().to_string(),
                c["Gateway"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        BTreeSet::from([
            ("10.124.0.0/29".to_string(), "10.124.0.1".to_string()),
            ("10.125.0.0/29".to_string(), "10.125.0.1".to_string()),
        ]),
        "{config}"
    );
    let third_octet =
        |subnet: &serde_json::Value| -> u8 { if subnet == "10.124.0.0/29" { 124 } else { 125 } };
    let (a, b) = (
        third_octet(&config[0]["Subnet"]),
        third_octet(&config[1]["Subnet"]),
    );

    // 4 web tasks, 3 clients and 2 VIPs: 9 addresses, 5 in the first subnet, 4 in the next.
    service(&c, "web", &["--replicas", "4", "--network", "two"], WEB);
    let web = c.wait_running("web", 4);
    service(
        &c,
        "client",
        &["--mode", "global", "--network", "two"],
        "exec sleep 100000",
    );
    let clients = c.wait_running("client", 3);
    let web_ips: BTreeSet<Ipv4Addr> = web.iter().map(|t| task_addresses(&c, t)["two"]).collect();
    let mut held: BTreeSet<Ipv4Addr> = web_ips.clone();
    held.extend(clients.iter().map(|t| task_addresses(&c, t)["two"]));
    held.insert(vip(&c, "web", "two"));
    held.insert(vip(&c, "client", "two"));
    assert_eq!(held.len(), 9, "{held:?}");
    let first: BTreeSet<Ipv4Addr> = (2..=6).map(|d| Ipv4Addr::new(10, a, 0, d)).collect();
    assert!(first.is_subset(&held), "the first subnet filled first: {held:?}");
    assert!(
        held.iter()
            .all(|h| first.contains(h) || h.octets()[..3] == [10, b, 0]),
        "{held:?}"
    );

    // Inside every task: its own subnet's prefix and gateway, the other subnet on its link.
    for task in web.iter().chain(&clients) {
        let addr = task_addresses(&c, task)["two"];
        let routes = c.exec_ok(task.host, &task.container, &["ip", "route"]);
        let (own, other) = if addr.octets()[1] == 124 {
            (124, 125)
        } else {
            (125, 124)
        };
        assert!(
            routes.contains(&format!("default via 10.{own}.0.1")),
            "{addr}: {routes}"
        );
        assert!(
            routes.contains(&format!("10.{other}.0.0/29 dev eth0")),
            "{addr}: {routes}"
        );
    }

    // Every client, whichever subnet it is on, resolves and reaches every web task, on both
    // subnets and every host, and the VIP.
    let vip = vip(&c, "web", "two");
    for client in &clients {
        c.wait("tasks.web → 6 addresses", || {
            (lookup(&c, client, "tasks.web") == web_ips).then_some(())
        });
        c.wait("web → its VIP", || {
            (lookup(&c, client, "web") == BTreeSet::from([vip])).then_some(())
        });
        for addr in &web_ips {
            c.wait("a web task reached across subnets", || {
                connects(&c, client, *addr, 80).then_some(())
            });
        }
        c.wait("the VIP answers", || {
            hits(&c, client, vip, 3)
                .iter()
                .all(|h| !h.is_empty())
                .then_some(())
        });
    }
}
