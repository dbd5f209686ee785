//! `shoal swarm …` and `shoal node …` end to end.

use super::common::{DOWN_ID, MANAGER_ID, WORKER_ID, WORKER_TOKEN};
use super::serve;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shoal_cli_drives_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let (shoal, backend, stop) = serve(dir.path());

    let ls = shoal.ok(&["node", "ls"]).await.stdout;
    let lines: Vec<&str> = ls.lines().collect();
    assert_eq!(
        lines[0],
        "ID                            HOSTNAME   STATUS    AVAILABILITY   MANAGER STATUS   ENGINE VERSION"
    );
    assert_eq!(
        lines[1],
        format!("{MANAGER_ID} *   alpha      Ready     Active         Leader           0.1.0")
    );
    assert_eq!(lines.len(), 4);
    let quiet = shoal
        .ok(&["node", "ls", "-q", "--filter", "role=worker"])
        .await
        .stdout;
    assert_eq!(quiet, format!("{WORKER_ID}\n{DOWN_ID}\n"));
    let json = shoal.ok(&["node", "ls", "--format", "json"]).await.stdout;
    let first: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    assert_eq!(
        (first["Self"].as_bool(), first["TLSStatus"].as_str()),
        (Some(true), Some("Ready"))
    );

    // The -H given wins.
    let elsewhere = shoal
        .run(&["node", "ls", "-H", "unix:///nonexistent/shoal.sock"])
        .await;
    assert!(
        !elsewhere.ok && elsewhere.stderr.contains("cannot connect"),
        "{}",
        elsewhere.stderr
    );

    let inspect = shoal.ok(&["node", "inspect", "alpha"]).await.stdout;
    let nodes: serde_json::Value = serde_json::from_str(&inspect).unwrap();
    assert_eq!(nodes[0]["ID"], MANAGER_ID);
    assert!(inspect.starts_with("[\n    {\n        \"ID\""), "{inspect}");
    let pretty = shoal
        .ok(&["node", "inspect", "--format", "pretty", "self"])
        .await
        .stdout;
    assert!(
        pretty.starts_with(&format!("ID:\t\t\t{MANAGER_ID}\nHostname:")),
        "{pretty}"
    );
    let missing = shoal.run(&["node", "inspect", "nope"]).await;
    assert!(!missing.ok && missing.stderr.contains("node nope not found"));

    assert_eq!(
        shoal.ok(&["swarm", "join-token", "-q", "worker"]).await.stdout,
        format!("{WORKER_TOKEN}\n")
    );
    let full = shoal.ok(&["swarm", "join-token", "worker"]).await.stdout;
    assert_eq!(
        full,
        format!(
            "To add a worker to this swarm, run the following command:\n\n    shoal swarm join --token {WORKER_TOKEN} 10.0.0.1:2377\n\n"
        )
    );
    let rotated = shoal
        .ok(&["swarm", "join-token", "--rotate", "-q", "worker"])
        .await
        .stdout;
    assert_ne!(rotated.trim(), WORKER_TOKEN);

    let update = shoal
        .ok(&[
            "node",
            "update",
            "--label-add",
            "zone=a",
            "--availability",
            "drain",
            "beta",
        ])
        .await;
    assert_eq!(update.stdout, "beta\n");
    let stored = backend.stored_node(WORKER_ID);
    assert_eq!(stored.spec.labels.get("zone").map(String::as_str), Some("a"));
    assert_eq!(stored.spec.availability, types::Availability::Drain);
    let no_key = shoal
        .run(&["node", "update", "--label-rm", "nokey", "beta"])
        .await;
    assert!(!no_key.ok && no_key.stderr.contains("key nokey doesn't exist in node's labels"));

    let promote = shoal.ok(&["node", "promote", WORKER_ID]).await;
    assert_eq!(
        promote.stdout,
        format!("Node {WORKER_ID} promoted to a manager in the swarm.\n")
    );
    assert!(
        promote.stderr.contains("WARNING: the swarm now has 2 managers."),
        "{}",
        promote.stderr
    );
    let again = shoal.ok(&["node", "promote", WORKER_ID]).await;
    assert_eq!(again.stdout, format!("Node {WORKER_ID} is already a manager.\n"));
    let demote = shoal.ok(&["node", "demote", WORKER_ID]).await;
    assert_eq!(
        demote.stdout,
        format!("Manager {WORKER_ID} demoted in the swarm.\n")
    );
    assert!(!demote.stderr.contains("WARNING"), "{}", demote.stderr);

    let rm = shoal.run(&["node", "rm", DOWN_ID, MANAGER_ID]).await;
    assert!(!rm.ok);
    assert_eq!(rm.stdout, format!("{DOWN_ID}\n"));
    assert!(rm.stderr.contains("must be demoted"), "{}", rm.stderr);

    let update = shoal
        .ok(&[
            "swarm",
            "update",
            "--snapshot-interval",
            "500",
            "--cert-expiry",
            "48h",
        ])
        .await;
    assert_eq!(update.stdout, "Swarm updated.\n");
    let cluster = backend.stored_cluster();
    assert_eq!(cluster.spec.raft.snapshot_interval, 500);
    assert_eq!(cluster.spec.node_cert_expiry, 48 * 3_600_000_000_000);

    let init = shoal
        .ok(&[
            "swarm",
            "init",
            "--advertise-addr",
            "10.0.0.1",
            "--dispatcher-heartbeat",
            "5s",
        ])
        .await;
    assert!(init.stdout.starts_with(&format!(
        "Swarm initialized: current node ({MANAGER_ID}) is now a manager.\n\n"
    )));
    assert!(
        init.stdout
            .contains("To add a manager to this swarm, run 'shoal swarm join-token manager'")
    );
    let join = shoal
        .ok(&["swarm", "join", "--token", WORKER_TOKEN, "10.0.0.1:2377"])
        .await;
    assert_eq!(join.stdout, "This node joined a swarm as a manager.\n");
    let bad = shoal
        .run(&[
            "swarm",
            "join",
            "--token",
            "t",
            "--availability",
            "asleep",
            "10.0.0.1",
        ])
        .await;
    assert!(!bad.ok && bad.stderr.contains("invalid availability"));
    assert_eq!(
        shoal.ok(&["swarm", "leave", "--force"]).await.stdout,
        "Node left the swarm.\n"
    );

    let _ = stop.send(());
}
