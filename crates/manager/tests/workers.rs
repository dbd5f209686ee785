//! The manager's background workers as an operator lists them, across a leadership change in
//! a real three-manager cluster: the leader-only loops run on the leader and stop on the
//! replica that handed leadership over.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use manager::testing::LocalCluster;
use manager::{Manager, WorkerState};

/// Generous for a loaded 2-core machine; a passing run takes well under a second.
const DEADLINE: Duration = Duration::from_secs(20);

fn state(m: &Manager, name: &str) -> Option<WorkerState> {
    m.workers().into_iter().find(|w| w.name == name).map(|w| w.state)
}

fn running(m: &Manager, name: &str) -> bool {
    state(m, name).is_some_and(|s| s != WorkerState::Stopped)
}

/// Polls `ok` until it holds, failing after [`DEADLINE`] with `what`.
async fn until(what: &str, ok: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !ok() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_loops_follow_a_leadership_transfer() {
    let cluster = LocalCluster::start(3).await.unwrap();
    let old = cluster.leader().unwrap().clone();
    let leader_loops = ["control-loop", "assignment-router", "status-batcher"];
    until("the leader runs its loops", || {
        leader_loops.iter().all(|name| running(&old, name))
    })
    .await;
    // Awaited, not asserted once: a replica that led for a moment while the cluster formed
    // marks its leader loops stopped only as they end.
    until("the replicas run their loops and no leader loop", || {
        cluster.managers.iter().filter(|m| !m.is_leader()).all(|m| {
            ["leader-probe", "snapshots", "leadership"]
                .iter()
                .all(|name| running(m, name))
                && !leader_loops.iter().any(|name| running(m, name))
        })
    })
    .await;

    let next = cluster.managers.iter().find(|m| !m.is_leader()).unwrap().clone();
    old.consensus()
        .raft()
        .trigger()
        .transfer_leader(next.consensus().id())
        .await
        .unwrap();
    until("the new leader runs the leader loops", || {
        next.is_leader() && leader_loops.iter().all(|name| running(&next, name))
    })
    .await;
    until("the old leader stopped them", || {
        leader_loops
            .iter()
            .all(|name| state(&old, name) == Some(WorkerState::Stopped))
    })
    .await;
    let leadership = |m: &Manager| {
        m.workers()
            .into_iter()
            .find(|w| w.name == "leadership")
            .unwrap()
            .iterations
    };
    assert!(leadership(&old) >= 2, "became leader, then handed over");
    assert!(leadership(&next) >= 1);
    cluster.stop().await;
}
