//! `failover/3_managers/kill_leader`: three `shoal agent` processes on loopback; kill -9 the
//! leader, time until a write through a survivor's Docker API succeeds; restart the killed
//! manager, wait until it has caught up, and repeat.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use api::model;

use crate::agents::{Agent, wait_for};

use crate::report::{machine_facts, percentile, write_section};

/// Flags of `shoal-bench failover`.
#[derive(clap::Args)]
pub struct Args {
    /// Leader kills to time.
    #[arg(long, default_value_t = 10)]
    kills: usize,
    /// The shoal binary to run (build it with `cargo build --release`).
    #[arg(long, default_value = "target/release/shoal")]
    shoal: PathBuf,
    /// Report file to update.
    #[arg(long, default_value = "BENCHMARKS.md")]
    out: PathBuf,
}

/// Name of the leader as `name`'s node list shows it.
async fn leader(agent: &Agent) -> Option<String> {
    let nodes = agent.client().ok()?.nodes(&Default::default()).await.ok()?;
    nodes
        .into_iter()
        .find(|n| n.manager_status.as_ref().is_some_and(|m| m.leader))
        .map(|n| n.description.hostname)
}

/// One label write through `agent`'s API (read the version, write it back).
async fn write(agent: &Agent, key: &str) -> anyhow::Result<()> {
    let c = agent.client()?;
    let node = c.node(&agent.name).await?;
    let mut spec = node.spec.clone();
    spec.labels.insert(key.into(), "1".into());
    c.node_update(&node.id, node.version.index, &spec).await?;
    Ok(())
}

/// Runs the benchmark and writes the `failover` section.
pub async fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.shoal.exists(),
        "{} not found: run `cargo build --release` first",
        args.shoal.display()
    );
    let root = tempfile::Builder::new()
        .prefix("shoal-failover-")
        .tempdir_in(std::env::current_dir()?)?;
    let mut agents = vec![
        Agent::start(&args.shoal, root.path(), "m1")?,
        Agent::start(&args.shoal, root.path(), "m2")?,
        Agent::start(&args.shoal, root.path(), "m3")?,
    ];
    let first = agents[0].client()?;
    first
        .swarm_init(&model::InitRequest {
            listen_addr: agents[0].addr.clone(),
            advertise_addr: agents[0].addr.clone(),
            ..Default::default()
        })
        .await?;
    let token = first.swarm_inspect().await?.join_tokens.manager;
    for a in &agents[1..] {
        a.client()?
            .swarm_join(&model::JoinRequest {
                listen_addr: a.addr.clone(),
                advertise_addr: a.addr.clone(),
                remote_addrs: vec![agents[0].addr.clone()],
                join_token: token.clone(),
                ..Default::default()
            })
            .await?;
    }
    let mut samples = Vec::new();
    for round in 0..args.kills {
        // Everyone agrees on a leader and takes writes before each kill.
        let name = wait_for(Duration::from_secs(30), || async {
            let l = leader(&agents[0]).await?;
            for a in &agents {
                if leader(a).await.as_deref() != Some(l.as_str()) {
                    return None;
                }
            }
            Some(l)
        })
        .await
        .ok_or_else(|| anyhow::anyhow!("no agreed leader before round {round}"))?;
        let li = agents
            .iter()
            .position(|a| a.name == name)
            .ok_or_else(|| anyhow::anyhow!("leader {name} unknown"))?;
        let survivor = (li + 1) % agents.len();
        write(&agents[survivor], &format!("warm{round}")).await?;
        let killed = Instant::now();
        agents[li].kill9();
        let key = format!("round{round}");
        wait_for(Duration::from_secs(30), || async {
            write(&agents[survivor], &key).await.ok()
        })
        .await
        .ok_or_else(|| anyhow::anyhow!("no write after killing the leader in round {round}"))?;
        let took = killed.elapsed().as_secs_f64() * 1000.0;
        eprintln!("failover: round {round}: leader {name} killed, write accepted after {took:.0} ms");
        samples.push(took);
        agents[li].spawn(&args.shoal)?;
        wait_for(Duration::from_secs(30), || async {
            let c = agents[li].client().ok()?;
            let node = c.node(&agents[survivor].name).await.ok()?;
            node.spec.labels.contains_key(&key).then_some(())
        })
        .await
        .ok_or_else(|| anyhow::anyhow!("{} did not catch up in round {round}", agents[li].name))?;
    }
    let mut sorted = samples.clone();
    sorted.sort_by(|a, b| a.total_cmp(b));
    let median = percentile(&sorted, 50.0);
    let mut body = String::new();
    body.push_str("## Leader failover: `failover/3_managers/kill_leader`\n\n");
    body.push_str("Three `shoal agent` processes (release build) on loopback. Each round: `kill -9` the leader, then retry a\n");
    body.push_str("`docker node update`-style write (read node, write it back with a new label) through a surviving manager's\n");
    body.push_str("Docker API until it succeeds; the time from the kill to the accepted write is the failover time. The killed\n");
    body.push_str("manager is restarted and must catch up before the next round.\n\n");
    body.push_str("Reproduce: `cargo build --release && cargo run --release -p bench -- failover`\n\n");
    body.push_str(&format!(
        "| kills | median (ms) | min (ms) | max (ms) | Swarm (field notes, same machine kind) |\n|---:|---:|---:|---:|---|\n| {} | **{median:.0}** | {:.0} | {:.0} | ≈ 12,000 ms |\n\n",
        samples.len(),
        sorted.first().copied().unwrap_or(0.0),
        sorted.last().copied().unwrap_or(0.0)
    ));
    body.push_str(&format!(
        "Samples (ms): {}\n\n",
        samples
            .iter()
            .map(|s| format!("{s:.0}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    body.push_str(&machine_facts());
    body.push('\n');
    write_section(&args.out, "failover", &body)?;
    println!("{body}");
    drop(agents);
    Ok(())
}
