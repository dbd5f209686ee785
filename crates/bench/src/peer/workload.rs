//! The two measured workloads, run unchanged against either cluster through [`super::api`].
//!
//! - `node_update`: each client owns one down worker node and repeats what
//!   `docker node update --label-add` does: `GET /nodes/ID`, then `POST /nodes/ID/update?version=V`
//!   with one label changed. Latency is the update call (the Raft commit behind the API), the
//!   read's latency is kept beside it; throughput counts whole read-and-write cycles per second.
//! - `kill_leader`: `kill -9` the leader daemon, retry a label write through a surviving
//!   manager until one is accepted; restart the killed one and let it catch up.

use std::path::Path;
use std::time::{Duration, Instant};

use super::api::{Conn, Status};
use super::member::{Cluster, Member, wait_for};
use crate::report::percentile;

/// One run of the write workload.
pub struct Writes {
    /// `leader` or `follower`: whose API the clients talk to.
    pub path: &'static str,
    /// Clients writing at once.
    pub concurrency: usize,
    /// Writes accepted.
    pub writes: usize,
    /// Wall time of the whole run.
    pub elapsed: Duration,
    /// Latency of each accepted update call, sorted (ms).
    pub latencies_ms: Vec<f64>,
    /// Latency of each `GET /nodes/ID` before an update, sorted (ms).
    pub reads_ms: Vec<f64>,
    /// Update calls refused as out of sequence and retried.
    pub conflicts: usize,
}

impl Writes {
    /// Accepted writes per second.
    pub fn throughput(&self) -> f64 {
        self.writes as f64 / self.elapsed.as_secs_f64()
    }

    /// One run made of several slices of the same row.
    pub fn merge(parts: Vec<Writes>) -> Writes {
        let path = parts.first().map_or("leader", |p| p.path);
        let concurrency = parts.first().map_or(0, |p| p.concurrency);
        let merged = |f: fn(&Writes) -> &Vec<f64>| {
            let mut all: Vec<f64> = parts.iter().flat_map(|p| f(p).iter().copied()).collect();
            all.sort_by(|a, b| a.total_cmp(b));
            all
        };
        let (latencies_ms, reads_ms) = (merged(|p| &p.latencies_ms), merged(|p| &p.reads_ms));
        Writes {
            path,
            concurrency,
            writes: parts.iter().map(|p| p.writes).sum(),
            elapsed: parts.iter().map(|p| p.elapsed).sum(),
            latencies_ms,
            reads_ms,
            conflicts: parts.iter().map(|p| p.conflicts).sum(),
        }
    }

    /// The p-th percentile of the update latency (ms).
    pub fn latency(&self, p: f64) -> f64 {
        percentile(&self.latencies_ms, p)
    }

    /// The p-th percentile of the read latency (ms).
    pub fn read_latency(&self, p: f64) -> f64 {
        percentile(&self.reads_ms, p)
    }
}

/// `clients` clients, each updating its own node of `nodes` `writes / clients` times through `socket`.
pub async fn node_update(
    path: &'static str,
    socket: &Path,
    nodes: &[String],
    clients: usize,
    writes: usize,
) -> anyhow::Result<Writes> {
    anyhow::ensure!(
        clients <= nodes.len(),
        "{clients} clients need {clients} nodes, the cluster has {}",
        nodes.len()
    );
    let per_client = (writes / clients).max(1);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (c, id) in nodes.iter().take(clients).enumerate() {
        let (id, socket) = (id.clone(), socket.to_path_buf());
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::new(&socket);
            let mut latencies = Vec::with_capacity(per_client);
            let mut reads = Vec::with_capacity(per_client);
            let mut conflicts = 0;
            let mut k = 0;
            while k < per_client {
                let t = Instant::now();
                let (version, mut spec) = conn.node(&id).await?;
                reads.push(t.elapsed().as_secs_f64() * 1000.0);
                super::api::set_label(&mut spec, "seq", &k.to_string());
                let t = Instant::now();
                match conn.node_update(&id, version, &spec).await {
                    Ok(()) => {
                        latencies.push(t.elapsed().as_secs_f64() * 1000.0);
                        k += 1;
                    }
                    Err(e) if e.downcast_ref::<Status>().is_some_and(Status::is_conflict) => conflicts += 1,
                    Err(e) => return Err(e.context(format!("client {c} write {k} to node {id}"))),
                }
            }
            anyhow::Ok((latencies, reads, conflicts))
        }));
    }
    let (mut latencies_ms, mut reads_ms, mut conflicts) = (Vec::new(), Vec::new(), 0);
    for t in tasks {
        let (l, r, c) = t.await??;
        latencies_ms.extend(l);
        reads_ms.extend(r);
        conflicts += c;
    }
    latencies_ms.sort_by(|a, b| a.total_cmp(b));
    reads_ms.sort_by(|a, b| a.total_cmp(b));
    Ok(Writes {
        path,
        concurrency: clients,
        writes: per_client * clients,
        elapsed: started.elapsed(),
        latencies_ms,
        reads_ms,
        conflicts,
    })
}

/// One leader kill: the time from the kill to the first accepted write (ms). The killed
/// daemon is restarted and has caught up when this returns.
pub async fn kill_leader<M: Member>(
    system: &str,
    cluster: &mut Cluster<M>,
    round: usize,
) -> anyhow::Result<f64> {
    let li = cluster
        .settled(Duration::from_secs(120))
        .await
        .map_err(|e| e.context(format!("{system}: before failover round {round}")))?;
    let si = (li + 1) % cluster.managers.len();
    let (leader, survivor_id) = (
        cluster.managers[li].hostname().to_string(),
        cluster.manager_id(si).to_string(),
    );
    let survivor = cluster.managers[si].socket().to_path_buf();
    Conn::new(&survivor)
        .label_add(&survivor_id, &format!("warm{round}"), "1")
        .await?;
    let key = format!("round{round}");

    let killed = Instant::now();
    cluster.managers[li].kill9();
    wait_for(Duration::from_secs(120), || {
        // A fresh connection each try, as a client whose daemon just lost its leader would.
        let (survivor, id, key) = (&survivor, &survivor_id, &key);
        async move { Conn::new(survivor).label_add(id, key, "1").await.ok() }
    })
    .await
    .ok_or_else(|| {
        anyhow::anyhow!(
            "{system}: no write accepted within 120 s of killing leader {leader} in round {round}"
        )
    })?;
    let took = killed.elapsed().as_secs_f64() * 1000.0;
    eprintln!(
        "peer: {system} failover round {round}: leader {leader} killed, write accepted after {took:.0} ms"
    );

    cluster.managers[li].start().await?;
    let restarted = cluster.managers[li].socket().to_path_buf();
    wait_for(Duration::from_secs(120), || {
        let (restarted, id, key) = (&restarted, &survivor_id, &key);
        async move {
            let (_, spec) = Conn::new(restarted).node(id).await.ok()?;
            spec.pointer(&format!("/Labels/{key}")).map(|_| ())
        }
    })
    .await
    .ok_or_else(|| {
        anyhow::anyhow!("{system}: restarted {leader} did not catch up within 120 s in round {round}")
    })?;
    Ok(took)
}
