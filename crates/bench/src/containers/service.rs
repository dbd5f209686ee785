//! The service calls the replica and memory benchmarks make, the same requests to shoal and
//! to Docker Swarm through the peer harness's API client.

use std::path::Path;
use std::time::{Duration, Instant};

use http::Method;
use serde_json::{Value, json};

use crate::peer::api::Conn;

/// How often the task list is read while waiting.
const POLL: Duration = Duration::from_millis(50);

/// `POST /services/create`: `replicas` × `/bin/sleep 3600` of `bb:1`, stopped by SIGKILL
/// (sleep as PID 1 ignores SIGTERM; stopping is not measured). Returns the service ID.
pub async fn create(socket: &Path, name: &str, replicas: u64) -> anyhow::Result<String> {
    let spec = json!({
        "Name": name,
        "TaskTemplate": {
            "ContainerSpec": {
                "Image": "bb:1",
                "Command": ["/bin/sleep", "3600"],
                "StopSignal": "SIGKILL"
            },
            "RestartPolicy": {"Condition": "none"}
        },
        "Mode": {"Replicated": {"Replicas": replicas}}
    });
    let out = Conn::new(socket)
        .call(Method::POST, "/services/create", Some(&spec))
        .await?;
    out.get("ID")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| anyhow::anyhow!("service create answered without an ID: {out}"))
}

/// `POST /services/{id}/update` with only the replica count changed.
pub async fn scale(socket: &Path, id: &str, replicas: u64) -> anyhow::Result<()> {
    let mut conn = Conn::new(socket);
    let service = conn.call(Method::GET, &format!("/services/{id}"), None).await?;
    let version = service
        .pointer("/Version/Index")
        .and_then(Value::as_u64)
        .ok_or_else(|| anyhow::anyhow!("service {id} has no version"))?;
    let mut spec = service.get("Spec").cloned().unwrap_or(Value::Null);
    spec["Mode"] = json!({"Replicated": {"Replicas": replicas}});
    conn.call(
        Method::POST,
        &format!("/services/{id}/update?version={version}"),
        Some(&spec),
    )
    .await?;
    Ok(())
}

/// The service's tasks: (desired state, observed state, error), via `GET /tasks?filters=`.
pub async fn tasks(conn: &mut Conn, id: &str) -> anyhow::Result<Vec<(String, String, String)>> {
    let filters = super::encode(&json!({"service": [id]}).to_string());
    let out = conn
        .call(Method::GET, &format!("/tasks?filters={filters}"), None)
        .await?;
    let list = out.as_array().cloned().unwrap_or_default();
    let s = |t: &Value, p: &str| {
        t.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    Ok(list
        .iter()
        .map(|t| (s(t, "/DesiredState"), s(t, "/Status/State"), s(t, "/Status/Err")))
        .collect())
}

/// Waits until `want` tasks of the service run; fails after `limit` (naming a task error,
/// if any) or at the first failed or rejected task.
pub async fn wait_running(socket: &Path, id: &str, want: usize, limit: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + limit;
    let mut conn = Conn::new(socket);
    loop {
        let list = tasks(&mut conn, id).await?;
        let running = list.iter().filter(|(_, s, _)| s == "running").count();
        if running >= want {
            return Ok(());
        }
        if let Some((_, state, err)) = list.iter().find(|(_, s, _)| s == "failed" || s == "rejected") {
            anyhow::bail!("a task of service {id} is {state}: {err}");
        }
        if Instant::now() >= deadline {
            let err = list
                .iter()
                .map(|(_, _, e)| e.as_str())
                .find(|e| !e.is_empty())
                .unwrap_or("");
            anyhow::bail!("{running} of {want} tasks running after {limit:?} {err}");
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Removes the service and waits (up to `limit`) until none of its tasks is left, so its
/// containers are gone before the next measurement. Returns whether they all went.
pub async fn remove(socket: &Path, id: &str, limit: Duration) -> anyhow::Result<bool> {
    let mut conn = Conn::new(socket);
    conn.call(Method::DELETE, &format!("/services/{id}"), None)
        .await?;
    let deadline = Instant::now() + limit;
    loop {
        let list = tasks(&mut conn, id).await.unwrap_or_default();
        if list.is_empty() {
            return Ok(true);
        }
        if Instant::now() >= deadline {
            return Ok(false);
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Node states of the cluster `socket` belongs to: (hostname, state).
pub async fn nodes(socket: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let list = Conn::new(socket).nodes().await?;
    Ok(list
        .iter()
        .map(|n| (crate::peer::api::hostname(n), crate::peer::api::node_state(n)))
        .collect())
}

/// Where one node's containers are listed, to wait until its executor has removed them all
/// (and with them their cgroups and mounts) before its daemon is killed.
pub enum Containers {
    /// A dockerd's API socket: `GET /containers/json?all=1`.
    Dockerd(std::path::PathBuf),
    /// An oci agent's task directories (`<data-dir>/containers`).
    Shoal(std::path::PathBuf),
}

impl Containers {
    async fn empty(&self) -> bool {
        match self {
            Containers::Dockerd(socket) => Conn::new(socket)
                .call(Method::GET, "/containers/json?all=1", None)
                .await
                .ok()
                .and_then(|v| v.as_array().map(Vec::is_empty))
                .unwrap_or(false),
            Containers::Shoal(dir) => std::fs::read_dir(dir).map_or(true, |mut d| d.next().is_none()),
        }
    }
}

/// Waits up to `limit` until every node's containers are gone; returns whether they went.
pub async fn drained(nodes: &[Containers], limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        let mut all = true;
        for n in nodes {
            all &= n.empty().await;
        }
        if all {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(POLL).await;
    }
}
