//! `schedule/<N>_nodes/<T>_tasks[/constrained]`: SwarmKit's scheduler benchmark workloads,
//! timed from a populated in-memory store until every assignment is written back to it.
//!
//! Like SwarmKit's `benchScheduler`: N READY, ACTIVE nodes with random IDs; T identical
//! PENDING tasks `task<i>` with no service and no spec version, desired RUNNING, no resources.
//! SwarmKit's constrained variants give every third node a "network" plugin that the tasks
//! need; shoal has no plugins, so every third node (i % 3 == 0) carries the label `net=yes` and
//! the tasks the constraint `node.labels.net==yes`: the same ⌈N/3⌉ eligible nodes.
//!
//! SwarmKit's numbers come from its own benchmark binary, built from Debian's docker.io source
//! by `peer/swarmkit-scheduler.sh` and run in the same invocation (`--peer`), or else from the
//! reference measurements kept with each workload below (`Workload::reference`: SwarmKit
//! 3f2e40b, Go 1.19.8, 6 runs on this kind of machine).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::StdRng;
use rules::scheduler;
use store::{Op, Store, Txn};
use types::{Object, TaskSpec, TaskState, Timestamp, testing};

use crate::report::{loadavg, machine_facts, write_section};
use crate::scheduler_peer;

/// Flags of `shoal-bench scheduler`.
#[derive(clap::Args)]
pub struct Args {
    /// Runs per workload (fresh store each run).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Runs of the workloads with a million tasks.
    #[arg(long, default_value_t = 2)]
    huge_runs: usize,
    /// Only workloads whose name contains this.
    #[arg(long)]
    only: Option<String>,
    /// Also build and run SwarmKit's benchmarks (needs root, Debian, a few minutes).
    #[arg(long)]
    peer: bool,
    /// Runs per SwarmKit benchmark (each a fresh process).
    #[arg(long, default_value_t = 3)]
    pub peer_runs: usize,
    /// Runs of SwarmKit's 100k-node × 100k-task benchmark, which takes about 45 minutes each;
    /// skipped unless asked for.
    #[arg(long, default_value_t = 0)]
    pub peer_huge_runs: usize,
    /// The script that builds and runs SwarmKit's benchmarks.
    #[arg(long, default_value = "crates/bench/peer/swarmkit-scheduler.sh")]
    peer_script: PathBuf,
    /// Task IDs per store transaction in the write-back.
    #[arg(long, default_value_t = 10_000)]
    pub txn_tasks: usize,
    /// Report file to update.
    #[arg(long, default_value = "BENCHMARKS.md")]
    out: PathBuf,
    /// Internal: measure this one workload in this process and print the raw timings. Each
    /// workload runs in a fresh process, as SwarmKit's do, so that peak RSS is the workload's
    /// own and no allocator state carries over from a bigger workload.
    #[arg(long, hide = true)]
    child: Option<String>,
}

/// One workload and SwarmKit's reference numbers for it (min s, median s), when measured.
pub struct Workload {
    /// Nodes.
    pub nodes: usize,
    /// Tasks.
    pub tasks: usize,
    /// Tasks need the label one node in three has.
    pub constrained: bool,
    /// SwarmKit's benchmark function.
    pub swarmkit: &'static str,
    /// Reference (min, median) seconds from swarmkit-scheduler-bench.md.
    pub reference: Option<(f64, f64)>,
}

impl Workload {
    /// `schedule/1k_nodes/10k_tasks[/constrained]`.
    pub fn name(&self) -> String {
        let suffix = if self.constrained { "/constrained" } else { "" };
        format!(
            "schedule/{}_nodes/{}_tasks{suffix}",
            short(self.nodes),
            short(self.tasks)
        )
    }

    fn eligible(&self) -> usize {
        if self.constrained {
            self.nodes.div_ceil(3)
        } else {
            self.nodes
        }
    }
}

fn short(n: usize) -> String {
    match n {
        n if n >= 1_000_000 && n % 1_000_000 == 0 => format!("{}M", n / 1_000_000),
        n if n >= 1_000 && n % 1_000 == 0 => format!("{}k", n / 1_000),
        n => n.to_string(),
    }
}

/// The workloads, SwarmKit's first, then the two it could not run in time, then 10k × 1M.
pub fn workloads() -> Vec<Workload> {
    let w = |nodes, tasks, constrained, swarmkit, reference| Workload {
        nodes,
        tasks,
        constrained,
        swarmkit,
        reference,
    };
    vec![
        w(
            1_000,
            1_000,
            false,
            "BenchmarkScheduler1kNodes1kTasks",
            Some((0.120, 0.180)),
        ),
        w(
            1_000,
            10_000,
            false,
            "BenchmarkScheduler1kNodes10kTasks",
            Some((1.234, 1.614)),
        ),
        w(
            1_000,
            100_000,
            false,
            "BenchmarkScheduler1kNodes100kTasks",
            Some((17.305, 20.754)),
        ),
        w(
            100_000,
            1_000,
            false,
            "BenchmarkScheduler100kNodes1kTasks",
            Some((31.053, 41.889)),
        ),
        w(
            1_000,
            1_000,
            true,
            "BenchmarkSchedulerConstraints1kNodes1kTasks",
            Some((0.181, 0.222)),
        ),
        w(
            1_000,
            10_000,
            true,
            "BenchmarkSchedulerConstraints1kNodes10kTasks",
            Some((1.582, 2.027)),
        ),
        w(
            1_000,
            100_000,
            true,
            "BenchmarkSchedulerConstraints1kNodes100kTasks",
            Some((21.204, 27.524)),
        ),
        w(
            5_000,
            100_000,
            true,
            "BenchmarkSchedulerConstraints5kNodes100kTasks",
            Some((92.008, 106.882)),
        ),
        w(100_000, 1_000, true, "", None),
        w(
            100_000,
            100_000,
            false,
            "BenchmarkScheduler100kNodes100kTasks",
            None,
        ),
        w(100_000, 100_000, true, "", None),
        w(10_000, 1_000_000, false, "", None),
    ]
}

/// Timings of one run.
struct Run {
    decide: Duration,
    write_back: Duration,
    /// A further call on the fully assigned store (nothing pending): what a leader loop pays
    /// per store change at this cluster size.
    idle_call: Duration,
}

impl Run {
    fn total(&self) -> f64 {
        (self.decide + self.write_back).as_secs_f64()
    }
}

/// The measured side of one workload.
struct Measured {
    runs: Vec<Run>,
    peak_rss_mib: f64,
}

/// Builds the store of a workload (not timed).
fn populate(w: &Workload, seed: u64) -> anyhow::Result<Store> {
    let store = Store::default();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut spec = TaskSpec::default();
    if w.constrained {
        spec.placement.constraints.push("node.labels.net==yes".into());
    }
    let spec = Arc::new(spec);
    let nodes = (0..w.nodes).map(|i| {
        let mut n = testing::node(&types::id::new_id(&mut rng)).build();
        n.spec.name = format!("name{i}");
        if i % 3 == 0 {
            n.spec.labels.insert("net".into(), "yes".into());
        }
        Object::Node(n)
    });
    let tasks = (0..w.tasks).map(|i| {
        let id = format!("task{i}");
        // SwarmKit's benchmark tasks: no service, no spec version, no slot.
        Object::Task(
            testing::task(&id)
                .service("", &id)
                .slot(0)
                .spec_version(0)
                .spec(spec.clone())
                .state(TaskState::Pending)
                .build(),
        )
    });
    let mut index = 0;
    let mut ops = Vec::new();
    for object in nodes.chain(tasks) {
        ops.push(Op::Create(object));
        if ops.len() == 50_000 {
            index += 1;
            store.apply(
                &Txn {
                    id: 0,
                    ops: std::mem::take(&mut ops),
                    now: Timestamp(1),
                },
                index,
            )?;
        }
    }
    index += 1;
    store.apply(
        &Txn {
            id: 0,
            ops,
            now: Timestamp(1),
        },
        index,
    )?;
    Ok(store)
}

#[allow(clippy::disallowed_methods)] // a benchmark reads the real clock on purpose
fn now() -> std::time::Instant {
    std::time::Instant::now()
}

/// One timed run: schedule the snapshot, then apply every assignment to the store.
fn run_once(w: &Workload, seed: u64, txn_tasks: usize) -> anyhow::Result<Run> {
    let store = populate(w, seed)?;
    let started = now();
    let view = store.view();
    let decisions = scheduler::schedule(&view);
    let decided = now();
    let mut index = view.index;
    for ops in decisions.into_batches(txn_tasks) {
        index += 1;
        store.apply(
            &Txn {
                id: 0,
                ops,
                now: Timestamp(2),
            },
            index,
        )?;
    }
    let written = now();
    drop(view);
    check(w, &store)?;
    let view = store.view();
    let idle_started = now();
    let idle = scheduler::schedule(&view);
    let idle_call = now() - idle_started;
    anyhow::ensure!(idle.is_empty(), "{}: a second pass changed something", w.name());
    Ok(Run {
        decide: decided - started,
        write_back: written - decided,
        idle_call,
    })
}

/// Every task ASSIGNED, evenly over the eligible nodes (not timed).
fn check(w: &Workload, store: &Store) -> anyhow::Result<()> {
    let state = store.view();
    let assigned = state
        .tasks()
        .filter(|t| t.status.state == TaskState::Assigned)
        .count();
    anyhow::ensure!(
        assigned == w.tasks,
        "{}: {assigned} of {} tasks assigned",
        w.name(),
        w.tasks
    );
    let counts: Vec<usize> = state
        .nodes()
        .filter(|n| !w.constrained || n.spec.labels.get("net").is_some_and(|v| v == "yes"))
        .map(|n| state.tasks_on_node(&n.id).count())
        .collect();
    let (min, max) = (
        counts.iter().min().copied().unwrap_or(0),
        counts.iter().max().copied().unwrap_or(0),
    );
    anyhow::ensure!(
        counts.len() == w.eligible() && max - min <= 1,
        "{}: uneven spread {min}..{max}",
        w.name()
    );
    Ok(())
}

/// This process's peak RSS in MiB (VmHWM).
fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

fn median(sorted: &[f64]) -> f64 {
    crate::report::percentile(sorted, 50.0)
}

fn measure(w: &Workload, runs: usize, txn_tasks: usize) -> anyhow::Result<Measured> {
    let mut out = Vec::new();
    for r in 0..runs {
        let run = run_once(w, r as u64 + 1, txn_tasks)?;
        eprintln!(
            "scheduler: {} run {}: {:.4} s (decide {:.4} s, write-back {:.4} s; idle call {:.4} s)",
            w.name(),
            r + 1,
            run.total(),
            run.decide.as_secs_f64(),
            run.write_back.as_secs_f64(),
            run.idle_call.as_secs_f64()
        );
        out.push(run);
    }
    Ok(Measured {
        runs: out,
        peak_rss_mib: peak_rss_mib(),
    })
}

/// Measures workload `w` in a fresh process running `shoal-bench scheduler --child <name>`.
fn measure_in_child(w: &Workload, runs: usize, txn_tasks: usize) -> anyhow::Result<Measured> {
    let out = std::process::Command::new(std::env::current_exe()?)
        .args(["scheduler", "--child", &w.name(), "--runs", &runs.to_string()])
        .args(["--txn-tasks", &txn_tasks.to_string()])
        .stderr(std::process::Stdio::inherit())
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "{}: child exited with {}",
        w.name(),
        out.status
    );
    let mut measured = Measured {
        runs: Vec::new(),
        peak_rss_mib: 0.0,
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["RUN", decide, write_back, idle] => measured.runs.push(Run {
                decide: Duration::from_secs_f64(decide.parse()?),
                write_back: Duration::from_secs_f64(write_back.parse()?),
                idle_call: Duration::from_secs_f64(idle.parse()?),
            }),
            ["RSS", mib] => measured.peak_rss_mib = mib.parse()?,
            _ => {}
        }
    }
    anyhow::ensure!(
        !measured.runs.is_empty(),
        "{}: the child reported no runs",
        w.name()
    );
    Ok(measured)
}

/// The child side: measure one workload here and print what [`measure_in_child`] reads.
fn run_child(name: &str, args: &Args) -> anyhow::Result<()> {
    let w = workloads()
        .into_iter()
        .find(|w| w.name() == name)
        .ok_or_else(|| anyhow::anyhow!("no workload {name}"))?;
    let m = measure(&w, args.runs.max(1), args.txn_tasks)?;
    for r in &m.runs {
        println!(
            "RUN {} {} {}",
            r.decide.as_secs_f64(),
            r.write_back.as_secs_f64(),
            r.idle_call.as_secs_f64()
        );
    }
    println!("RSS {}", m.peak_rss_mib);
    Ok(())
}

/// Runs the benchmark and writes the `scheduler` section.
pub fn run(args: Args) -> anyhow::Result<()> {
    if let Some(name) = &args.child {
        return run_child(name, &args);
    }
    let selected: Vec<Workload> = workloads()
        .into_iter()
        .filter(|w| args.only.as_deref().is_none_or(|o| w.name().contains(o)))
        .collect();
    let load_start = loadavg();
    let mut measured = Vec::new();
    for w in &selected {
        let runs = if w.tasks >= 1_000_000 {
            args.huge_runs
        } else {
            args.runs
        };
        measured.push(measure_in_child(w, runs.max(1), args.txn_tasks)?);
    }
    let load_shoal = loadavg();
    let peer = if args.peer {
        let names: Vec<&str> = selected
            .iter()
            .map(|w| w.swarmkit)
            .filter(|s| !s.is_empty())
            .collect();
        match scheduler_peer::run(&args.peer_script, args.peer_runs, args.peer_huge_runs, &names) {
            Ok(p) => Some(p),
            Err(e) => {
                eprintln!("scheduler: SwarmKit peer failed, using the reference numbers: {e:#}");
                None
            }
        }
    } else {
        None
    };
    let body = scheduler_peer::report(
        &selected,
        &measured_rows(&selected, &measured),
        peer.as_ref(),
        &args,
    );
    let load = match &peer {
        Some(_) => format!(
            "{load_start}, after shoal's runs {load_shoal}, after SwarmKit's {}",
            loadavg()
        ),
        None => format!("{load_start}, at the end {load_shoal}"),
    };
    let body = format!(
        "{body}\nLoad average (1 min) at the start {load}: other work shares this machine's cores, so compare\n\
         minimums, and ratios measured in the same run.\n\n{}\n",
        machine_facts()
    );
    write_section(&args.out, "scheduler", &body)?;
    println!("{body}");
    Ok(())
}

/// One row of the report: shoal's numbers for a workload.
pub struct Row {
    /// Minimum total seconds.
    pub min: f64,
    /// Median total seconds.
    pub median: f64,
    /// Median seconds deciding.
    pub decide: f64,
    /// Median seconds writing back.
    pub write_back: f64,
    /// Runs.
    pub runs: usize,
    /// Peak RSS over the workload's runs, MiB.
    pub peak_rss_mib: f64,
    /// Median seconds of a call that finds nothing to do.
    pub idle_call: f64,
}

fn measured_rows(selected: &[Workload], measured: &[Measured]) -> Vec<Row> {
    selected
        .iter()
        .zip(measured)
        .map(|(_, m)| {
            let sorted = |f: &dyn Fn(&Run) -> f64| {
                let mut v: Vec<f64> = m.runs.iter().map(f).collect();
                v.sort_by(|a, b| a.total_cmp(b));
                v
            };
            let totals = sorted(&|r| r.total());
            Row {
                min: totals.first().copied().unwrap_or(0.0),
                median: median(&totals),
                decide: median(&sorted(&|r| r.decide.as_secs_f64())),
                write_back: median(&sorted(&|r| r.write_back.as_secs_f64())),
                runs: m.runs.len(),
                peak_rss_mib: m.peak_rss_mib,
                idle_call: median(&sorted(&|r| r.idle_call.as_secs_f64())),
            }
        })
        .collect()
}
