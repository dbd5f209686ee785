//! Acceptance: the stock `docker` CLI's swarm, node and info commands against our router on
//! a unix socket, over the fake backend.

#![allow(clippy::unwrap_used)]

mod common;
mod support;

use common::{CLUSTER_ID, DOWN_ID, FakeBackend, MANAGER_ID, MANAGER_TOKEN, WORKER_ID, WORKER_TOKEN};
use support::{Cli, cli};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_cli_drives_the_api() {
    let backend = FakeBackend::new();
    let Some(Cli {
        docker,
        stop,
        dir: _dir,
    }) = cli(&backend)
    else {
        return;
    };

    // docker info: the Swarm section of a manager, without errors.
    let info = docker.run(&["info"]).await;
    assert!(info.ok, "{}{}", info.stdout, info.stderr);
    assert!(!info.stderr.contains("ERROR"), "{}", info.stderr);
    for line in [
        " Swarm: active",
        &format!("  NodeID: {MANAGER_ID}"),
        "  Is Manager: true",
        &format!("  ClusterID: {CLUSTER_ID}"),
        "  Managers: 1",
        "  Nodes: 3",
        "   Snapshot Interval: 10000",
        "  Node Address: 10.0.0.1",
        " Name: alpha",
        " OSType: linux",
    ] {
        assert!(
            info.stdout.lines().any(|l| l == line),
            "missing {line:?} in docker info:\n{}",
            info.stdout
        );
    }
    assert!(
        info.stdout.lines().any(|l| l == "   10.0.0.1:2377"),
        "{}",
        info.stdout
    );

    // docker version: our API range, no negotiation failure.
    let version = docker
        .ok(&[
            "version",
            "--format",
            "{{.Server.APIVersion}} {{.Server.MinAPIVersion}}",
        ])
        .await;
    assert_eq!(version.trim(), "1.47 1.24");

    // docker node ls: the leader row carries `*` (this node) and `Leader`.
    let ls = docker.ok(&["node", "ls"]).await;
    let mut lines = ls.lines();
    let header = lines.next().unwrap();
    for column in [
        "ID",
        "HOSTNAME",
        "STATUS",
        "AVAILABILITY",
        "MANAGER STATUS",
        "ENGINE VERSION",
    ] {
        assert!(header.contains(column), "{header}");
    }
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 3, "{ls}");
    let leader = rows.iter().find(|r| r.starts_with(MANAGER_ID)).unwrap();
    assert!(leader.starts_with(&format!("{MANAGER_ID} *")), "{leader}");
    for word in ["alpha", "Ready", "Active", "Leader", "0.1.0"] {
        assert!(leader.contains(word), "{leader}");
    }
    let down = rows.iter().find(|r| r.starts_with(DOWN_ID)).unwrap();
    assert!(down.contains("Down") && !down.contains('*'), "{down}");
    let quiet = docker.ok(&["node", "ls", "-q", "--filter", "role=manager"]).await;
    assert_eq!(quiet.trim(), MANAGER_ID);

    // docker node inspect: a JSON array holding the node.
    let inspect = docker.ok(&["node", "inspect", MANAGER_ID]).await;
    let nodes: serde_json::Value = serde_json::from_str(&inspect).unwrap();
    assert_eq!(nodes[0]["ID"], MANAGER_ID);
    assert_eq!(nodes[0]["ManagerStatus"]["Leader"], true);
    let pretty = docker.ok(&["node", "inspect", "--pretty", "self"]).await;
    assert!(
        pretty.contains("Hostname:") && pretty.contains("alpha"),
        "{pretty}"
    );
    let missing = docker.run(&["node", "inspect", "nosuchnode"]).await;
    assert!(
        !missing.ok && missing.stderr.contains("node nosuchnode not found"),
        "{}",
        missing.stderr
    );

    // docker swarm join-token: the tokens, quiet and in full.
    assert_eq!(
        docker.ok(&["swarm", "join-token", "-q", "worker"]).await,
        format!("{WORKER_TOKEN}\n")
    );
    let full = docker.ok(&["swarm", "join-token", "manager"]).await;
    assert!(
        full.contains(&format!(
            "    docker swarm join --token {MANAGER_TOKEN} 10.0.0.1:2377"
        )),
        "{full}"
    );

    // docker node update: label added through a version-checked update.
    assert_eq!(
        docker
            .ok(&["node", "update", "--label-add", "a=b", WORKER_ID])
            .await
            .trim(),
        WORKER_ID
    );
    assert_eq!(
        backend
            .stored_node(WORKER_ID)
            .spec
            .labels
            .get("a")
            .map(String::as_str),
        Some("b")
    );

    // docker node promote: the worker becomes a manager.
    let promote = docker.ok(&["node", "promote", WORKER_ID]).await;
    assert_eq!(
        promote.trim(),
        format!("Node {WORKER_ID} promoted to a manager in the swarm.")
    );
    assert_eq!(backend.stored_node(WORKER_ID).spec.role, types::Role::Manager);

    // docker node rm: a down worker goes; a manager is refused with the daemon's reason.
    assert_eq!(docker.ok(&["node", "rm", DOWN_ID]).await.trim(), DOWN_ID);
    let refused = docker.run(&["node", "rm", MANAGER_ID]).await;
    assert!(
        !refused.ok && refused.stderr.contains("must be demoted"),
        "{}",
        refused.stderr
    );

    // docker swarm update: spec round trip through inspect and update.
    assert_eq!(
        docker
            .ok(&["swarm", "update", "--snapshot-interval", "5000"])
            .await
            .trim(),
        "Swarm updated."
    );
    assert_eq!(backend.stored_cluster().spec.raft.snapshot_interval, 5000);
    assert_eq!(backend.stored_cluster().spec.task_history_retention_limit, 5);

    // docker swarm init / join / leave: bodies the CLI builds decode and reach the backend.
    let init = docker
        .ok(&[
            "swarm",
            "init",
            "--advertise-addr",
            "10.0.0.1",
            "--task-history-limit",
            "3",
        ])
        .await;
    assert!(
        init.starts_with(&format!(
            "Swarm initialized: current node ({MANAGER_ID}) is now a manager."
        )),
        "{init}"
    );
    let join = docker
        .ok(&["swarm", "join", "--token", WORKER_TOKEN, "10.0.0.9:2377"])
        .await;
    assert_eq!(join.trim(), "This node joined a swarm as a manager.");
    assert_eq!(
        docker.ok(&["swarm", "leave", "--force"]).await.trim(),
        "Node left the swarm."
    );

    // A node outside any swarm: docker info still prints its (short) Swarm section.
    let mut status = backend.status();
    status.state = api::LocalNodeState::Inactive;
    status.node_id.clear();
    status.control_available = false;
    status.remote_managers.clear();
    backend.set_status(status);
    let info = docker.ok(&["info"]).await;
    assert!(info.lines().any(|l| l == " Swarm: inactive"), "{info}");

    let _ = stop.send(());
}
