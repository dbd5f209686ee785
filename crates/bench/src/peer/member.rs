//! A cluster member is a daemon in one of the topology's namespaces that speaks the Docker API
//! on a unix socket: a dockerd or a `shoal agent`. The cluster is formed the same way for both,
//! with the stock docker CLI:
//!
//! ```text
//!   m1: docker swarm init --advertise-addr 10.77.0.1 --listen-addr 10.77.0.1:2377
//!   m2, m3: docker swarm join --token <manager> 10.77.0.1:2377   (each on its own address)
//!   w (10.77.0.4), N times: docker swarm join --token <worker> …; docker swarm leave
//!        → N worker nodes that stay in the node list, down: one per benchmark client
//! ```

use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use super::api::{self, Conn};

/// A daemon that serves the Docker API and can be killed and started again.
pub trait Member {
    /// Host name the cluster reports for it.
    fn hostname(&self) -> &str;
    /// Its Docker API socket.
    fn socket(&self) -> &Path;
    /// Starts (or restarts) it; returns once its API answers.
    fn start(&mut self) -> impl std::future::Future<Output = anyhow::Result<()>>;
    /// `kill -9` (and reaps) it; nothing else is told.
    fn kill9(&mut self);
}

/// Waits until `socket` answers `GET /_ping`; says why not if `child` exits or `limit` passes.
pub async fn wait_api(socket: &Path, child: &mut Child, limit: Duration) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    loop {
        if Conn::new(socket)
            .call(http::Method::GET, "/_ping", None)
            .await
            .is_ok()
        {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "exited ({status}) before answering on {}",
                socket.display()
            ));
        }
        if Instant::now() >= deadline {
            return Err(format!("did not answer on {} within {limit:?}", socket.display()));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Polls `check` every 20 ms until it yields, or gives up after `limit`.
pub async fn wait_for<T, F, Fut>(limit: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Three managers and a worker daemon, formed into one cluster.
pub struct Cluster<M: Member> {
    /// The managers, `m1` (which initialised the cluster) first.
    pub managers: Vec<M>,
    /// IDs of the down worker nodes the write benchmark updates, one per client.
    pub bench_nodes: Vec<String>,
    /// Manager host name → node ID.
    pub manager_ids: Vec<(String, String)>,
}

/// Runs the docker CLI against `socket`, failing with its stderr. Async, and killed if the
/// run is dropped, so Ctrl-C is not held up behind a `swarm join`.
pub async fn docker(cli: &Path, socket: &Path, args: &[&str]) -> anyhow::Result<String> {
    let out = tokio::process::Command::new(cli)
        .arg("-H")
        .arg(format!("unix://{}", socket.display()))
        .args(args)
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| anyhow::anyhow!("{}: {e}", cli.display()))?;
    anyhow::ensure!(
        out.status.success(),
        "docker {} (on {}) failed ({}): {}",
        args.join(" "),
        socket.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

impl<M: Member> Cluster<M> {
    /// Forms the cluster: `managers[i]` on `addrs[i]`, the worker on `worker_addr` joining and
    /// leaving `bench_nodes` times. Every daemon must already be started.
    pub async fn form(
        cli: &Path,
        managers: Vec<M>,
        addrs: &[String],
        mut worker: M,
        worker_addr: &str,
        bench_nodes: usize,
    ) -> anyhow::Result<Cluster<M>> {
        let first = managers[0].socket().to_path_buf();
        let listen = |a: &str| format!("{a}:2377");
        docker(
            cli,
            &first,
            &[
                "swarm",
                "init",
                "--advertise-addr",
                &addrs[0],
                "--listen-addr",
                &listen(&addrs[0]),
            ],
        )
        .await?;
        let manager_token = docker(cli, &first, &["swarm", "join-token", "-q", "manager"])
            .await?
            .trim()
            .to_string();
        for (m, a) in managers.iter().zip(addrs).skip(1) {
            docker(
                cli,
                m.socket(),
                &[
                    "swarm",
                    "join",
                    "--token",
                    &manager_token,
                    "--advertise-addr",
                    a,
                    "--listen-addr",
                    &listen(a),
                    &listen(&addrs[0]),
                ],
            )
            .await?;
        }
        let worker_token = docker(cli, &first, &["swarm", "join-token", "-q", "worker"])
            .await?
            .trim()
            .to_string();
        for _ in 0..bench_nodes {
            docker(
                cli,
                worker.socket(),
                &[
                    "swarm",
                    "join",
                    "--token",
                    &worker_token,
                    "--advertise-addr",
                    worker_addr,
                    "--listen-addr",
                    &listen(worker_addr),
                    &listen(&addrs[0]),
                ],
            )
            .await?;
            docker(cli, worker.socket(), &["swarm", "leave"]).await?;
        }
        worker.kill9();

        // The worker nodes must be down before measuring, so that no status write of the
        // leader's own falls into the benchmark; Swarm notices after its heartbeat period.
        let worker_name = worker.hostname().to_string();
        let bench = wait_for(Duration::from_secs(120), || {
            let (first, worker_name) = (&first, &worker_name);
            async move {
                let nodes = Conn::new(first).nodes().await.ok()?;
                let workers: Vec<_> = nodes
                    .iter()
                    .filter(|n| api::hostname(n) == *worker_name)
                    .collect();
                (workers.len() == bench_nodes && workers.iter().all(|n| api::node_state(n) == "down"))
                    .then(|| workers.iter().map(|n| api::node_id(n)).collect::<Vec<_>>())
            }
        })
        .await
        .ok_or_else(|| {
            anyhow::anyhow!("the {bench_nodes} worker nodes did not all show up down within 120 s")
        })?;
        let nodes = Conn::new(&first).nodes().await?;
        let manager_ids = managers
            .iter()
            .map(|m| {
                let id = nodes
                    .iter()
                    .find(|n| api::hostname(n) == m.hostname())
                    .map(api::node_id);
                id.map(|id| (m.hostname().to_string(), id))
                    .ok_or_else(|| anyhow::anyhow!("manager {} not in the node list", m.hostname()))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let cluster = Cluster {
            managers,
            bench_nodes: bench,
            manager_ids,
        };
        cluster.settled(Duration::from_secs(60)).await?;
        Ok(cluster)
    }

    /// The managers' API sockets.
    pub fn sockets(&self) -> Vec<PathBuf> {
        self.managers.iter().map(|m| m.socket().to_path_buf()).collect()
    }

    /// Node ID of manager `i`.
    pub fn manager_id(&self, i: usize) -> &str {
        &self.manager_ids[i].1
    }

    /// Waits until every manager names the same leader and sees every manager reachable;
    /// returns the leader's index.
    pub async fn settled(&self, limit: Duration) -> anyhow::Result<usize> {
        let sockets: Vec<PathBuf> = self.managers.iter().map(|m| m.socket().to_path_buf()).collect();
        let leader = wait_for(limit, || {
            let sockets = &sockets;
            async move {
                let mut agreed: Option<String> = None;
                for s in sockets {
                    let mut c = Conn::new(s);
                    let nodes = c.nodes().await.ok()?;
                    let managers: Vec<_> = nodes
                        .iter()
                        .filter(|n| n.get("ManagerStatus").is_some_and(|m| !m.is_null()))
                        .collect();
                    let reachable = managers
                        .iter()
                        .filter(|n| {
                            n.pointer("/ManagerStatus/Reachability").and_then(|r| r.as_str())
                                == Some("reachable")
                        })
                        .count();
                    if managers.len() != sockets.len() || reachable != sockets.len() {
                        return None;
                    }
                    let leader = c.leader().await?;
                    if agreed.get_or_insert_with(|| leader.clone()) != &leader {
                        return None;
                    }
                }
                agreed
            }
        })
        .await
        .ok_or_else(|| {
            anyhow::anyhow!("managers did not agree on a leader with all managers reachable within {limit:?}")
        })?;
        self.managers
            .iter()
            .position(|m| m.hostname() == leader)
            .ok_or_else(|| anyhow::anyhow!("leader {leader} is not a manager"))
    }
}
