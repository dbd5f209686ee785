//! The convergence numbers, measured on three hosts of the multi-host harness: time
//! from `service scale` (3 → 1 → 3) and from a host's loss until every host's resolver and
//! VIP table agree, probed from inside a client task's sandbox on each host (busybox
//! `nslookup` and `nft list ruleset` run in its network namespace, a few ms per probe).
//! Ignored (a measurement that prints); run as root with
//! `cargo test -p shoal --test overlay_convergence -- --ignored --nocapture`.
#![allow(clippy::disallowed_methods, clippy::unwrap_used, dead_code, unsafe_code)]

mod common;
#[path = "common/hosts.rs"]
mod hosts;
#[path = "common/overlay.rs"]
mod overlay;

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

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

/// One host's probe of the overlay, from inside a task's sandbox: what its resolver answers
/// and which backends its VIP table holds.
struct Probe {
    host: usize,
    netns: std::path::PathBuf,
    resolver: String,
}

impl Probe {
    /// A probe in `task`'s network namespace, asking the resolver its `resolv.conf` names.
    fn new(c: &Cluster, task: &Task) -> Probe {
        let conf = c.exec_ok(task.host, &task.container, &["cat", "/etc/resolv.conf"]);
        let resolver = conf
            .lines()
            .find_map(|l| l.strip_prefix("nameserver "))
            .unwrap_or_else(|| panic!("no nameserver in {conf}"))
            .trim()
            .to_owned();
        Probe {
            host: task.host,
            netns: format!("/proc/{}/ns/net", c.task_pid(task)).into(),
            resolver,
        }
    }

    /// The addresses `name` resolves to (busybox `nslookup` run in the sandbox's namespace).
    fn dns(&self, name: &str) -> BTreeSet<Ipv4Addr> {
        let out = Cluster::in_netns(&self.netns, "busybox")
            .args(["nslookup", "-type=a", name, &self.resolver])
            .output()
            .unwrap();
        let text = common::stdout(&out);
        let answers = text.split_once("Name:").map_or("", |(_, rest)| rest);
        answers
            .lines()
            .filter(|l| l.trim_start().starts_with("Address"))
            .flat_map(addresses)
            .collect()
    }

    /// The addresses of `among` that the sandbox's nft ruleset names (its VIP backends).
    fn backends(&self, among: &BTreeSet<Ipv4Addr>) -> BTreeSet<Ipv4Addr> {
        let out = Cluster::in_netns(&self.netns, "nft")
            .args(["list", "ruleset"])
            .output()
            .unwrap();
        addresses(&common::stdout(&out))
            .into_iter()
            .filter(|a| among.contains(a))
            .collect()
    }
}

/// Polls every probe until `dns_done` and `vip_done` hold on each; the time from `start` at
/// which each did, per host, as `(host, dns, vip)`.
fn converge(
    probes: &[Probe],
    start: Instant,
    dns_done: impl Fn(&Probe) -> bool,
    vip_done: impl Fn(&Probe) -> bool,
) -> Vec<(usize, Option<Duration>, Option<Duration>)> {
    let mut times: Vec<(usize, Option<Duration>, Option<Duration>)> =
        probes.iter().map(|p| (p.host, None, None)).collect();
    let deadline = start + Duration::from_secs(60);
    while Instant::now() < deadline && times.iter().any(|t| t.1.is_none() || t.2.is_none()) {
        for (probe, time) in probes.iter().zip(times.iter_mut()) {
            if time.1.is_none() && dns_done(probe) {
                time.1 = Some(start.elapsed());
            }
            if time.2.is_none() && vip_done(probe) {
                time.2 = Some(start.elapsed());
            }
        }
    }
    times
}

fn report(what: &str, times: &[(usize, Option<Duration>, Option<Duration>)]) {
    let show = |d: Option<Duration>| {
        d.map_or("not within 60 s".to_owned(), |d| {
            format!("{:.3} s", d.as_secs_f64())
        })
    };
    for (host, dns, vip) in times {
        println!(
            "convergence | {what} | host {host} | DNS {} | VIP {}",
            show(*dns),
            show(*vip)
        );
    }
}

/// The convergence numbers: time from `service scale` (3 → 1 → 3) and from a host's
/// loss until every host's resolver and VIP table agree. Prints; run with
/// `cargo test -p shoal --test overlay_convergence -- --ignored --nocapture`.
/// Scale rounds (3 → 1 → 3) measured on one cluster.
const ROUNDS: usize = 3;

#[test]
#[ignore = "a measurement, not a check: prints the convergence times"]
fn measure_convergence_of_dns_and_balancers() {
    skip_unless_root!();
    let mut c = Cluster::new("ovm", 3);
    c.docker_ok(0, &["network", "create", "-d", "overlay", "app"]);
    service(&c, "web", &["--replicas", "3", "--network", "app"], WEB);
    service(
        &c,
        "client",
        &["--mode", "global", "--network", "app"],
        "exec sleep 100000",
    );
    let clients = c.wait_running("client", 3);
    let probes: Vec<Probe> = clients.iter().map(|t| Probe::new(&c, t)).collect();
    let vip = vip(&c, "web", "app");
    // Any address of the subnet counts as a backend but the VIPs and the clients' own ones.
    let mut others = BTreeSet::from([vip, vip_of(&c, "client")]);
    others.extend(clients.iter().map(|t| task_addresses(&c, t)["app"]));
    let [a, b, n, _] = vip.octets();
    let overlay: BTreeSet<Ipv4Addr> = (2..=254)
        .map(|d| Ipv4Addr::new(a, b, n, d))
        .filter(|a| !others.contains(a))
        .collect();

    for round in 1..=ROUNDS {
        let web = c.wait_running("web", 3);
        let all: BTreeSet<Ipv4Addr> = web.iter().map(|t| task_addresses(&c, t)["app"]).collect();
        c.wait("every host sees 3 backends", || {
            probes
                .iter()
                .all(|p| p.dns("tasks.web") == all && p.backends(&overlay) == all)
                .then_some(())
        });
        let start = Instant::now();
        c.docker_ok(0, &["service", "scale", "--detach", "web=1"]);
        let issued = start.elapsed();
        let left = c.wait_running("web", 1);
        let one = BTreeSet::from([task_addresses(&c, &left[0])["app"]]);
        let times = converge(
            &probes,
            start,
            |p| p.dns("tasks.web") == one,
            |p| p.backends(&overlay) == one,
        );
        println!(
            "convergence | round {round} scale 3 → 1 | CLI returned after {:.3} s",
            issued.as_secs_f64()
        );
        report(&format!("round {round} scale 3 → 1"), &times);

        // The new tasks' addresses are not known in advance: three backends is the mark.
        let start = Instant::now();
        c.docker_ok(0, &["service", "scale", "--detach", "web=3"]);
        let times = converge(
            &probes,
            start,
            |p| p.dns("tasks.web").len() == 3,
            |p| p.backends(&overlay).len() == 3,
        );
        report(&format!("round {round} scale 1 → 3"), &times);
    }

    let web = c.wait_running("web", 3);
    let lost = web
        .iter()
        .find(|t| t.host == 2)
        .map(|t| task_addresses(&c, t)["app"])
        .expect("a web task on host 2");
    let survivors: Vec<Probe> = probes.into_iter().filter(|p| p.host != 2).collect();
    c.wait("every host left sees host 2's task", || {
        survivors
            .iter()
            .all(|p| p.dns("tasks.web").contains(&lost) && p.backends(&overlay).contains(&lost))
            .then_some(())
    });
    Cluster::in_netns_ok(c.hosts[2].netns(), "ip", &["link", "set", "eth0", "down"]);
    let start = Instant::now();
    c.kill_host(2);
    let lost_node = c.hosts[2].name.clone();
    let c = &c;
    // The manager's verdict, watched beside the probes (peers' probes judge the host first).
    let (times, marked_down) = std::thread::scope(|scope| {
        let watcher = scope.spawn(|| {
            c.wait("host 2 marked down", || {
                let state = c.docker(
                    0,
                    &["node", "inspect", "--format", "{{.Status.State}}", &lost_node],
                );
                (common::stdout(&state).trim() == "down").then(|| start.elapsed())
            })
        });
        let times = converge(
            &survivors,
            start,
            |p| !p.dns("tasks.web").contains(&lost),
            |p| !p.backends(&overlay).contains(&lost),
        );
        (times, watcher.join().unwrap())
    });
    println!(
        "convergence | host 2 lost | marked down by the manager after {:.3} s",
        marked_down.as_secs_f64()
    );
    report("host 2 lost", &times);
    // The probes' verdicts over the whole run, from the survivors' logs: any other than host
    // 2's loss was a false removal (a peer judged silent while alive, e.g. under load).
    let lost_vtep = format!("peer={}", c.hosts[2].address);
    for i in 0..2 {
        let log = c.hosts[i].log_text();
        let judged: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("peer stopped answering probes"))
            .collect();
        let false_removals = judged.iter().filter(|l| !l.contains(&lost_vtep)).count();
        let stalls = log.lines().filter(|l| l.contains("the prober ran late")).count();
        println!(
            "convergence | probes | host {i} | peers judged unreachable {} (false removals {false_removals}) | stalls logged {stalls}",
            judged.len()
        );
    }
}
