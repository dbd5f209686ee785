//! Issue 2 acceptance with our own CLI (for machines without docker): the same cluster of
//! 3 managers + 2 workers formed and operated with `shoal swarm …` and `shoal node …`.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{Agent, eventually, stderr, stdout};

fn node_json(agent: &Agent) -> Vec<serde_json::Value> {
    let out = agent.shoal_ok(&["node", "ls", "--format", "json"]);
    out.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn field(row: &serde_json::Value, key: &str) -> String {
    row.get(key)
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_string()
}

#[test]
fn our_cli_forms_and_operates_a_cluster() {
    let root = tempfile::tempdir().unwrap();
    let m1 = Agent::start(root.path(), "m1");
    let m2 = Agent::start(root.path(), "m2");
    let m3 = Agent::start(root.path(), "m3");
    let w1 = Agent::start(root.path(), "w1");
    let w2 = Agent::start(root.path(), "w2");

    let init = m1.shoal_ok(&[
        "swarm",
        "init",
        "--advertise-addr",
        &m1.addr,
        "--listen-addr",
        &m1.addr,
    ]);
    assert!(init.contains("Swarm initialized"), "{init}");
    let wt = m1
        .shoal_ok(&["swarm", "join-token", "-q", "worker"])
        .trim()
        .to_string();
    let mt = m1
        .shoal_ok(&["swarm", "join-token", "-q", "manager"])
        .trim()
        .to_string();

    let bad = w1.shoal(&[
        "swarm",
        "join",
        "--token",
        "SWMTKN-1-garbage",
        "--listen-addr",
        &w1.addr,
        &m1.addr,
    ]);
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("invalid join token"), "{}", stderr(&bad));

    for (a, t) in [(&m2, &mt), (&m3, &mt), (&w1, &wt), (&w2, &wt)] {
        a.shoal_ok(&[
            "swarm",
            "join",
            "--token",
            t,
            "--listen-addr",
            &a.addr,
            "--advertise-addr",
            &a.addr,
            &m1.addr,
        ]);
    }
    eventually("5 ready nodes, one leader", Duration::from_secs(15), || {
        let rows = node_json(&m2);
        let leaders = rows
            .iter()
            .filter(|r| field(r, "ManagerStatus") == "Leader")
            .count();
        (rows.len() == 5 && leaders == 1 && rows.iter().all(|r| field(r, "Status") == "Ready")).then_some(())
    });

    m3.shoal_ok(&["node", "promote", "w1"]);
    eventually("w1 manager", Duration::from_secs(15), || {
        node_json(&m1)
            .iter()
            .any(|r| field(r, "Hostname") == "w1" && field(r, "ManagerStatus") == "Reachable")
            .then_some(())
    });
    m1.shoal_ok(&["node", "demote", "w1"]);
    eventually("w1 worker", Duration::from_secs(15), || {
        node_json(&m1)
            .iter()
            .any(|r| field(r, "Hostname") == "w1" && field(r, "ManagerStatus").is_empty())
            .then_some(())
    });

    m2.shoal_ok(&[
        "node",
        "update",
        "--availability",
        "drain",
        "--label-add",
        "type=x",
        "w2",
    ]);
    let inspect = m1.shoal_ok(&["node", "inspect", "w2"]);
    assert!(inspect.contains("\"drain\""), "{inspect}");
    assert!(inspect.contains("\"type\": \"x\""), "{inspect}");

    let rm = m1.shoal(&["node", "rm", "w2"]);
    assert!(
        stderr(&rm).contains("is not down and can't be removed"),
        "{}",
        stderr(&rm)
    );
    m1.shoal_ok(&["node", "rm", "--force", "w2"]);
    assert_eq!(node_json(&m1).len(), 4);

    let leave = m2.shoal(&["swarm", "leave"]);
    assert!(
        stderr(&leave).contains("participating as a manager"),
        "{}",
        stderr(&leave)
    );
    w1.shoal_ok(&["swarm", "leave"]);
    let after = w1.shoal(&["node", "ls"]);
    assert!(!after.status.success());
    assert!(
        stderr(&after).contains("not a swarm manager"),
        "{}",
        stderr(&after)
    );
    let _ = stdout;
}
