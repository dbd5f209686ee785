//! `netview/<H>_nodes/1_network`: endpoint convergence over the assignment streams. A leader in
//! this process on its own runtime (threads `mgr…`, whose CPU time is the manager's), and `H`
//! simulated nodes on another runtime (threads `node…`), each with its own certificate and
//! mutual-TLS connection, session, heartbeats and assignment stream; each applies the network
//! views and deltas it receives as an agent does and reports its tasks running at once.
//!
//! ```text
//! phase 1: service `web`, H replicas (one per node) on one overlay
//!          → every node holds the view with H serving endpoints
//! phase 2: service `api`, 100 replicas on the same overlay (nodes already hold it)
//!          → every node holds H + 100 serving endpoints (deltas only)
//! ```
//! Per phase: time until the last node converged, the leader's CPU seconds, the bytes the
//! dispatcher encoded onto the assignment streams (counted on the manager side), messages.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use manager::dispatcher::netfeed::{self, NetFeedCounts};
use manager::testing::{LocalCluster, WallClock, node};
use rpc::calls::{Assignments, Heartbeat, Session, UpdateTaskStatus};
use rpc::messages::{AssignmentsRequest, HeartbeatRequest, SessionRequest, TaskStatusBatch};
use rpc::{Call, Pool};
use store::Op;
use types::{
    Clock, IpamConfig, NetworkAttachment, NetworkSpec, NetworkView, Object, Placement, Role, ServiceSpec,
    TaskSpec, TaskState, TaskStatus,
};

use crate::report::{machine_facts, write_section};

/// Flags of `shoal-bench netview`.
#[derive(clap::Args)]
pub struct Args {
    /// Simulated nodes.
    #[arg(long, default_value_t = 1000)]
    nodes: usize,
    /// Replicas of the second service (phase 2).
    #[arg(long, default_value_t = 100)]
    scale: usize,
    /// Report file to update.
    #[arg(long, default_value = "BENCHMARKS.md")]
    out: PathBuf,
}

const NETWORK_ID: &str = "netbench00000000000000001";
const LIMIT: Duration = Duration::from_secs(600);

/// What one simulated node holds, for the convergence check.
#[derive(Default)]
struct Held {
    /// Serving endpoints in its view of the bench network.
    serving: AtomicUsize,
}

/// CPU seconds (user + system) of this process's threads whose name starts with `prefix`.
fn cpu_seconds(prefix: &str) -> f64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let mut total = 0u64;
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    for entry in dir.flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        if !stat[open + 1..close].starts_with(prefix) {
            continue;
        }
        // Fields after the name: state is 3rd overall; utime and stime are the 14th and 15th.
        let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        let num = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
        total += num(11) + num(12);
    }
    total as f64 / ticks
}

fn raise_fd_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit on a valid, owned struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

/// Runs one simulated node until the process ends.
async fn run_node(pool: Pool, addr: String, id: String, held: Arc<Held>) -> anyhow::Result<()> {
    let description = types::NodeDescription {
        hostname: id.clone(),
        ..Default::default()
    };
    let mut session = pool
        .open::<Session>(
            &addr,
            &SessionRequest {
                description,
                tunnel_key: None,
            },
        )
        .await?;
    let first = session
        .message()
        .await?
        .ok_or_else(|| anyhow::anyhow!("session closed"))?;
    let period = Duration::from_millis(first.heartbeat_period_ms.max(100));
    {
        let (pool, addr) = (pool.clone(), addr.clone());
        tokio::spawn(async move {
            // Keep the session open; beat at the period the leader asks for.
            let mut tick = tokio::time::interval(period);
            loop {
                tokio::select! {
                    m = session.message() => if !matches!(m, Ok(Some(_))) { return },
                    _ = tick.tick() => { let _ = pool.call::<Heartbeat>(&addr, &HeartbeatRequest { tunnel_key: None }).await; }
                }
            }
        });
    }
    let mut stream = pool.open::<Assignments>(&addr, &AssignmentsRequest {}).await?;
    let mut views: BTreeMap<String, NetworkView> = BTreeMap::new();
    while let Some(msg) = stream.message().await? {
        if msg.full {
            views.clear();
        }
        for v in msg.networks {
            views.insert(v.network_id.clone(), v);
        }
        for n in &msg.networks_removed {
            views.remove(n);
        }
        for d in &msg.network_deltas {
            if let Some(v) = views.get_mut(&d.network_id) {
                v.apply(d);
            }
        }
        let serving = views
            .get(NETWORK_ID)
            .map(|v| v.endpoints.iter().filter(|e| e.serving).count())
            .unwrap_or(0);
        held.serving.store(serving, Ordering::Relaxed);
        // The simulated executor: what should run runs at once.
        let updates: Vec<(String, TaskStatus)> = msg
            .tasks
            .iter()
            .filter(|t| t.desired_state == TaskState::Running && t.status.state < TaskState::Running)
            .map(|t| {
                (
                    t.id.clone(),
                    TaskStatus {
                        timestamp: WallClock.now(),
                        state: TaskState::Running,
                        ..Default::default()
                    },
                )
            })
            .collect();
        if !updates.is_empty() {
            pool.call::<UpdateTaskStatus>(&addr, &TaskStatusBatch { updates })
                .await?;
        }
    }
    Ok(())
}

fn service(name: &str, replicas: usize, max_per_node: u64) -> ServiceSpec {
    types::testing::service(name)
        .replicas(replicas as u64)
        .task(TaskSpec {
            container: types::ContainerSpec {
                image: "busybox".into(),
                ..Default::default()
            },
            placement: Placement {
                constraints: vec!["node.role==worker".into()],
                max_replicas: max_per_node,
                ..Default::default()
            },
            networks: vec![NetworkAttachment {
                target: NETWORK_ID.into(),
                ..Default::default()
            }],
            ..Default::default()
        })
        .spec()
}

/// One phase's numbers.
struct Phase {
    name: String,
    seconds: f64,
    cpu: f64,
    sent: NetFeedCounts,
}

fn minus(a: NetFeedCounts, b: NetFeedCounts) -> NetFeedCounts {
    NetFeedCounts {
        messages: a.messages - b.messages,
        bytes: a.bytes - b.bytes,
        network_messages: a.network_messages - b.network_messages,
        network_bytes: a.network_bytes - b.network_bytes,
        views_built: a.views_built - b.views_built,
        full_views: a.full_views - b.full_views,
        deltas: a.deltas - b.deltas,
    }
}

/// Runs the benchmark and writes the `netview` section.
pub fn run(args: Args) -> anyhow::Result<()> {
    raise_fd_limit();
    let mgr = tokio::runtime::Builder::new_multi_thread()
        .thread_name("mgr")
        .enable_all()
        .build()?;
    let nodes_rt = tokio::runtime::Builder::new_multi_thread()
        .thread_name("node")
        .enable_all()
        .build()?;
    let cluster = mgr.block_on(LocalCluster::start(1))?;
    let leader = cluster.managers[0].clone();
    let addr = cluster.addr.clone();

    // The network (a /16: room for every endpoint) and the node objects.
    let (net_op, _) = rules::controlapi::network::create(
        &leader.store().view(),
        NETWORK_ID.into(),
        NetworkSpec {
            name: "bench".into(),
            driver: "overlay".into(),
            ipam: vec![IpamConfig {
                subnet: "10.128.0.0/16".into(),
                ..Default::default()
            }],
            ..Default::default()
        },
    )?;
    mgr.block_on(leader.propose(vec![net_op]))?;
    let ids: Vec<String> = (0..args.nodes).map(|i| format!("hollow{i:05}")).collect();
    for chunk in ids.chunks(100) {
        let ops = chunk
            .iter()
            .map(|id| Op::Create(Object::Node(node(id, Role::Worker))))
            .collect();
        mgr.block_on(leader.propose(ops))?;
    }
    let mut held = Vec::new();
    for id in &ids {
        let (cert, key) = cluster.issue(id, Role::Worker)?;
        let pool = Pool::new(ca::tls::client_config(&cert, &key, cluster.root.cert_pem())?);
        let h = Arc::new(Held::default());
        held.push(h.clone());
        let (addr, id) = (addr.clone(), id.clone());
        nodes_rt.spawn(async move {
            if let Err(e) = run_node(pool, addr, id.clone(), h).await {
                eprintln!("netview: node {id}: {e:#}");
            }
        });
    }
    let ready = || {
        leader
            .store()
            .view()
            .nodes()
            .filter(|n| n.status.state == types::NodeState::Ready && n.role == Role::Worker)
            .count()
    };
    wait(LIMIT, || ready() == args.nodes)?;
    eprintln!("netview: {} nodes ready", args.nodes);

    let mut phases = Vec::new();
    let plan = [
        (
            format!("`web`: {} replicas, one per node", args.nodes),
            "web",
            args.nodes,
            1,
        ),
        (
            format!("then `api`: {} replicas on nodes holding the network", args.scale),
            "api",
            args.scale,
            0,
        ),
    ];
    let mut want = 0;
    for (label, name, replicas, max_per_node) in plan {
        want += replicas;
        let (cpu0, sent0, started) = (cpu_seconds("mgr"), netfeed::counts(), Instant::now());
        let op = rules::controlapi::service::create(
            &leader.store().view(),
            format!("svc{name}{:0>22}", 1),
            service(name, replicas, max_per_node),
            WallClock.now(),
        )?;
        // Right after 1,000 sessions opened the lone leader may still answer "no leader"
        // (its health check lags under the burst): retry as an operator would.
        let deadline = Instant::now() + Duration::from_secs(120);
        let id = format!("svc{name}{:0>22}", 1);
        while let Err(e) = mgr.block_on(leader.propose(vec![op.clone()])) {
            // An answer lost after the commit: the service is there.
            if leader.store().view().service(&id).is_some() {
                break;
            }
            anyhow::ensure!(Instant::now() < deadline, "service create: {e}");
            std::thread::sleep(Duration::from_millis(200));
        }
        wait(LIMIT, || {
            held.iter().all(|h| h.serving.load(Ordering::Relaxed) == want)
        })?;
        let seconds = started.elapsed().as_secs_f64();
        // Late messages of the phase (none expected once converged) count too.
        let phase = Phase {
            name: label,
            seconds,
            cpu: cpu_seconds("mgr") - cpu0,
            sent: minus(netfeed::counts(), sent0),
        };
        eprintln!(
            "netview: {}: {:.2} s, {:.2} CPU s, {} B in {} messages ({} with networks, {} B)",
            phase.name,
            phase.seconds,
            phase.cpu,
            phase.sent.bytes,
            phase.sent.messages,
            phase.sent.network_messages,
            phase.sent.network_bytes
        );
        phases.push(phase);
    }
    let full_view_bytes = netview_bytes(&leader.store().view());
    mgr.block_on(cluster.stop());
    drop(nodes_rt);

    let n = args.nodes as f64;
    let mut body = String::new();
    body.push_str(&format!(
        "## Endpoint distribution: `netview/{}_nodes/1_network`\n\n",
        args.nodes
    ));
    body.push_str(
        "One leader (in-process, its own runtime: its threads' CPU time is the manager's) and simulated\n",
    );
    body.push_str("nodes on another runtime, each with its own certificate and mutual-TLS connection, session, heartbeats\n");
    body.push_str("and assignment stream; each applies the network views and deltas it receives and reports its tasks\n");
    body.push_str("running at once (the `sim` executor's pace). Timed from the service's create until every node's view\n");
    body.push_str(
        "holds every endpoint as serving. Bytes are the assignment messages' encoded size, counted in the\n",
    );
    body.push_str("dispatcher (tasks included; TLS and HTTP/2 framing not). Everything shares this machine's 2 cores.\n\n");
    body.push_str(&format!(
        "Reproduce: `cargo build --release -p bench && target/release/shoal-bench netview --nodes {} --scale {}`\n\n",
        args.nodes, args.scale
    ));
    body.push_str("| phase | converged in | leader CPU | bytes sent | per node | messages with networks | views built | whole views / deltas sent |\n|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for p in &phases {
        body.push_str(&format!(
            "| {} | **{:.2} s** | **{:.2} s** | {:.1} MB | {:.1} kB | {} ({:.1} per node) | {} | {} / {} |\n",
            p.name,
            p.seconds,
            p.cpu,
            p.sent.bytes as f64 / 1e6,
            p.sent.bytes as f64 / n / 1e3,
            p.sent.network_messages,
            p.sent.network_messages as f64 / n,
            p.sent.views_built,
            p.sent.full_views,
            p.sent.deltas
        ));
    }
    body.push_str(&format!(
        "\nFor scale: the whole view of the network at the end ({} endpoints) encodes to {:.1} kB; sending it to\n\
         every node on each of phase 2's changes instead of deltas would cost {:.1} MB per change.\n\n",
        want,
        full_view_bytes as f64 / 1e3,
        full_view_bytes as f64 * n / 1e6
    ));
    body.push_str(&machine_facts());
    body.push('\n');
    write_section(&args.out, "netview", &body)?;
    println!("{body}");
    Ok(())
}

/// The encoded size of the bench network's whole view.
fn netview_bytes(state: &store::State) -> usize {
    rules::netview::network_view(state, NETWORK_ID)
        .map(|v| encoded_len(&v))
        .unwrap_or(0)
}

fn encoded_len(v: &NetworkView) -> usize {
    let msg = rpc::messages::AssignmentsMessage {
        full: false,
        tasks: Vec::new(),
        removed: Vec::new(),
        networks: vec![v.clone()],
        networks_removed: Vec::new(),
        network_deltas: Vec::new(),
        payloads: Vec::new(),
        payloads_removed: Vec::new(),
        peer_keys: Vec::new(),
    };
    Assignments::response_item(&msg).body.len()
}

/// Polls `done` every 10 ms until it holds or `limit` passes.
fn wait(limit: Duration, done: impl Fn() -> bool) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    while !done() {
        anyhow::ensure!(Instant::now() < deadline, "did not converge within {limit:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}
