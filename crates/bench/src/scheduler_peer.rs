//! SwarmKit as the peer of `shoal-bench scheduler`: running its benchmark binary through
//! `peer/swarmkit-scheduler.sh`, and the report that sets both side by side.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::scheduler::{Args, Row, Workload};

/// SwarmKit's 100k-node × 100k-task benchmark, run only when asked for.
const HUGE: &str = "BenchmarkScheduler100kNodes100kTasks";

/// SwarmKit's numbers for one benchmark.
pub struct PeerStat {
    /// Fastest run, seconds.
    pub min: f64,
    /// Median run, seconds.
    pub median: f64,
    /// Largest peak RSS of a run, MiB.
    pub rss_mib: f64,
}

/// Everything the peer script measured.
pub struct PeerResults {
    /// SwarmKit version and Go version, as the script reports them.
    pub version: String,
    /// By benchmark function name.
    pub stats: BTreeMap<String, PeerStat>,
}

/// Builds (first time) and runs SwarmKit's benchmarks named in `names`, `runs` times each, and
/// the 100k-node × 100k-task one `huge_runs` times.
pub fn run(script: &Path, runs: usize, huge_runs: usize, names: &[&str]) -> anyhow::Result<PeerResults> {
    let pattern = format!("^({})$", names.join("|"));
    eprintln!(
        "scheduler: running SwarmKit's benchmarks via {} ({runs} runs each)",
        script.display()
    );
    let out = Command::new("bash")
        .arg(script)
        .arg(runs.to_string())
        .arg(&pattern)
        .env("SWARMKIT_HUGE_RUNS", huge_runs.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "{} exited with {}",
        script.display(),
        out.status
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut version = String::new();
    let mut samples: BTreeMap<String, (Vec<f64>, f64)> = BTreeMap::new();
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["VERSION", rest @ ..] => version = rest.join(" "),
            ["RESULT", name, secs, rss] => {
                let entry = samples.entry((*name).to_string()).or_default();
                entry.0.push(secs.parse()?);
                entry.1 = entry.1.max(rss.parse::<f64>().unwrap_or(0.0) / 1024.0);
            }
            _ => {}
        }
    }
    anyhow::ensure!(!samples.is_empty(), "the script reported no results");
    let stats = samples
        .into_iter()
        .map(|(name, (mut secs, rss_mib))| {
            secs.sort_by(|a, b| a.total_cmp(b));
            let stat = PeerStat {
                min: secs.first().copied().unwrap_or(0.0),
                median: crate::report::percentile(&secs, 50.0),
                rss_mib,
            };
            (name, stat)
        })
        .collect();
    Ok(PeerResults { version, stats })
}

fn secs(s: f64) -> String {
    if s < 0.01 {
        format!("{:.4}", s)
    } else {
        format!("{:.3}", s)
    }
}

fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The `scheduler` section of BENCHMARKS.md (without the machine facts).
pub fn report(workloads: &[Workload], rows: &[Row], peer: Option<&PeerResults>, args: &Args) -> String {
    let mut b = String::new();
    b.push_str("## Scheduler: `schedule/<N>_nodes/<T>_tasks[/constrained]`\n\n");
    b.push_str(
        "SwarmKit's scheduler benchmark workloads (`benchScheduler` in `manager/scheduler/scheduler_test.go`): N READY,\n\
         ACTIVE nodes with random IDs and T identical PENDING tasks `task<i>` with no service and no spec version,\n\
         desired RUNNING, no resources. *Constrained*: SwarmKit gives every third node a \"network\" plugin that the\n\
         tasks need; shoal has no plugins, so nodes with `i % 3 == 0` carry the label `net=yes` and the tasks the\n\
         constraint `node.labels.net==yes` (the same ⌈N/3⌉ eligible nodes, checked by the constraint filter\n\
         instead of the plugin filter). Timed: from the populated in-memory store to all T assignments applied to\n\
         it, like SwarmKit's (there: commit, debounce, one scheduling tick, write-back in 200-change transactions\n\
         until T update events are seen). Here: `scheduler::schedule(&snapshot)` (*decide*), then\n",
    );
    b.push_str(&format!(
        "`Decisions::into_batches({})` applied with `Store::apply` (*write-back*: every task copied, re-indexed and\n\
         reported as a change event, no Raft). Each run builds a fresh store; the check after each run (every task\n\
         ASSIGNED, eligible nodes within one task of each other) is not timed.\n\n",
        args.txn_tasks
    ));
    b.push_str("Reproduce: `cargo run --release -p bench -- scheduler --peer` (as root on Debian 12; without `--peer` the\n");
    b.push_str("SwarmKit columns are the reference numbers).\n\n");
    match peer {
        Some(p) => b.push_str(&format!(
            "**SwarmKit columns: measured in the same run** on this machine: SwarmKit {} ({}), the snapshot Debian's\n\
             docker.io 20.10.24 source package carries, built offline by `crates/bench/peer/swarmkit-scheduler.sh`\n\
             from Debian's golang-*-dev packages; {} fresh processes per benchmark, `-benchtime 1x`. The reference\n\
             column is SwarmKit 3f2e40b (2023) as measured earlier and kept in the bench (6 runs on this\n\
             kind of machine), for comparison. Ratios are SwarmKit time ÷ shoal time, same run.\n\n",
            p.version.split_whitespace().nth(1).unwrap_or("?"),
            p.version.split_whitespace().nth(2).unwrap_or("?"),
            args.peer_runs
        )),
        None => b.push_str(
            "**SwarmKit columns: reference numbers, not measured in this run**: SwarmKit 3f2e40b, Go 1.19.8, as measured\n\
             earlier and kept in the bench (6 runs on this kind of machine). Run with `--peer` to\n\
             measure SwarmKit in the same run.\n\n",
        ),
    }
    b.push_str(
        "| workload | eligible | runs | shoal min s | shoal median s | decide s | write-back s | tasks/s | SwarmKit min s | SwarmKit median s | × (min) | × (median) | SwarmKit ref min s | idle call ms | peak RSS MiB shoal / SwarmKit |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for (w, r) in workloads.iter().zip(rows) {
        let measured = peer
            .and_then(|p| p.stats.get(w.swarmkit))
            .map(|s| (s.min, s.median, Some(s.rss_mib)));
        let swarm = measured.or_else(|| {
            if peer.is_none() {
                w.reference.map(|(a, m)| (a, m, None))
            } else {
                None
            }
        });
        let (sk_min, sk_med, ratio_min, ratio_med, sk_rss) = match swarm {
            Some((min, med, rss)) => (
                secs(min),
                secs(med),
                format!("**{:.0}×**", min / r.min.max(1e-9)),
                format!("{:.0}×", med / r.median.max(1e-9)),
                rss.map_or("–".to_string(), |m| format!("{m:.0}")),
            ),
            None => {
                let why = if w.swarmkit.is_empty() {
                    "no such benchmark"
                } else {
                    "not run (≥ 45 min)"
                };
                (why.to_string(), "–".into(), "–".into(), "–".into(), "–".into())
            }
        };
        b.push_str(&format!(
            "| `{}` | {} | {} | {} | {} | {} | {} | {:.2e} | {} | {} | {} | {} | {} | {:.1} | {:.0} / {} |\n",
            w.name(),
            thousands(if w.constrained {
                w.nodes.div_ceil(3)
            } else {
                w.nodes
            }),
            r.runs,
            secs(r.min),
            secs(r.median),
            secs(r.decide),
            secs(r.write_back),
            w.tasks as f64 / r.median.max(1e-9),
            sk_min,
            sk_med,
            ratio_min,
            ratio_med,
            w.reference.map_or("–".to_string(), |(m, _)| secs(m)),
            r.idle_call * 1000.0,
            r.peak_rss_mib,
            sk_rss,
        ));
    }
    b.push_str(
        "\n*decide* and *write-back* are medians of their own; tasks/s is T ÷ median total. *idle call*: one more\n\
         `schedule` on the fully assigned store (nothing pending, so no decisions): the cost a leader loop pays per\n\
         store change at that cluster size (not timed in the totals). Each workload runs in a\n\
         fresh process (as SwarmKit's do); peak RSS is that process's high-water mark over its runs, untimed\n\
         setup included (as SwarmKit's column); the SwarmKit figure is the largest of its runs.\n",
    );
    if peer.is_some_and(|p| p.stats.contains_key(HUGE)) {
        b.push_str(&format!(
            "SwarmKit's 100k-node × 100k-task benchmark (about T × N = 10¹⁰ node visits) ran {} time(s)\n\
             (`--peer-huge-runs`).\n",
            args.peer_huge_runs
        ));
    } else {
        b.push_str(
            "SwarmKit's 100k-node × 100k-task benchmark is skipped unless `--peer-huge-runs N` asks for it: about\n\
             T × N = 10¹⁰ node visits, roughly 45–50 min per run on this machine.\n",
        );
    }
    b
}
