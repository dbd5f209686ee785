//! `e2e/<M>_managers/<H>_hollow/<N>_replicas`: real manager processes and hollow nodes (many
//! simulated nodes per process speaking the real dispatcher protocol); time from
//! `POST /services/create` with N replicas until every task reports RUNNING; manager memory
//! per task; Raft log bytes per task.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use api::model;
use serde_json::json;

use crate::agents::{Agent, rss_bytes, wait_every, wait_for};
use crate::report::{machine_facts, write_section};

/// Flags of `shoal-bench e2e`.
#[derive(clap::Args)]
pub struct Args {
    /// Manager counts to run, comma separated.
    #[arg(long, default_value = "1,3")]
    managers: String,
    /// Hollow nodes.
    #[arg(long, default_value_t = 1000)]
    hollow: usize,
    /// Processes the hollow nodes are spread over.
    #[arg(long, default_value_t = 2)]
    hollow_procs: usize,
    /// Replicas of the service.
    #[arg(long, default_value_t = 100_000)]
    replicas: u64,
    /// Runs per manager count (a fresh cluster each); the table gives medians and the
    /// memory's range, which varies from run to run.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// The shoal binary (build it with `cargo build --release`).
    #[arg(long, default_value = "target/release/shoal")]
    shoal: PathBuf,
    /// Report file to update.
    #[arg(long, default_value = "BENCHMARKS.md")]
    out: PathBuf,
}

/// How long the leader runs in steady state before its memory is measured again.
const SETTLE: Duration = Duration::from_secs(5);

struct Outcome {
    managers: usize,
    seconds: f64,
    rss_per_task: f64,
    settled_rss_per_task: f64,
    log_bytes_per_task: f64,
}

fn snapshot_free_spec() -> model::SwarmSpec {
    // No snapshot during the run, so the whole log of the run stays on disk to be measured.
    let mut spec = model::SwarmSpec::default();
    spec.raft.snapshot_interval = 1_000_000_000;
    spec
}

async fn one(args: &Args, managers: usize) -> anyhow::Result<Outcome> {
    let root = tempfile::Builder::new()
        .prefix("shoal-e2e-")
        .tempdir_in(std::env::current_dir()?)?;
    let mut ms = Vec::new();
    for i in 0..managers {
        ms.push(Agent::start(&args.shoal, root.path(), &format!("m{i}"))?);
    }
    let c0 = ms[0].client()?;
    c0.swarm_init(&model::InitRequest {
        listen_addr: ms[0].addr.clone(),
        advertise_addr: ms[0].addr.clone(),
        spec: snapshot_free_spec(),
        ..Default::default()
    })
    .await?;
    let tokens = c0.swarm_inspect().await?.join_tokens;
    for m in &ms[1..] {
        m.client()?
            .swarm_join(&model::JoinRequest {
                listen_addr: m.addr.clone(),
                advertise_addr: m.addr.clone(),
                remote_addrs: vec![ms[0].addr.clone()],
                join_token: tokens.manager.clone(),
                ..Default::default()
            })
            .await?;
    }
    // Managers only manage: every task goes to a hollow node.
    for m in &ms {
        // The node's own session may write it meanwhile (status, description): retry on a
        // stale version, as an operator would.
        wait_for(Duration::from_secs(10), || async {
            let node = c0.node(&m.name).await.ok()?;
            let mut spec = node.spec.clone();
            spec.availability = "drain".into();
            c0.node_update(&node.id, node.version.index, &spec).await.ok()
        })
        .await
        .ok_or_else(|| anyhow::anyhow!("could not drain {}", m.name))?;
    }
    let mut hollow: Vec<Child> = Vec::new();
    let per = args.hollow.div_ceil(args.hollow_procs.max(1));
    for p in 0..args.hollow_procs {
        let count = per.min(args.hollow.saturating_sub(p * per));
        if count == 0 {
            continue;
        }
        let log = std::fs::File::create(root.path().join(format!("hollow{p}.log")))?;
        hollow.push(
            Command::new(&args.shoal)
                .args([
                    "agent",
                    "--hollow",
                    &count.to_string(),
                    "--join-token",
                    &tokens.worker,
                    "--join-addr",
                    &ms[0].addr,
                ])
                .args(["--hostname", &format!("hollow{p}")])
                .env("SHOAL_LOG", "warn")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()?,
        );
    }
    let want = managers + args.hollow;
    wait_for(Duration::from_secs(300), || async {
        let nodes = c0.nodes(&Default::default()).await.ok()?;
        (nodes.iter().filter(|n| n.status.state == "ready").count() == want).then_some(())
    })
    .await
    .ok_or_else(|| anyhow::anyhow!("hollow nodes did not all become ready"))?;
    let leader_name = c0
        .nodes(&Default::default())
        .await?
        .into_iter()
        .find(|n| n.manager_status.as_ref().is_some_and(|s| s.leader))
        .map(|n| n.description.hostname)
        .ok_or_else(|| anyhow::anyhow!("no leader"))?;
    let li = ms
        .iter()
        .position(|m| m.name == leader_name)
        .ok_or_else(|| anyhow::anyhow!("leader unknown"))?;
    let leader_pid = ms[li]
        .pid()
        .ok_or_else(|| anyhow::anyhow!("leader not running"))?;
    let rss_before = rss_bytes(leader_pid);

    eprintln!(
        "e2e: {managers} manager(s), {} hollow nodes ready; creating {} replicas",
        args.hollow, args.replicas
    );
    let spec = json!({
        "Name": "bench",
        "Mode": {"Replicated": {"Replicas": args.replicas}},
        "TaskTemplate": {"ContainerSpec": {"Image": "busybox", "Args": ["sleep", "1000000"]}},
    });
    let started = Instant::now();
    let created: serde_json::Value = c0.post("/services/create", &[], &spec).await?;
    let id = created["ID"].as_str().unwrap_or_default().to_string();
    // The index of the entry that created the service, read at once: everything from there on
    // is this workload. (The orchestrator writes the service again when its first rollout is
    // done, which moves its version past the run's entries.)
    let created_at = c0.service(&id, false).await.map(|s| s.version.index).unwrap_or(0);
    let last_report = std::cell::Cell::new(Instant::now());
    // Polled every 100 ms, a progress display's pace, so the measuring adds little load.
    wait_every(Duration::from_secs(1800), Duration::from_millis(100), || async {
        // Task counts come with the list call (`?status=true`), as `docker service ls` gets them.
        let filters = std::collections::BTreeMap::from([("id".to_string(), vec![id.clone()])]);
        let s = c0.services(&filters, true).await.ok()?.into_iter().next()?;
        let running = s.service_status.map(|st| st.running_tasks).unwrap_or(0);
        if last_report.get().elapsed() > Duration::from_secs(5) {
            eprintln!(
                "e2e: {running} running after {:.1} s",
                started.elapsed().as_secs_f64()
            );
            last_report.set(Instant::now());
        }
        (running == args.replicas).then_some(())
    })
    .await
    .ok_or_else(|| anyhow::anyhow!("service did not converge"))?;
    let seconds = started.elapsed().as_secs_f64();
    let rss_after = rss_bytes(leader_pid);
    // The managers were drained: a task there would mean a lost drain (and real processes).
    for m in &ms {
        let filters = std::collections::BTreeMap::from([("node".to_string(), vec![m.name.clone()])]);
        let on_manager = c0.tasks(&filters).await?.len();
        anyhow::ensure!(
            on_manager == 0,
            "{on_manager} tasks were placed on drained manager {}",
            m.name
        );
    }
    // What the leader keeps once the burst's buffers are freed and returned: its RSS after
    // SETTLE more seconds of steady state (heartbeats only).
    tokio::time::sleep(SETTLE).await;
    let rss_settled = rss_bytes(leader_pid);
    drop(c0);
    for mut h in hollow {
        let _ = h.kill();
        let _ = h.wait();
    }
    for m in &mut ms {
        m.stop();
    }
    let bytes = store::consensus::LogStore::stored_entry_bytes(&ms[li].dir.join("swarm/raft"), created_at)?;
    Ok(Outcome {
        managers,
        seconds,
        rss_per_task: rss_after.saturating_sub(rss_before) as f64 / args.replicas as f64,
        settled_rss_per_task: rss_settled.saturating_sub(rss_before) as f64 / args.replicas as f64,
        log_bytes_per_task: bytes as f64 / args.replicas as f64,
    })
}

/// Runs the benchmark and writes the `e2e` section.
pub async fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.shoal.exists(),
        "{} not found: run `cargo build --release` first",
        args.shoal.display()
    );
    let mut rows: Vec<Vec<Outcome>> = Vec::new();
    for m in args
        .managers
        .split(',')
        .filter_map(|s| s.trim().parse::<usize>().ok())
    {
        let mut runs = Vec::new();
        for _ in 0..args.rounds.max(1) {
            let o = one(&args, m).await?;
            eprintln!(
                "e2e: {} manager(s): {:.1} s, {:.0} tasks/s, {:.0} B RSS/task ({:.0} B settled), {:.0} B log/task",
                o.managers,
                o.seconds,
                args.replicas as f64 / o.seconds,
                o.rss_per_task,
                o.settled_rss_per_task,
                o.log_bytes_per_task
            );
            runs.push(o);
        }
        rows.push(runs);
    }
    let mut body = String::new();
    body.push_str(&format!(
        "## End to end: `e2e/<M>_managers/{}_hollow/{}_replicas`\n\n",
        args.hollow, args.replicas
    ));
    body.push_str("Manager processes (release build, drained so they only manage) and hollow nodes: simulated nodes in\n");
    body.push_str(&format!("{} `shoal agent --hollow` processes, each node with its own certificate and its own session, heartbeats,\n", args.hollow_procs));
    body.push_str("assignment stream and batched status reports. Timed from `POST /services/create` until the service reports\n");
    body.push_str("every replica RUNNING (`GET /services?status=true` polled every 100 ms). Memory is the leader's RSS growth\n");
    body.push_str("from just before the create until then, divided by the replicas, and the same 5 s later when the burst's\n");
    body.push_str("buffers are freed and returned (steady state; the daemon allocates with mimalloc); log\n");
    body.push_str("bytes are the Raft entries written from the service's creation on (task creation, allocation, assignment,\n");
    body.push_str(
        "status reports). After the run the bench checks that no task landed on a (drained) manager.\n",
    );
    body.push_str("Everything shares this machine's 2 cores.\n\n");
    body.push_str("Reproduce: `cargo build --release && cargo run --release -p bench -- e2e`\n\n");
    body.push_str(&format!(
        "Medians of {} runs per row (a fresh cluster each); memory also as the range over the runs.\n\n",
        args.rounds.max(1)
    ));
    body.push_str("| managers | replicas | seconds | tasks/s (target ≥ 5,000) | leader memory per task at convergence | leader memory per task, settled (target ≤ 2 KB) | settled, range | raft log bytes per task (target ≤ 300 B) |\n|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for runs in &rows {
        let median = |f: &dyn Fn(&Outcome) -> f64| {
            let mut v: Vec<f64> = runs.iter().map(f).collect();
            v.sort_by(f64::total_cmp);
            crate::report::percentile(&v, 50.0)
        };
        let settled: Vec<f64> = runs.iter().map(|o| o.settled_rss_per_task).collect();
        let (lo, hi) = settled
            .iter()
            .fold((f64::MAX, 0f64), |(lo, hi), &x| (lo.min(x), hi.max(x)));
        let seconds = median(&|o| o.seconds);
        body.push_str(&format!(
            "| {} | {} | {:.1} | **{:.0}** | {:.0} B | **{:.0} B** | {:.0}–{:.0} B | **{:.0} B** |\n",
            runs[0].managers,
            args.replicas,
            seconds,
            args.replicas as f64 / seconds,
            median(&|o| o.rss_per_task),
            median(&|o| o.settled_rss_per_task),
            lo,
            hi,
            median(&|o| o.log_bytes_per_task)
        ));
    }
    body.push('\n');
    body.push_str(&machine_facts());
    body.push('\n');
    write_section(&args.out, "e2e", &body)?;
    println!("{body}");
    Ok(())
}
