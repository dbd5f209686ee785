//! A shoal (or Swarm) cluster formed on the topology's host namespaces with the stock docker
//! CLI, as an operator would: `swarm init` on the first member, `swarm join` as workers on the
//! others, the busybox image imported everywhere, then every node ready. Shared by the
//! benchmarks that run tasks on several hosts (`replicas`, `mesh`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::service;
use crate::peer::member::{Member, docker, wait_for};

/// Starts `members` (already made), forms one cluster (first = manager), imports the image
/// into each and waits until every node is ready. Returns the manager's socket.
pub async fn form<M: Member>(
    cli: &Path,
    members: &mut [M],
    addrs: &[String],
    tar: &Path,
) -> anyhow::Result<PathBuf> {
    for m in members.iter_mut() {
        m.start().await?;
    }
    let manager = members[0].socket().to_path_buf();
    let listen = |a: &str| format!("{a}:2377");
    docker(
        cli,
        &manager,
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
    let token = docker(cli, &manager, &["swarm", "join-token", "-q", "worker"]).await?;
    for (m, a) in members.iter().zip(addrs).skip(1) {
        docker(
            cli,
            m.socket(),
            &[
                "swarm",
                "join",
                "--token",
                token.trim(),
                "--advertise-addr",
                a,
                "--listen-addr",
                &listen(a),
                &listen(&addrs[0]),
            ],
        )
        .await?;
    }
    for m in members.iter() {
        docker(cli, m.socket(), &["import", &tar.to_string_lossy(), "bb:1"]).await?;
    }
    let n = members.len();
    wait_for(Duration::from_secs(120), || {
        let manager = &manager;
        async move {
            let nodes = service::nodes(manager).await.ok()?;
            (nodes.len() == n && nodes.iter().all(|(_, s)| s == "ready")).then_some(())
        }
    })
    .await
    .ok_or_else(|| anyhow::anyhow!("the {n} nodes were not all ready within 120 s"))?;
    Ok(manager)
}
