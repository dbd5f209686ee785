//! `raft/3_managers/node_update`: optimistic node updates (read version, write with it)
//! committed through a 3-manager Raft group on loopback, at several concurrencies.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use manager::Manager;
use store::Op;
use types::{NodeState, Object, Role};

use crate::report::{machine_facts, percentile, write_section};
use manager::testing::{LocalCluster, node};

/// Flags of `shoal-bench raft`.
#[derive(clap::Args)]
pub struct Args {
    /// Writes per concurrency level.
    #[arg(long, default_value_t = 2000)]
    writes: usize,
    /// Concurrency levels (clients writing at once), comma separated.
    #[arg(long, default_value = "1,16,64")]
    concurrency: String,
    /// Report file to update.
    #[arg(long, default_value = "BENCHMARKS.md")]
    out: PathBuf,
}

struct Run {
    concurrency: usize,
    writes: usize,
    elapsed: Duration,
    latencies_ms: Vec<f64>,
}

/// `clients` tasks, each updating its own node `writes / clients` times through `via`.
async fn run_writes(via: &Manager, clients: usize, writes: usize) -> anyhow::Result<Run> {
    let per_client = writes / clients;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let m = via.clone();
        tasks.push(tokio::spawn(async move {
            let id = format!("bench{c}");
            let mut lat = Vec::with_capacity(per_client);
            for k in 0..per_client {
                let current = m
                    .synced_view()
                    .await
                    .node(&id)
                    .cloned()
                    .ok_or_else(|| anyhow::anyhow!("missing {id}"))?;
                let mut next = (*current).clone();
                next.spec.labels.insert("seq".into(), k.to_string());
                let t = Instant::now();
                m.propose(vec![Op::Update {
                    object: Object::Node(next),
                    expect_version: Some(current.meta.version),
                }])
                .await
                .map_err(|e| {
                    anyhow::anyhow!(
                        "client {c} write {k} (read version {}): {e}",
                        current.meta.version
                    )
                })?;
                lat.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            anyhow::Ok(lat)
        }));
    }
    let mut latencies_ms = Vec::new();
    for t in tasks {
        latencies_ms.extend(t.await??);
    }
    latencies_ms.sort_by(|a, b| a.total_cmp(b));
    Ok(Run {
        concurrency: clients,
        writes: per_client * clients,
        elapsed: started.elapsed(),
        latencies_ms,
    })
}

/// Runs the benchmark and writes the `raft` section.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let cluster = LocalCluster::start(3).await?;
    let leader = cluster
        .leader()
        .ok_or_else(|| anyhow::anyhow!("no leader"))?
        .clone();
    // Nodes that never heartbeat are created down, so the leader's liveness loop leaves them be
    // and the log holds only the benchmark's writes.
    let mut ops = Vec::new();
    for c in 0..256 {
        let mut n = node(&format!("bench{c}"), Role::Worker);
        n.status.state = NodeState::Down;
        ops.push(Op::Create(Object::Node(n)));
    }
    for m in leader.view().nodes() {
        let mut n = (**m).clone();
        n.status.state = NodeState::Down;
        ops.push(Op::Update {
            object: Object::Node(n),
            expect_version: None,
        });
    }
    leader.propose(ops).await?;

    let levels: Vec<usize> = args
        .concurrency
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let mut runs = Vec::new();
    for &c in &levels {
        eprintln!("raft: {} writes at concurrency {c} via the leader", args.writes);
        runs.push(("leader", run_writes(&leader, c.min(256), args.writes).await?));
    }
    let follower = cluster
        .managers
        .iter()
        .find(|m| !m.is_leader())
        .ok_or_else(|| anyhow::anyhow!("no follower"))?
        .clone();
    eprintln!(
        "raft: {} writes at concurrency 1 via a follower (forwarded)",
        args.writes / 4
    );
    runs.push(("follower", run_writes(&follower, 1, args.writes / 4).await?));

    // Log bytes per write: a sequential run, measured over exactly its index range.
    let first = leader.consensus().metrics().last_log_index.unwrap_or(0) + 1;
    let sized = run_writes(&leader, 1, 500).await?;
    let last = leader.consensus().metrics().last_log_index.unwrap_or(0);
    let bytes = leader.consensus().log().entry_bytes(first..=last)?;
    let entries = last + 1 - first;
    let per_write = bytes as f64 / entries.max(1) as f64;
    let node_json = serde_json::to_vec(
        &*leader
            .view()
            .node("bench0")
            .map(Arc::clone)
            .ok_or_else(|| anyhow::anyhow!("bench0"))?,
    )?
    .len();
    cluster.stop().await;

    let mut body = String::new();
    body.push_str("## Raft writes: `raft/3_managers/node_update`\n\n");
    body.push_str("Three managers in one process, each with its own redb log on disk (fsync per append batch) and its own\n");
    body.push_str("mutual-TLS gRPC listener on loopback. Each client repeatedly reads its own node and writes it back with one\n");
    body.push_str(
        "label changed, carrying the version it read (the optimistic update `docker node update` makes).\n\n",
    );
    body.push_str("Reproduce: `cargo run --release -p bench -- raft`\n\n");
    body.push_str("| path | concurrency | writes | throughput (writes/s) | p50 latency (ms) | p99 latency (ms) |\n|---|---:|---:|---:|---:|---:|\n");
    for (path, r) in &runs {
        body.push_str(&format!(
            "| {path} | {} | {} | {:.0} | {:.2} | {:.2} |\n",
            r.concurrency,
            r.writes,
            r.writes as f64 / r.elapsed.as_secs_f64(),
            percentile(&r.latencies_ms, 50.0),
            percentile(&r.latencies_ms, 99.0)
        ));
    }
    body.push_str(&format!(
        "\nRaft log bytes per node-update write: **{per_write:.0} B** ({entries} entries, {bytes} B; the node object itself is {node_json} B as JSON; sequential run p50 {:.2} ms).\n\n",
        percentile(&sized.latencies_ms, 50.0)
    ));
    body.push_str(&machine_facts());
    body.push('\n');
    write_section(&args.out, "raft", &body)?;
    println!("{body}");
    Ok(())
}
