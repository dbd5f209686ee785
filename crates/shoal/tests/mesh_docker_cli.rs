//! Published ports across network-namespace hosts, driven by the stock docker CLI (issue 13):
//! the routing mesh answers on every host and balances over every task, a drained host still
//! answers, host-mode ports answer only where a task runs, a clashing ingress port is refused,
//! and a task sees the client's own address when the mesh picks a task on the receiving host
//! (on another host too with route-return, service-wide or for one port). The first and the
//! route-return test run behind dockerd's firewall policy (`FORWARD DROP` on every host).
//! Clients are busybox `nc` in the hosts' namespaces. Root only.
#![allow(clippy::disallowed_methods, clippy::unwrap_used, dead_code, unsafe_code)]

mod common;
#[path = "common/hosts.rs"]
mod hosts;
#[path = "common/overlay.rs"]
mod overlay;

use std::collections::BTreeSet;
use std::io::Write;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

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

/// busybox `httpd` answering its host name at `/` and the client's address (CGI's
/// `REMOTE_ADDR`) at `/cgi-bin/ip`.
const WEB_WITH_IP: &str = "mkdir -p /www/cgi-bin && hostname > /www/index.html && \
     printf '#!/bin/sh\\necho Content-Type: text/plain\\necho\\necho $REMOTE_ADDR\\n' > /www/cgi-bin/ip && \
     chmod +x /www/cgi-bin/ip && exec httpd -f -p 80 -h /www";

/// Waits until host `via` answers on `port` with something.
fn wait_answer(c: &Cluster, from: usize, via: usize, port: u16) -> String {
    let addr = c.hosts[via].address;
    c.wait(&format!("host {via} answers on {port}"), || {
        get(c, from, addr, port, "/")
    })
}

/// The client address busybox httpd's CGI reports: `[::ffff:a.b.c.d]` (it listens on IPv6).
fn remote_addr(reported: &str) -> Ipv4Addr {
    let bare = reported.trim_matches(['[', ']']);
    bare.strip_prefix("::ffff:")
        .unwrap_or(bare)
        .parse()
        .unwrap_or_else(|_| panic!("REMOTE_ADDR {reported:?}"))
}

fn node_id(c: &Cluster, host: usize) -> String {
    c.docker_ok(host, &["info", "--format", "{{.Swarm.NodeID}}"])
        .trim()
        .to_owned()
}

#[test]
fn the_mesh_answers_on_every_host_balances_and_survives_a_drain() {
    skip_unless_root!();
    let c = Cluster::new("msh", 5);
    // Behind dockerd's firewall policy: the mesh's connections still pass.
    c.drop_forwarded_traffic();
    service(&c, "web", &["--replicas", "3", "--publish", "8080:80"], WEB);
    let web = c.wait_running("web", 3);
    let names = hostnames(&web);
    // Every host answers, the one without a task too.
    for via in 0..c.hosts.len() {
        let answer = wait_answer(&c, 0, via, 8080);
        assert!(
            names.contains(&answer),
            "host {via} answered {answer:?}, tasks {names:?}"
        );
    }
    // And on its own loopback address (`curl localhost:8080` on a node, as on Swarm).
    for h in 0..c.hosts.len() {
        let answer = c.wait(&format!("host {h} answers on localhost:8080"), || {
            get(&c, h, Ipv4Addr::LOCALHOST, 8080, "/")
        });
        assert!(
            names.contains(&answer),
            "host {h}'s loopback answered {answer:?}, tasks {names:?}"
        );
    }
    let empty: Vec<usize> = (0..c.hosts.len())
        .filter(|h| !hosts_of(&web).contains(h))
        .collect();
    assert_eq!(empty.len(), 2, "{web:?}");
    // 30 connections through one host reach all three tasks.
    let via = c.hosts[empty[0]].address;
    let seen: BTreeSet<String> = (0..30).filter_map(|_| get(&c, 1, via, 8080, "/")).collect();
    assert_eq!(seen, names, "30 requests through host {}", empty[0]);

    // A firewall reload on that host (`nft flush ruleset`, as `systemctl restart nftables`
    // does on Debian, then its own policy back) takes the mesh's table and accept rule with
    // it, and a `sysctl --system` switches forwarding off; the agent notices and puts all
    // three back.
    let reloaded = c.hosts[empty[0]].netns();
    for (program, args) in [
        ("nft", &["flush", "ruleset"][..]),
        ("iptables", &["-w", "5", "-P", "FORWARD", "DROP"][..]),
        ("sh", &["-c", "echo 0 > /proc/sys/net/ipv4/ip_forward"][..]),
    ] {
        Cluster::in_netns_ok(reloaded, program, args);
    }
    // From another host: its connection crosses the reloaded host's forward hook.
    let client = (empty[0] + 1) % c.hosts.len();
    let answer = wait_answer(&c, client, empty[0], 8080);
    assert!(
        names.contains(&answer),
        "host {} answered {answer:?} after the reload",
        empty[0]
    );

    // An nftables-native firewall that drops forwarded traffic is not the agent's to change:
    // `docker info` on that host warns, naming the rule that lets the mesh through, which does.
    Cluster::in_netns_ok(
        reloaded,
        "nft",
        &[
            "add table inet fw; add chain inet fw forward { type filter hook forward priority 0; policy drop; }",
        ],
    );
    let warning = c.wait("docker info's warning", || {
        let info = c.docker(empty[0], &["info"]);
        common::stderr(&info)
            .lines()
            .find(|line| {
                line.starts_with("WARNING: the nftables chain inet fw forward drops forwarded traffic")
            })
            .map(str::to_owned)
    });
    let remedy = warning
        .rsplit_once("(nft ")
        .and_then(|(_, rule)| rule.strip_suffix(')'))
        .unwrap_or_else(|| panic!("no rule in {warning:?}"));
    Cluster::in_netns_ok(reloaded, "nft", &[remedy]);
    wait_answer(&c, client, empty[0], 8080);
    Cluster::in_netns_ok(reloaded, "nft", &["delete table inet fw"]);

    // Published as dockerd shows it.
    let ports = c.docker_ok(
        0,
        &[
            "service",
            "inspect",
            "--format",
            "{{json .Endpoint.Ports}}",
            "web",
        ],
    );
    assert!(
        ports.contains(r#""PublishedPort":8080"#) && ports.contains(r#""PublishMode":"ingress""#),
        "{ports}"
    );

    // A drained host (here one with a task) keeps answering, through the others' tasks.
    let drained = web[0].host;
    let id = node_id(&c, drained);
    c.docker_ok(0, &["node", "update", "--availability", "drain", &id]);
    let moved = c.wait("web off the drained host", || {
        let tasks = c.running_tasks("web");
        (tasks.len() == 3 && !hosts_of(&tasks).contains(&drained)).then_some(tasks)
    });
    let names = hostnames(&moved);
    let addr = c.hosts[drained].address;
    c.wait("the drained host answers from the moved tasks", || {
        get(&c, 1, addr, 8080, "/").filter(|a| names.contains(a))
    });

    // The same port again is refused, as dockerd refuses it.
    let clash = c.docker(
        0,
        &[
            "service",
            "create",
            "--detach",
            "--name",
            "clash",
            "--publish",
            "8080:80",
            hosts::IMAGE,
            "sh",
        ],
    );
    assert!(!clash.status.success());
    let err = common::stderr(&clash);
    assert!(
        err.contains("port '8080' is already in use by service 'web'"),
        "{err}"
    );
}

#[test]
fn a_host_mode_port_answers_only_where_its_task_runs() {
    skip_unless_root!();
    let c = Cluster::new("mhm", 3);
    service(
        &c,
        "hm",
        &[
            "--replicas",
            "1",
            "--publish",
            "mode=host,published=8090,target=80",
        ],
        WEB,
    );
    let task = c.wait_running("hm", 1).remove(0);
    let answer = wait_answer(&c, (task.host + 1) % 3, task.host, 8090);
    assert_eq!(answer, task.id[..12]);
    for other in (0..3).filter(|h| *h != task.host) {
        assert_eq!(
            get(&c, task.host, c.hosts[other].address, 8090, "/"),
            None,
            "host {other}"
        );
    }
}

#[test]
fn a_second_service_on_a_taken_host_port_stays_pending_and_says_why() {
    skip_unless_root!();
    let c = Cluster::new("mhp", 1);
    let publish = [
        "--replicas",
        "1",
        "--publish",
        "mode=host,published=8091,target=80",
    ];
    service(&c, "first", &publish, WEB);
    c.wait_running("first", 1);
    service(&c, "second", &publish, WEB);
    let why = c.wait("the second's task says why it waits", || {
        let out = c.docker_ok(
            0,
            &[
                "service",
                "ps",
                "--no-trunc",
                "--format",
                "{{.CurrentState}} {{.Error}}",
                "second",
            ],
        );
        // The task may show Pending a moment before the scheduler's reason is written.
        (out.contains("Pending") && out.contains("host-mode port already in use")).then_some(out)
    });
    assert!(!why.contains("Running"), "{why}");
    assert_eq!(wait_answer(&c, 0, 0, 8091).len(), 12, "the first still answers");
}

#[test]
fn a_task_sees_the_clients_address_when_it_runs_on_the_receiving_host() {
    skip_unless_root!();
    let c = Cluster::new("msrc", 3);
    service(
        &c,
        "who",
        &["--replicas", "1", "--publish", "8081:80"],
        WEB_WITH_IP,
    );
    let task = c.wait_running("who", 1).remove(0);
    let client = (task.host + 1) % 3;
    let third = (task.host + 2) % 3;
    wait_answer(&c, client, task.host, 8081);
    // Local: no SNAT, the task sees the client host's own address.
    let seen = get(&c, client, c.hosts[task.host].address, 8081, "/cgi-bin/ip").unwrap();
    assert_eq!(remote_addr(&seen), c.hosts[client].address);
    // Across hosts (no opt-in): the receiving host forwarded it across the underlay, SNATed
    // to its own address, not the client's.
    wait_answer(&c, client, third, 8081);
    let seen = remote_addr(&get(&c, client, c.hosts[third].address, 8081, "/cgi-bin/ip").unwrap());
    assert_eq!(seen, c.hosts[third].address, "the receiving host's address");
}

#[test]
fn with_route_return_a_task_on_another_host_sees_the_clients_address() {
    skip_unless_root!();
    let c = Cluster::new("mrr", 3);
    // Replies that route back through the receiving host pass its firewall too.
    c.drop_forwarded_traffic();
    let label = "com.shoal.mesh.client-address";
    let refused = c.docker(
        0,
        &[
            "service",
            "create",
            "--detach",
            "--name",
            "bad",
            "--label",
            &format!("{label}=proxy-v2"),
            hosts::IMAGE,
            "sh",
        ],
    );
    assert!(!refused.status.success());
    let err = common::stderr(&refused);
    assert!(err.contains("expected route-return or snat"), "{err}");

    service(
        &c,
        "who",
        &[
            "--replicas",
            "1",
            "--publish",
            "8083:80",
            "--label",
            &format!("{label}=route-return"),
        ],
        WEB_WITH_IP,
    );
    let task = c.wait_running("who", 1).remove(0);
    let client = (task.host + 1) % 3;
    let via = c.hosts[(task.host + 2) % 3].address;
    let client_addr = c.hosts[client].address;
    // Received by a host without the task: the task still sees the client's own address.
    let seen = c.wait("the task sees the client through another host", || {
        get(&c, client, via, 8083, "/cgi-bin/ip").map(|s| remote_addr(&s))
    });
    assert_eq!(seen, client_addr);
    // Locally received connections keep working with the return routing in place.
    let local = c.wait("the task's host answers", || {
        get(&c, client, c.hosts[task.host].address, 8083, "/cgi-bin/ip")
    });
    assert_eq!(remote_addr(&local), client_addr);
    // A loopback client on a host without the task: the mesh gives it the host link's address,
    // and the task's reply finds its way back through that host.
    let from_loopback = c.wait("a host's loopback answers", || {
        get(&c, client, Ipv4Addr::LOCALHOST, 8083, "/cgi-bin/ip")
    });
    assert_eq!(remote_addr(&from_loopback), netplane::mesh::HOST_LINK_ADDRESS);

    // Back to the default: SNAT to the receiving host's address again.
    c.docker_ok(
        0,
        &[
            "service",
            "update",
            "--detach",
            "--label-add",
            &format!("{label}=snat"),
            "who",
        ],
    );
    let seen = c.wait("SNAT again after the label changed", || {
        get(&c, client, via, 8083, "/cgi-bin/ip")
            .map(|s| remote_addr(&s))
            .filter(|a| *a != client_addr)
    });
    assert_eq!(seen, via, "SNAT to the receiving host's address");
}

#[test]
fn a_port_label_keeps_the_clients_address_on_that_port_only() {
    skip_unless_root!();
    let c = Cluster::new("mrp", 3);
    let per_port = "com.shoal.mesh.client-address.";
    // A label naming a port the service does not publish in ingress mode is refused.
    let refused = c.docker(
        0,
        &[
            "service",
            "create",
            "--detach",
            "--name",
            "bad",
            "--publish",
            "8087:80",
            "--label",
            &format!("{per_port}9999=route-return"),
            hosts::IMAGE,
            "sh",
        ],
    );
    assert!(!refused.status.success());
    let err = common::stderr(&refused);
    assert!(
        err.contains("publishes no port 9999/tcp") && err.contains("8087/tcp"),
        "{err}"
    );

    service(
        &c,
        "who",
        &[
            "--replicas",
            "1",
            "--publish",
            "8087:80",
            "--publish",
            "8088:80",
            "--label",
            &format!("{per_port}8088/tcp=route-return"),
        ],
        WEB_WITH_IP,
    );
    let task = c.wait_running("who", 1).remove(0);
    let client = (task.host + 1) % 3;
    let via = c.hosts[(task.host + 2) % 3].address;
    let client_addr = c.hosts[client].address;
    // Through a host without the task: the named port keeps the client's address…
    let seen = c.wait("the task sees the client on 8088", || {
        get(&c, client, via, 8088, "/cgi-bin/ip").map(|s| remote_addr(&s))
    });
    assert_eq!(seen, client_addr);
    // …and the other port of the same task stays on SNAT.
    let seen = c.wait("the receiving host answers on 8087", || {
        get(&c, client, via, 8087, "/cgi-bin/ip").map(|s| remote_addr(&s))
    });
    assert_ne!(seen, client_addr);
    assert_eq!(seen, via, "SNAT to the receiving host's address");

    // An update is checked the same way.
    let refused = c.docker(
        0,
        &[
            "service",
            "update",
            "--detach",
            "--label-add",
            &format!("{per_port}8087=proxy-v2"),
            "who",
        ],
    );
    assert!(!refused.status.success());
    let err = common::stderr(&refused);
    assert!(err.contains("expected route-return or snat"), "{err}");
}

/// The path of host `i`'s ingress sandbox namespace.
fn ingress_sandbox(c: &Cluster, i: usize) -> std::path::PathBuf {
    std::path::Path::new(common::PLANE_NETNS_DIR).join(format!("shoal-{}-ingress", c.hosts[i].tag()))
}

#[test]
fn removing_the_ingress_network_takes_every_hosts_mesh_down() {
    skip_unless_root!();
    let c = Cluster::new("mrm", 2);
    service(&c, "web", &["--replicas", "1", "--publish", "8082:80"], WEB);
    c.wait_running("web", 1);
    for h in 0..2 {
        wait_answer(&c, 0, h, 8082);
        let table = format!("shoal-{}-mesh", c.hosts[h].tag());
        assert!(c.nft_tables(c.hosts[h].netns()).contains(&table), "host {h}");
        assert!(ingress_sandbox(&c, h).exists(), "host {h}");
    }
    c.docker_ok(0, &["service", "rm", "web"]);
    // The stock CLI asks before removing the routing mesh's network; the network is in use
    // until the removed service's task is gone.
    c.wait("the ingress network removed", || {
        let mut rm = std::process::Command::new("docker")
            .arg("-H")
            .arg(format!("unix://{}", c.hosts[0].sock.display()))
            .args(["network", "rm", "ingress"])
            .env_remove("DOCKER_CONTEXT")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        rm.stdin.take().unwrap().write_all(b"y\n").unwrap();
        let out = rm.wait_with_output().unwrap();
        let err = common::stderr(&out);
        assert!(out.status.success() || err.contains("in use"), "{err}");
        out.status.success().then_some(())
    });
    for h in 0..2 {
        let table = format!("shoal-{}-mesh", c.hosts[h].tag());
        c.wait(&format!("host {h}'s mesh gone"), || {
            (!ingress_sandbox(&c, h).exists() && !c.nft_tables(c.hosts[h].netns()).contains(&table))
                .then_some(())
        });
        let host_link = format!("shi{}", c.hosts[h].tag());
        assert!(
            !c.link_names(c.hosts[h].netns()).contains(&host_link),
            "host {h} keeps {host_link}"
        );
    }
}

/// Sequential HTTP/1.0 requests (one connection each) from a thread in the namespace at
/// `netns` to `addr:port`: (requests per second, p50, p99).
fn rate(netns: std::path::PathBuf, addr: Ipv4Addr, port: u16, n: usize) -> (f64, Duration, Duration) {
    std::thread::spawn(move || {
        use std::io::Read;
        use std::os::fd::AsRawFd;
        let ns = std::fs::File::open(&netns).unwrap();
        // SAFETY: moves only this short-lived thread into a namespace whose fd is open.
        let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns {}", netns.display());
        let mut latencies = Vec::with_capacity(n);
        let start = Instant::now();
        for _ in 0..n {
            let t = Instant::now();
            let mut s = std::net::TcpStream::connect((addr, port)).unwrap();
            s.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
            let mut answer = Vec::new();
            s.read_to_end(&mut answer).unwrap();
            assert!(
                answer.starts_with(b"HTTP/1."),
                "{}",
                String::from_utf8_lossy(&answer)
            );
            latencies.push(t.elapsed());
        }
        let total = start.elapsed();
        latencies.sort();
        (
            n as f64 / total.as_secs_f64(),
            latencies[n / 2],
            latencies[n * 99 / 100],
        )
    })
    .join()
    .unwrap()
}

/// A busybox task draining TCP connections on port 80 with 1 MiB reads (`nc`'s own small
/// reads, not the path, would be the limit otherwise).
const SINK: &str = "exec nc -ll -p 80 -e dd of=/dev/null bs=1M";

/// One TCP stream of `bytes` from a thread in the namespace at `netns` to `addr:port` (a
/// sink): Gbit/s, from the first byte written to the sink closing after the sender's end.
fn stream(netns: std::path::PathBuf, addr: Ipv4Addr, port: u16, bytes: usize) -> f64 {
    std::thread::spawn(move || {
        use std::io::Read;
        use std::os::fd::AsRawFd;
        let ns = std::fs::File::open(&netns).unwrap();
        // SAFETY: moves only this short-lived thread into a namespace whose fd is open.
        let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns {}", netns.display());
        // The sink listens again a moment after each connection ends.
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut s = loop {
            match std::net::TcpStream::connect((addr, port)) {
                Ok(s) => break s,
                Err(_) if Instant::now() < deadline => std::thread::yield_now(),
                Err(e) => panic!("connect {addr}:{port}: {e}"),
            }
        };
        let chunk = vec![0x5au8; 1 << 20];
        let start = Instant::now();
        let mut left = bytes;
        while left > 0 {
            let n = left.min(chunk.len());
            s.write_all(&chunk[..n]).unwrap();
            left -= n;
        }
        s.shutdown(std::net::Shutdown::Write).unwrap();
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest);
        bytes as f64 * 8.0 / start.elapsed().as_secs_f64() / 1e9
    })
    .join()
    .unwrap()
}

/// Throughput of one 1 GiB TCP stream through the mesh (task on another host; on the
/// receiving host) and straight to the task from its host's ingress sandbox. Prints
/// BENCHMARKS.md rows; `--ignored --nocapture`.
#[test]
#[ignore = "measurement"]
fn measure_mesh_throughput() {
    skip_unless_root!();
    let c = Cluster::new("mtput", 3);
    service(&c, "sink", &["--replicas", "1", "--publish", "8085:80"], SINK);
    let rr_label = "com.shoal.mesh.client-address=route-return";
    service(
        &c,
        "sinkrr",
        &["--replicas", "1", "--publish", "8086:80", "--label", rr_label],
        SINK,
    );
    let size = 1 << 30;
    for run in 1..=2 {
        for (name, port, how) in [("sink", 8085, "SNAT"), ("sinkrr", 8086, "route-return")] {
            let task = c.wait_running(name, 1).remove(0);
            let (client, other) = ((task.host + 1) % 3, (task.host + 2) % 3);
            let client_ns = c.hosts[client].netns().to_owned();
            let sandbox = std::path::Path::new(common::PLANE_NETNS_DIR)
                .join(format!("shoal-{}-ingress", c.hosts[task.host].tag()));
            let target = task_addresses(&c, &task)["ingress"];
            let remote = format!("mesh, task on another host ({how})");
            let mut paths = vec![(remote.as_str(), client_ns.clone(), c.hosts[other].address, port)];
            if how == "SNAT" {
                paths.push((
                    "mesh, task on the receiving host",
                    client_ns,
                    c.hosts[task.host].address,
                    port,
                ));
                paths.push(("direct (from the ingress sandbox)", sandbox, target, 80));
            }
            for (what, netns, addr, port) in paths {
                let gbit = stream(netns, addr, port, size);
                println!("| run {run} | {what} | {gbit:.2} Gbit/s |");
            }
        }
    }
}

/// Connections per second and latency through the mesh (task on another host, SNAT), through
/// it with the task on the receiving host (no SNAT), and straight to the task from its host's
/// ingress sandbox (no NAT, no host hop). Prints a BENCHMARKS.md row; `--ignored --nocapture`.
#[test]
#[ignore = "measurement"]
fn measure_mesh_connections() {
    skip_unless_root!();
    let c = Cluster::new("mrate", 3);
    service(&c, "web", &["--replicas", "1", "--publish", "8080:80"], WEB);
    let task = c.wait_running("web", 1).remove(0);
    let (client, other) = ((task.host + 1) % 3, (task.host + 2) % 3);
    wait_answer(&c, client, other, 8080);
    wait_answer(&c, client, task.host, 8080);
    let n = 500;
    let client_ns = c.hosts[client].netns().to_owned();
    let remote = rate(client_ns.clone(), c.hosts[other].address, 8080, n);
    let local = rate(client_ns, c.hosts[task.host].address, 8080, n);
    let sandbox = std::path::Path::new(common::PLANE_NETNS_DIR)
        .join(format!("shoal-{}-ingress", c.hosts[task.host].tag()));
    let direct = rate(sandbox, task_addresses(&c, &task)["ingress"], 80, n);
    for (what, (per_s, p50, p99)) in [
        ("mesh, task on another host", remote),
        ("mesh, task on the receiving host", local),
        ("direct (from the ingress sandbox)", direct),
    ] {
        println!(
            "| {what} | {per_s:.0} conn/s | p50 {:.2} ms | p99 {:.2} ms |",
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3
        );
    }
}
