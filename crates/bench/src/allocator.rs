//! `allocator/1_network/<N>_attachments`: the allocator's cost at scale, timed from a populated
//! in-memory store until every address is written back to it, then released.
//!
//! ```text
//!   store: one overlay network on a /14 (262,142 assignable addresses), one service on it,
//!          N NEW tasks of that service (not timed)
//!   allocate: allocator passes + store applies until no task is NEW  → every task PENDING with
//!             a distinct address on the network (checked)
//!   top-up:   100 more NEW tasks on the network holding them all, one incremental pass
//!             (`allocate_ids`, what the leader's loop runs when tasks change)
//!   release:  every task's observed state set to SHUTDOWN (not timed), then allocator passes
//!             until none frees anything → only the service's VIP is held (checked)
//! ```
//!
//! The allocator is pure (`rules::allocator`); this measures it and the store's apply of its
//! plan, the two costs a leader pays. No peer: SwarmKit's allocator has no benchmark to run
//! beside it, and it needs a network driver this kernel lacks.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rules::allocator;
use rules::controlapi::network;
use store::{Op, Owner, Store, TaskChange, TaskUpdate, Txn};
use types::{
    IpamConfig, NetworkAttachment, NetworkSpec, Object, TaskSpec, TaskState, TaskStatus, Timestamp, testing,
};

use crate::report::{machine_facts, write_section};

/// Flags of `shoal-bench allocator`.
#[derive(clap::Args)]
pub struct Args {
    /// Task attachments allocated and released per run.
    #[arg(long, default_value_t = 100_000)]
    attachments: usize,
    /// Runs (fresh store each).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Report file to update.
    #[arg(long, default_value = "BENCHMARKS.md")]
    out: PathBuf,
}

/// Tasks added on the network holding the first ones for the incremental pass.
const TOP_UP: usize = 100;

/// Objects per populating transaction.
const BATCH: usize = 50_000;

/// One run's timings.
struct Run {
    allocate: Duration,
    allocate_passes: usize,
    top_up: Duration,
    release: Duration,
    release_passes: usize,
}

#[allow(clippy::disallowed_methods)] // a benchmark reads the real clock on purpose
fn now() -> Instant {
    Instant::now()
}

/// Applies `ops` as the next entry.
fn apply(store: &Store, index: &mut u64, ops: Vec<Op>) -> anyhow::Result<()> {
    *index += 1;
    store
        .apply(
            &Txn {
                id: 0,
                ops,
                now: Timestamp(1),
            },
            *index,
        )
        .map_err(|e| anyhow::anyhow!("the store refused a transaction: {e}"))?;
    Ok(())
}

/// NEW task `i` of service `svc` in slot `i + 1`.
fn task(i: usize, spec: &Arc<TaskSpec>) -> Object {
    Object::Task(
        testing::task(&format!("task{i:07}"))
            .slot(i as u64 + 1)
            .spec(spec.clone())
            .build(),
    )
}

/// A store holding the network, the service and `n` NEW tasks (not timed).
fn populate(n: usize) -> anyhow::Result<(Store, u64, Arc<TaskSpec>)> {
    let store = Store::default();
    let mut index = 0;
    let spec = NetworkSpec {
        name: "bench".into(),
        driver: types::network::OVERLAY.into(),
        ipam: vec![IpamConfig {
            subnet: "10.128.0.0/14".into(),
            ..Default::default()
        }],
        ..Default::default()
    };
    let (op, net) = network::create(&store.view(), "benchnet".into(), spec)
        .map_err(|e| anyhow::anyhow!("network create: {e}"))?;
    apply(&store, &mut index, vec![op])?;
    let task_spec = Arc::new(TaskSpec {
        networks: vec![NetworkAttachment {
            target: net.id.clone(),
            ..Default::default()
        }],
        ..Default::default()
    });
    let service = testing::service("web")
        .id("svc")
        .replicas(n as u64)
        .task(task_spec.clone())
        .build();
    apply(&store, &mut index, vec![Op::Create(Object::Service(service))])?;
    let tasks: Vec<Op> = (0..n).map(|i| Op::Create(task(i, &task_spec))).collect();
    for chunk in tasks.chunks(BATCH) {
        apply(&store, &mut index, chunk.to_vec())?;
    }
    Ok((store, index, task_spec))
}

/// Runs full allocator passes until one plans nothing; returns the passes that planned.
fn passes(store: &Store, index: &mut u64) -> anyhow::Result<usize> {
    let mut planned = 0;
    loop {
        let ops = allocator::allocate(&store.view());
        if ops.is_empty() {
            return Ok(planned);
        }
        planned += 1;
        anyhow::ensure!(planned < 100, "the allocator does not settle");
        apply(store, index, ops)?;
    }
}

/// Addresses held by tasks (distinct, all on the network), and whether the VIP is held.
fn held(store: &Store) -> (usize, usize, bool) {
    let view = store.view();
    let mut addrs = std::collections::HashSet::new();
    let mut tasks = 0;
    let mut vip = false;
    for (owner, list) in view.address_holders() {
        match owner {
            Owner::Task(_) => {
                tasks += 1;
                addrs.extend(list.iter().map(|a| a.addr));
            }
            _ => vip = vip || !list.is_empty(),
        }
    }
    (tasks, addrs.len(), vip)
}

fn run_once(n: usize) -> anyhow::Result<Run> {
    let (store, mut index, spec) = populate(n)?;

    let started = now();
    let allocate_passes = passes(&store, &mut index)?;
    let allocate = started.elapsed();
    let pending = store
        .view()
        .tasks()
        .filter(|t| t.status.state == TaskState::Pending)
        .count();
    anyhow::ensure!(pending == n, "{pending} of {n} tasks pending after allocation");
    let (holders, distinct, vip) = held(&store);
    anyhow::ensure!(
        holders == n && distinct == n && vip,
        "{holders} tasks hold {distinct} distinct addresses of {n} (VIP held: {vip})"
    );

    let extra: Vec<Op> = (n..n + TOP_UP).map(|i| Op::Create(task(i, &spec))).collect();
    apply(&store, &mut index, extra)?;
    let ids: Vec<String> = (n..n + TOP_UP).map(|i| format!("task{i:07}")).collect();
    let started = now();
    let ops = allocator::allocate_ids(&store.view(), &ids);
    apply(&store, &mut index, ops)?;
    let top_up = started.elapsed();
    let (holders, distinct, _) = held(&store);
    anyhow::ensure!(
        holders == n + TOP_UP && distinct == n + TOP_UP,
        "top-up: {holders} tasks hold {distinct} distinct addresses of {}",
        n + TOP_UP
    );

    // Not timed: the agents' reports that every task stopped.
    let stopped: Vec<TaskUpdate> = store
        .view()
        .tasks()
        .map(|t| TaskUpdate {
            id: t.id.clone(),
            change: TaskChange::Status(TaskStatus {
                state: TaskState::Shutdown,
                ..Default::default()
            }),
        })
        .collect();
    for chunk in stopped.chunks(BATCH) {
        apply(&store, &mut index, vec![Op::UpdateTasks(chunk.to_vec())])?;
    }
    let started = now();
    let release_passes = passes(&store, &mut index)?;
    let release = started.elapsed();
    let (holders, _, vip) = held(&store);
    anyhow::ensure!(
        holders == 0 && vip,
        "after release {holders} tasks still hold addresses (VIP held: {vip})"
    );
    Ok(Run {
        allocate,
        allocate_passes,
        top_up,
        release,
        release_passes,
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn min(v: &[f64]) -> f64 {
    v.iter().copied().fold(f64::INFINITY, f64::min)
}

/// Runs the benchmark and writes its section.
pub fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(args.runs > 0, "--runs must be at least 1");
    anyhow::ensure!(
        args.attachments + TOP_UP < 262_000,
        "--attachments must fit the /14 network"
    );
    let load = crate::report::loadavg();
    let mut runs = Vec::new();
    for i in 0..args.runs {
        let r = run_once(args.attachments)?;
        println!(
            "run {}: allocate {:.3} s ({} passes), top-up {:.2} ms, release {:.3} s ({} passes)",
            i + 1,
            r.allocate.as_secs_f64(),
            r.allocate_passes,
            r.top_up.as_secs_f64() * 1e3,
            r.release.as_secs_f64(),
            r.release_passes
        );
        runs.push(r);
    }
    let col = |f: &dyn Fn(&Run) -> f64| -> (f64, f64) {
        let v: Vec<f64> = runs.iter().map(f).collect();
        (min(&v), median(v))
    };
    let (a_min, a_med) = col(&|r| r.allocate.as_secs_f64());
    let (t_min, t_med) = col(&|r| r.top_up.as_secs_f64() * 1e3);
    let (r_min, r_med) = col(&|r| r.release.as_secs_f64());
    let n = args.attachments;
    let body = format!(
        "## Allocator: `allocator/1_network/{n}_attachments`\n\n\
         One overlay network on a /14, one service, {n} NEW tasks in an in-memory store; timed:\n\
         the allocator's passes and the store's apply of their plans until every task is PENDING\n\
         with a distinct address (checked), one incremental pass for {TOP_UP} more tasks on the\n\
         network holding them all, and the passes that free every address once all tasks stopped\n\
         (checked: only the VIP is left). `shoal-bench allocator`, {} runs, fresh store each.\n\n\
         | step | min | median | per attachment (median) |\n|---|---|---|---|\n\
         | allocate {n} | {a_min:.3} s | {a_med:.3} s | {:.2} µs |\n\
         | top-up {TOP_UP} (incremental) | {t_min:.2} ms | {t_med:.2} ms | {:.2} µs |\n\
         | release {n} | {r_min:.3} s | {r_med:.3} s | {:.2} µs |\n\n\
         Allocation passes per run: {}; release passes: {}. Load average (1 min) at the start {load}.\n\n{}\n",
        args.runs,
        a_med * 1e6 / n as f64,
        t_med * 1e3 / TOP_UP as f64,
        r_med * 1e6 / n as f64,
        runs[0].allocate_passes,
        runs[0].release_passes,
        machine_facts()
    );
    write_section(&args.out, "allocator", &body)?;
    println!("{body}");
    Ok(())
}
