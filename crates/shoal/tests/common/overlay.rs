//! Helpers of the overlay acceptance tests, over a [`Cluster`]: services of the busybox image,
//! their VIPs and task addresses from the manager, and what a task sees from inside (DNS
//! answers, HTTP answers, connections, its sandbox's VIP backends).
//!
//! Include it with `#[path = "common/overlay.rs"] mod overlay;` beside `mod common;` and
//! `mod hosts;`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::net::Ipv4Addr;
use std::process::Stdio;

use crate::hosts::{Cluster, IMAGE, Task};

/// The web server of these tests: busybox `httpd` answering its own host name (the task ID's
/// first 12 characters, as Swarm names a task's host).
pub const WEB: &str = "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www";

/// `docker service create --detach --name NAME [extra…] bb:1 sh -c SCRIPT` on the manager.
pub fn service(c: &Cluster, name: &str, extra: &[&str], script: &str) {
    let mut args = vec![
        "service",
        "create",
        "--detach",
        "--no-healthcheck",
        "--name",
        name,
    ];
    args.extend_from_slice(extra);
    args.extend_from_slice(&[IMAGE, "sh", "-c", script]);
    c.docker_ok(0, &args);
}

/// The IPv4 addresses in `text` (split on anything that is neither a digit nor a dot).
pub fn addresses(text: &str) -> Vec<Ipv4Addr> {
    text.split(|ch: char| !ch.is_ascii_digit() && ch != '.')
        .filter_map(|w| w.parse().ok())
        .collect()
}

/// `service`'s VIP on network `app`.
pub fn vip_of(c: &Cluster, service: &str) -> Ipv4Addr {
    vip(c, service, "app")
}

/// `service`'s VIP on network `network` (name), from `service inspect`.
pub fn vip(c: &Cluster, service: &str, network: &str) -> Ipv4Addr {
    let id = c.docker_ok(0, &["network", "inspect", "--format", "{{.Id}}", network]);
    let vips = c.docker_ok(
        0,
        &[
            "service",
            "inspect",
            "--format",
            "{{range .Endpoint.VirtualIPs}}{{.NetworkID}} {{.Addr}}\n{{end}}",
            service,
        ],
    );
    vips.lines()
        .find_map(|l| {
            let (net, addr) = l.split_once(' ')?;
            (net == id.trim()).then(|| addr.split('/').next()?.parse().ok())?
        })
        .unwrap_or_else(|| panic!("{service} has no VIP on {network}: {vips:?}"))
}

/// A task's addresses by network name, from the manager's task inspect.
pub fn task_addresses(c: &Cluster, task: &Task) -> BTreeMap<String, Ipv4Addr> {
    let json = c.docker_ok(
        0,
        &[
            "inspect",
            "--type",
            "task",
            "--format",
            "{{json .NetworksAttachments}}",
            &task.id,
        ],
    );
    let value: serde_json::Value = serde_json::from_str(json.trim()).unwrap();
    let mut found = BTreeMap::new();
    for attachment in value.as_array().into_iter().flatten() {
        let name = attachment["Network"]["Spec"]["Name"].as_str().unwrap_or_default();
        if let Some(addr) = attachment["Addresses"][0].as_str() {
            found.insert(name.to_owned(), addr.split('/').next().unwrap().parse().unwrap());
        }
    }
    found
}

/// What busybox `nslookup NAME` answers inside `task` (the answer section's addresses); empty
/// when the name does not resolve.
pub fn lookup(c: &Cluster, task: &Task, name: &str) -> BTreeSet<Ipv4Addr> {
    let out = c.exec(task.host, &task.container, &["nslookup", name]);
    let text = crate::common::stdout(&out);
    // The server's own lines come before the first `Name:`.
    let answers = text.split_once("Name:").map_or("", |(_, rest)| rest);
    answers
        .lines()
        .filter(|l| l.trim_start().starts_with("Address"))
        .flat_map(addresses)
        .collect()
}

/// `count` HTTP requests to `addr:80` from inside `task`, each on its own connection; the
/// answering host names in order (empty where a connection failed).
pub fn hits(c: &Cluster, task: &Task, addr: Ipv4Addr, count: usize) -> Vec<String> {
    let script = format!(
        "for i in $(seq {count}); do r=$(printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 {addr} 80 | tail -n 1); echo \"hit:$r\"; done"
    );
    let out = c.exec_ok(task.host, &task.container, &["sh", "-c", &script]);
    out.lines()
        .filter_map(|l| l.strip_prefix("hit:"))
        .map(|h| h.trim().to_owned())
        .collect()
}

/// The hosts `tasks` run on.
pub fn hosts_of(tasks: &[Task]) -> BTreeSet<usize> {
    tasks.iter().map(|t| t.host).collect()
}

/// The task host names (the ID's first 12 characters) of `tasks`.
pub fn hostnames(tasks: &[Task]) -> BTreeSet<String> {
    tasks.iter().map(|t| t.id[..12].to_owned()).collect()
}

/// Whether a TCP connection from inside `task` to `addr:port` succeeds within a second.
pub fn connects(c: &Cluster, task: &Task, addr: Ipv4Addr, port: u16) -> bool {
    let out = c.exec(
        task.host,
        &task.container,
        &["sh", "-c", &format!("echo | nc -w 1 {addr} {port}")],
    );
    out.status.success()
}

/// Whether `addr` is among the backends of a VIP table in the network namespace of process
/// `pid` (a task's sandbox), as `nft list ruleset` shows it there.
pub fn in_balancer(pid: u32, addr: Ipv4Addr) -> bool {
    let out = Cluster::in_netns(std::path::Path::new(&format!("/proc/{pid}/ns/net")), "nft")
        .args(["list", "ruleset"])
        .output()
        .unwrap();
    addresses(&crate::common::stdout(&out)).contains(&addr)
}

/// One HTTP/1.0 GET of `path` from host `from`'s namespace to `addr:port`; the body's last
/// line, or `None` when no answer came.
pub fn get(c: &Cluster, from: usize, addr: Ipv4Addr, port: u16, path: &str) -> Option<String> {
    let mut child = Cluster::in_netns(c.hosts[from].netns(), "busybox")
        .args(["nc", "-w", "2", &addr.to_string(), &port.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // busybox nc keeps reading the server after stdin ends (until -w expires or it closes).
    // A refused connection ends nc before the request is written: a broken pipe, no answer.
    let sent = child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes());
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if sent.is_err() || !text.starts_with("HTTP/1.") {
        return None;
    }
    text.lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(str::to_owned)
}
