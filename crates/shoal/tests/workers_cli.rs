//! `shoal workers` and `GET /shoal/workers` against real daemons: a manager lists its
//! background loops; a node outside a swarm and a worker are refused with dockerd's 503.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::http::{over_unix, request};
use common::{Agent, eventually, stderr};

/// Status and body of `GET /shoal/workers` on `agent`'s socket.
fn get_workers(agent: &Agent) -> (u16, String) {
    over_unix(
        &agent.sock,
        &request("GET", "/shoal/workers", "localhost", &[], None),
    )
}

#[test]
fn a_manager_lists_its_workers_and_other_nodes_are_refused() {
    let root = tempfile::tempdir().unwrap();
    let m1 = Agent::start(root.path(), "m1");
    let w1 = Agent::start(root.path(), "w1");

    // Outside a swarm: dockerd's 503 for manager calls.
    let (status, body) = get_workers(&m1);
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("This node is not a swarm manager"), "{body}");
    let refused = m1.shoal(&["workers"]);
    assert!(!refused.status.success());
    assert!(stderr(&refused).contains("swarm init"), "{}", stderr(&refused));

    m1.shoal_ok(&[
        "swarm",
        "init",
        "--advertise-addr",
        &m1.addr,
        "--listen-addr",
        &m1.addr,
    ]);
    let token = m1
        .shoal_ok(&["swarm", "join-token", "-q", "worker"])
        .trim()
        .to_string();
    w1.shoal_ok(&[
        "swarm",
        "join",
        "--token",
        &token,
        "--listen-addr",
        &w1.addr,
        &m1.addr,
    ]);

    // The leader's loops run: the control loop has finished passes.
    let table = eventually("the control loop to have run", Duration::from_secs(20), || {
        let out = m1.shoal_ok(&["workers"]);
        let passes = out
            .lines()
            .find(|l| l.starts_with("control-loop "))
            .and_then(|l| l.split_whitespace().nth(2))
            .and_then(|n| n.parse::<u64>().ok())?;
        (passes > 0).then_some(out)
    });
    let header: Vec<&str> = table.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["NAME", "STATE", "ITERATIONS", "ERRORS", "LAST", "ERROR"],
        "{table}"
    );
    for name in [
        "leadership",
        "control-loop",
        "assignment-router",
        "status-batcher",
    ] {
        assert!(
            table.lines().any(|l| l.split_whitespace().next() == Some(name)),
            "{name} missing:\n{table}"
        );
    }
    let (status, body) = get_workers(&m1);
    assert_eq!(status, 200, "{body}");
    let rows: Vec<serde_json::Value> = serde_json::from_str(&body).unwrap();
    let state = |name: &str| {
        rows.iter()
            .find(|r| r["Name"] == name)
            .map(|r| r["State"].as_str().unwrap().to_string())
    };
    let control = state("control-loop").unwrap();
    assert!(["idle", "busy", "error"].contains(&control.as_str()), "{body}");

    // A worker has no manager loops to list.
    let (status, body) = get_workers(&w1);
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("Worker nodes can't be used"), "{body}");
    let refused = w1.shoal(&["workers"]);
    assert!(!refused.status.success());
    assert!(
        stderr(&refused).contains("Worker nodes can't be used"),
        "{}",
        stderr(&refused)
    );
}
