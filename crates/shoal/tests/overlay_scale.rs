//! Issue 12's measurements beyond three hosts, on the multi-host harness (real `shoal agent`
//! processes, oci tasks, the docker CLI):
//! - ten hosts: how long a new or moved endpoint takes to be reachable from every peer
//!   (target: within 1 s), probed from inside a client task's network namespace on each host;
//! - two hosts: TCP throughput and HTTP request latency through the wired path (task → task
//!   over VXLAN, task → VIP → task) against the hosts' underlay, with a small Rust sender and
//!   sink, and a Rust HTTP/1.0 client and responder (one connection per request).
//!
//! Ignored (measurements that print); run as root with
//! `cargo test -p shoal --test overlay_scale -- --ignored --nocapture --test-threads 1`.
#![allow(clippy::disallowed_methods, clippy::unwrap_used, dead_code, unsafe_code)]

mod common;
#[path = "common/hosts.rs"]
mod hosts;
#[path = "common/overlay.rs"]
mod overlay;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use hosts::{Cluster, IMAGE, skip_reason};
use overlay::*;
use testkit::stats::percentile;

macro_rules! skip_unless_root {
    () => {
        if let Some(why) = skip_reason() {
            eprintln!("skipping: {why}");
            return;
        }
    };
}

/// Runs `work` on a thread of its own inside the network namespace at `netns` (sockets it
/// opens stay there, whichever thread uses them later).
fn in_netns<T: Send + 'static>(
    netns: &Path,
    work: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<T> {
    let netns = netns.to_owned();
    std::thread::spawn(move || {
        let file = std::fs::File::open(&netns).unwrap_or_else(|e| panic!("{}: {e}", netns.display()));
        // SAFETY: setns(2) on this thread only, with a namespace file we hold open.
        let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(
            rc,
            0,
            "setns {}: {}",
            netns.display(),
            std::io::Error::last_os_error()
        );
        work()
    })
}

/// The network namespace of `task`'s main process.
fn task_netns(c: &Cluster, task: &hosts::Task) -> PathBuf {
    format!("/proc/{}/ns/net", c.task_pid(task)).into()
}

/// Whether an HTTP GET of `addr:80` answers with `host` (the web task's host name) — the
/// endpoint of that very task, not an older one that held the address.
fn answers(addr: Ipv4Addr, host: &str) -> bool {
    let to = SocketAddr::V4(SocketAddrV4::new(addr, 80));
    let Ok(mut stream) = TcpStream::connect_timeout(&to, Duration::from_millis(100)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    if stream.write_all(b"GET / HTTP/1.0\r\n\r\n").is_err() {
        return false;
    }
    let mut text = String::new();
    let _ = stream.read_to_string(&mut text);
    text.contains(host)
}

/// The task of `service` that the manager gives to host `host` (desired running) and its
/// address on `app`, once allocated.
fn placed_task(c: &Cluster, service: &str, host: usize) -> Option<(String, Ipv4Addr)> {
    let out = c.docker(
        0,
        &[
            "service",
            "ps",
            "--no-trunc",
            "--filter",
            "desired-state=running",
            "--format",
            "{{.ID}} {{.Name}} {{.Node}}",
            service,
        ],
    );
    let text = common::stdout(&out);
    let task = text.lines().find_map(|l| {
        let mut words = l.split_whitespace();
        let (id, name, node) = (words.next()?, words.next()?, words.next()?);
        (node == c.hosts[host].name).then(|| hosts::Task::new(id, name, host))
    })?;
    let id = task.id.clone();
    let addr = task_addresses(c, &task).get("app").copied()?;
    Some((id, addr))
}

/// When the manager recorded `task` running, as seconds since the Unix epoch.
fn running_since(c: &Cluster, task: &str) -> Option<f64> {
    let out = c.docker(
        0,
        &[
            "inspect",
            "--type",
            "task",
            "--format",
            "{{.Status.State}} {{json .Status.Timestamp}}",
            task,
        ],
    );
    let text = common::stdout(&out);
    let stamp = text.trim().strip_prefix("running ")?.trim_matches('"').to_owned();
    let out = std::process::Command::new("date")
        .args(["-d", &stamp, "+%s.%N"])
        .output()
        .ok()?;
    common::stdout(&out).trim().parse().ok()
}

fn epoch(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs_f64()
}

/// One endpoint's reach: per host, when its probe first got the new task's answer.
struct Reach {
    /// Seconds from the CLI call to each host's first answer, by host.
    from_call: Vec<f64>,
    /// Seconds from the manager's running timestamp to the last host's first answer.
    after_running: f64,
    /// The endpoint's address.
    addr: Ipv4Addr,
}

/// Issues `args` on the manager, then waits for `service`'s task on host `target` and probes
/// it from every client namespace until each gets its answer (30 s at most).
fn reach(c: &Cluster, clients: &[PathBuf], service: &str, target: usize, args: &[&str]) -> Reach {
    let wall = SystemTime::now();
    let start = Instant::now();
    c.docker_ok(0, args);
    let (id, addr) = c.wait_for(
        &format!("{service}'s task on host {target} has an address"),
        Duration::from_secs(30),
        || placed_task(c, service, target),
    );
    let host = id[..12].to_owned();
    let probes: Vec<_> = clients
        .iter()
        .map(|netns| {
            let host = host.clone();
            in_netns(netns, move || {
                let deadline = start + Duration::from_secs(30);
                while Instant::now() < deadline {
                    if answers(addr, &host) {
                        return Some(start.elapsed().as_secs_f64());
                    }
                }
                None
            })
        })
        .collect();
    let from_call: Vec<f64> = probes
        .into_iter()
        .enumerate()
        .map(|(i, p)| {
            p.join()
                .unwrap()
                .unwrap_or_else(|| panic!("host {i} never reached {service}'s task at {addr}"))
        })
        .collect();
    let running = c.wait_for(
        &format!("{service}'s task {id} running"),
        Duration::from_secs(30),
        || running_since(c, &id),
    );
    let last = from_call.iter().copied().fold(0.0, f64::max);
    Reach {
        after_running: last - (running - epoch(wall)),
        from_call,
        addr,
    }
}

fn report(what: &str, r: &Reach) {
    let first = r.from_call.iter().copied().fold(f64::MAX, f64::min);
    let last = r.from_call.iter().copied().fold(0.0, f64::max);
    let all: Vec<String> = r.from_call.iter().map(|s| format!("{s:.2}")).collect();
    println!(
        "reach | {what} | {} | first host {first:.3} s | last host {last:.3} s | spread {:.3} s | last after running {:.3} s | per host {}",
        r.addr,
        last - first,
        r.after_running,
        all.join(" ")
    );
}

/// Hosts in the ten-host measurement.
const HOSTS: usize = 10;
/// New/move rounds.
const ROUNDS: usize = 5;

#[test]
#[ignore = "a measurement, not a check: prints how fast endpoints reach ten hosts"]
fn measure_endpoint_reach_on_ten_hosts() {
    skip_unless_root!();
    let formed = Instant::now();
    let c = Cluster::new("ovx", HOSTS);
    println!(
        "reach | {HOSTS} hosts formed in {:.1} s",
        formed.elapsed().as_secs_f64()
    );
    c.docker_ok(0, &["network", "create", "-d", "overlay", "app"]);
    service(
        &c,
        "client",
        &["--mode", "global", "--network", "app"],
        "exec sleep 100000",
    );
    let tasks = c.wait_running("client", HOSTS);
    let clients: Vec<PathBuf> = tasks.iter().map(|t| task_netns(&c, t)).collect();
    for round in 0..ROUNDS {
        let name = format!("web{round}");
        let (from, to) = ((1 + 3 * round) % HOSTS, (2 + 3 * round) % HOSTS);
        let on = |host: usize| format!("node.hostname=={}", c.hosts[host].name);
        let created = reach(
            &c,
            &clients,
            &name,
            from,
            &[
                "service",
                "create",
                "--detach",
                "--no-healthcheck",
                "--name",
                &name,
                "--network",
                "app",
                "--constraint",
                &on(from),
                // busybox httpd as PID 1 ignores SIGTERM: without this a move would wait
                // out the default 10 s grace before the new task starts (stop-first).
                "--stop-grace-period",
                "100ms",
                IMAGE,
                "sh",
                "-c",
                WEB,
            ],
        );
        report(&format!("round {round} new endpoint on host {from}"), &created);
        let moved = reach(
            &c,
            &clients,
            &name,
            to,
            &[
                "service",
                "update",
                "--detach",
                "--constraint-rm",
                &on(from),
                "--constraint-add",
                &on(to),
                &name,
            ],
        );
        report(
            &format!("round {round} moved from host {from} to host {to}"),
            &moved,
        );
        c.docker_ok(0, &["service", "rm", &name]);
    }
}

/// Seconds per throughput sample.
const SECONDS: f64 = 3.0;
/// Samples per path (paths alternate, so the machine's other load falls on all alike).
const SAMPLES: usize = 3;
/// The sink's port.
const SINK_PORT: u16 = 5201;
/// The HTTP responder's port.
const HTTP_PORT: u16 = 8080;
/// Sequential HTTP/1.0 requests per path and round.
const REQUESTS: usize = 1000;
/// Request rounds; each starts with the next path.
const ROUNDS_HTTP: usize = 3;
/// How long one request may wait on its peer before the measurement fails.
const IO_LIMIT: Duration = Duration::from_secs(10);

/// One measured path: a client in namespace `from` connecting to `to`, a server bound in
/// namespace `server_ns` on `bind`.
struct WiredPath {
    name: &'static str,
    from: PathBuf,
    to: Ipv4Addr,
    server_ns: PathBuf,
    bind: Ipv4Addr,
}

/// Binds a listener on `bind:port` inside the network namespace at `netns`.
fn listen_in(netns: &Path, bind: Ipv4Addr, port: u16) -> TcpListener {
    in_netns(netns, move || {
        TcpListener::bind(SocketAddrV4::new(bind, port)).unwrap()
    })
    .join()
    .unwrap()
}

/// Sends for [`SECONDS`] over `path` to a sink on [`SINK_PORT`]; Gbit/s as the sink counted it.
fn throughput(path: &WiredPath) -> f64 {
    let listener = listen_in(&path.server_ns, path.bind, SINK_PORT);
    let receiver = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut buffer = vec![0u8; 256 * 1024];
        let mut total = 0u64;
        let start = Instant::now();
        while let Ok(n) = stream.read(&mut buffer) {
            if n == 0 {
                break;
            }
            total += n as u64;
        }
        (total, start.elapsed())
    });
    let to = SocketAddr::V4(SocketAddrV4::new(path.to, SINK_PORT));
    in_netns(&path.from, move || {
        let mut stream = TcpStream::connect_timeout(&to, Duration::from_secs(3)).unwrap();
        let chunk = vec![0x5au8; 128 * 1024];
        let start = Instant::now();
        while start.elapsed().as_secs_f64() < SECONDS {
            stream.write_all(&chunk).unwrap();
        }
    })
    .join()
    .unwrap();
    let (bytes, elapsed) = receiver.join().unwrap();
    bytes as f64 * 8.0 / elapsed.as_secs_f64() / 1e9
}

/// The responder's whole answer (HTTP/1.0: the server closes after it).
const ANSWER: &[u8] = b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\r\nshoal\n";

/// Answers `n` connections on `listener` one after another: reads each request to its blank
/// line, writes [`ANSWER`] and closes. Returns how many it answered.
fn respond(listener: TcpListener, n: usize) -> usize {
    let mut request = Vec::with_capacity(256);
    let mut buffer = [0u8; 256];
    for served in 0..n {
        let (mut stream, _) = listener.accept().unwrap();
        stream.set_read_timeout(Some(IO_LIMIT)).unwrap();
        request.clear();
        while !request.ends_with(b"\r\n\r\n") {
            match stream.read(&mut buffer) {
                Ok(0) | Err(_) => return served,
                Ok(k) => request.extend_from_slice(&buffer[..k]),
            }
        }
        if stream.write_all(ANSWER).is_err() {
            return served;
        }
    }
    n
}

/// What one round of sequential requests over a path measured.
struct Requests {
    /// Completed requests per second (one TCP connection each).
    per_second: f64,
    /// Each request's time from `connect` to the server's close, in seconds.
    latencies: Vec<f64>,
}

/// [`REQUESTS`] HTTP/1.0 `GET /` in sequence over `path`, each on a connection of its own
/// (connect → request → read to the server's close), against a responder bound for the round.
fn requests(path: &WiredPath) -> Requests {
    let listener = listen_in(&path.server_ns, path.bind, HTTP_PORT);
    let server = std::thread::spawn(move || respond(listener, REQUESTS));
    let to = SocketAddr::V4(SocketAddrV4::new(path.to, HTTP_PORT));
    let name = path.name;
    let round = in_netns(&path.from, move || {
        let mut latencies = Vec::with_capacity(REQUESTS);
        let mut answer = Vec::with_capacity(ANSWER.len());
        let start = Instant::now();
        for i in 0..REQUESTS {
            let t = Instant::now();
            let mut stream = TcpStream::connect_timeout(&to, IO_LIMIT)
                .unwrap_or_else(|e| panic!("{name}: request {i}: connect {to}: {e}"));
            stream.set_read_timeout(Some(IO_LIMIT)).unwrap();
            stream.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
            answer.clear();
            stream.read_to_end(&mut answer).unwrap();
            latencies.push(t.elapsed().as_secs_f64());
            assert_eq!(answer, ANSWER, "{name}: request {i}'s answer");
        }
        Requests {
            per_second: REQUESTS as f64 / start.elapsed().as_secs_f64(),
            latencies,
        }
    })
    .join()
    .unwrap();
    assert_eq!(server.join().unwrap(), REQUESTS, "{name}: connections answered");
    round
}

/// The median of `values` (nearest rank, as [`percentile`]).
fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    percentile(&sorted, 50.0)
}

/// Throughput samples per path, paths alternated; prints the table.
fn measure_throughput(paths: &[WiredPath]) {
    let mut results = vec![Vec::new(); paths.len()];
    for _ in 0..SAMPLES {
        for (i, path) in paths.iter().enumerate() {
            results[i].push(throughput(path));
        }
    }
    let base = median(&results[0]);
    let direct = median(&results[1]);
    println!("| path | Gbit/s (median of {SAMPLES} × {SECONDS} s) | samples | ratio |");
    println!("|---|---:|---|---:|");
    for (i, path) in paths.iter().enumerate() {
        let runs: Vec<String> = results[i].iter().map(|g| format!("{g:.1}")).collect();
        let ratio = match i {
            0 => "—".to_owned(),
            1 => format!("{:.2}× underlay", direct / base),
            _ => format!("{:.2}× direct", median(&results[i]) / direct),
        };
        println!(
            "| {} | {:.1} | {} | {ratio} |",
            path.name,
            median(&results[i]),
            runs.join(", ")
        );
    }
    for gbps in results.iter().flatten() {
        assert!(*gbps > 0.0);
    }
}

/// One path's request rounds summed up (seconds).
struct Summary {
    /// Median of the rounds' conn/s.
    rate: f64,
    /// Over every request of every round.
    p50: f64,
    p99: f64,
    /// Each round's conn/s, p50 and p99.
    rates: Vec<f64>,
    p50s: Vec<f64>,
    p99s: Vec<f64>,
}

impl Summary {
    fn of(rounds: &[Requests]) -> Summary {
        let sorted = |v: &[f64]| {
            let mut v = v.to_vec();
            v.sort_by(f64::total_cmp);
            v
        };
        let mut all: Vec<f64> = rounds.iter().flat_map(|r| r.latencies.clone()).collect();
        all.sort_by(f64::total_cmp);
        assert_eq!(all.len(), REQUESTS * rounds.len());
        let rates: Vec<f64> = rounds.iter().map(|r| r.per_second).collect();
        Summary {
            rate: median(&rates),
            p50: percentile(&all, 50.0),
            p99: percentile(&all, 99.0),
            rates,
            p50s: rounds
                .iter()
                .map(|r| percentile(&sorted(&r.latencies), 50.0))
                .collect(),
            p99s: rounds
                .iter()
                .map(|r| percentile(&sorted(&r.latencies), 99.0))
                .collect(),
        }
    }
}

/// `values × scale` with `digits` decimals, comma-separated.
fn list(values: &[f64], scale: f64, digits: usize) -> String {
    values
        .iter()
        .map(|x| format!("{:.digits$}", x * scale))
        .collect::<Vec<_>>()
        .join(", ")
}

/// [`ROUNDS_HTTP`] rounds of [`requests`] per path, each round starting with the next path;
/// prints the table: conn/s (median of the rounds, and each round's), p50/p99 over every
/// request of every round (and each round's), and each path's ratios to the one before it
/// (direct ÷ underlay, VIP ÷ direct).
fn measure_requests(paths: &[WiredPath]) {
    let mut rounds: Vec<Vec<Requests>> = paths.iter().map(|_| Vec::new()).collect();
    for round in 0..ROUNDS_HTTP {
        for k in 0..paths.len() {
            let i = (round + k) % paths.len();
            rounds[i].push(requests(&paths[i]));
        }
    }
    let stats: Vec<Summary> = rounds.iter().map(|r| Summary::of(r)).collect();
    println!();
    println!(
        "| path | conn/s (median of {ROUNDS_HTTP} × {REQUESTS}) | rounds (conn/s) | p50 | p99 | rounds (p50; p99) | ratio (conn/s, p50, p99) |"
    );
    println!("|---|---:|---|---:|---:|---|---|");
    for (i, (path, s)) in paths.iter().zip(&stats).enumerate() {
        let ratio = match i {
            0 => "—".to_owned(),
            _ => {
                let before = &stats[i - 1];
                let over = if i == 1 { "underlay" } else { "direct" };
                format!(
                    "{:.2}×, {:.2}×, {:.2}× {over}",
                    s.rate / before.rate,
                    s.p50 / before.p50,
                    s.p99 / before.p99
                )
            }
        };
        println!(
            "| {} | {:.0} | {} | {:.3} ms | {:.3} ms | {}; {} ms | {ratio} |",
            path.name,
            s.rate,
            list(&s.rates, 1.0, 0),
            s.p50 * 1e3,
            s.p99 * 1e3,
            list(&s.p50s, 1e3, 3),
            list(&s.p99s, 1e3, 2)
        );
        assert!(s.rate > 0.0);
    }
}

/// The 1-, 5- and 15-minute load averages.
fn loadavg() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

#[test]
#[ignore = "a measurement, not a check: prints throughput and request latency through the wired overlay"]
fn measure_wired_throughput_and_request_latency_against_the_underlay() {
    skip_unless_root!();
    println!("load average at start: {}", loadavg());
    let c = Cluster::new("ovb", 2);
    c.docker_ok(0, &["network", "create", "-d", "overlay", "app"]);
    let on = |host: usize| format!("node.hostname=={}", c.hosts[host].name);
    for (name, host) in [("sink", 0), ("client", 1)] {
        service(
            &c,
            name,
            &["--network", "app", "--constraint", &on(host)],
            "exec sleep 100000",
        );
    }
    let sink = c.wait_running("sink", 1).remove(0);
    let client = c.wait_running("client", 1).remove(0);
    let sink_addr = task_addresses(&c, &sink)["app"];
    let vip = vip(&c, "sink", "app");
    let (sink_ns, client_ns) = (task_netns(&c, &sink), task_netns(&c, &client));
    let paths = [
        WiredPath {
            name: "host → host (underlay veth + bridge)",
            from: c.hosts[1].netns().to_owned(),
            to: c.hosts[0].address,
            server_ns: c.hosts[0].netns().to_owned(),
            bind: c.hosts[0].address,
        },
        WiredPath {
            name: "task → task IP on another host (shoal overlay, VXLAN)",
            from: client_ns.clone(),
            to: sink_addr,
            server_ns: sink_ns.clone(),
            bind: Ipv4Addr::UNSPECIFIED,
        },
        WiredPath {
            name: "task → VIP → task on another host (task's nft table + VXLAN)",
            from: client_ns,
            to: vip,
            server_ns: sink_ns,
            bind: Ipv4Addr::UNSPECIFIED,
        },
    ];
    measure_throughput(&paths);
    measure_requests(&paths);
    println!("load average at end: {}", loadavg());
}
