//! Managers in one process over real mutual TLS: who may call what, and a new manager that
//! can only catch up by a snapshot larger than gRPC's 4 MiB message limit.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use manager::testing::{LocalCluster, WallClock, node};
use rpc::Pool;
use rpc::calls::{AppendEntries, GetRootCa, Heartbeat, Propose};
use rpc::pb::Msg;
use store::Op;
use types::cluster::RaftSettings;
use types::{Object, Role};

fn pool_for(cluster: &LocalCluster, node_id: &str, role: Role) -> Pool {
    let (cert, key) = cluster.issue(node_id, role).unwrap();
    Pool::new(ca::tls::client_config(&cert, &key, cluster.root.cert_pem()).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_certificate_cannot_make_manager_calls() {
    let cluster = LocalCluster::start(1).await.unwrap();
    let leader = &cluster.managers[0];
    leader
        .propose(vec![Op::Create(Object::Node(node("w1", Role::Worker)))])
        .await
        .unwrap();
    let worker = pool_for(&cluster, "w1", Role::Worker);
    let txn = store::Txn {
        id: 0,
        ops: vec![],
        now: types::Timestamp(0),
    };
    let denied = worker.call::<Propose>(&cluster.addr, &txn).await.unwrap_err();
    assert_eq!(denied.code(), tonic::Code::PermissionDenied, "{denied}");
    let denied = worker
        .call_raw::<AppendEntries>(&cluster.addr, Msg::default())
        .await
        .unwrap_err();
    assert_eq!(denied.code(), tonic::Code::PermissionDenied, "{denied}");
    // A worker may heartbeat.
    worker
        .call::<Heartbeat>(
            &cluster.addr,
            &rpc::messages::HeartbeatRequest { tunnel_key: None },
        )
        .await
        .unwrap();
    // Without any certificate only the joining calls answer.
    let anonymous = Pool::new(ca::tls::anonymous_client_config(cluster.root.cert_pem()).unwrap());
    let denied = anonymous.call::<Propose>(&cluster.addr, &txn).await.unwrap_err();
    assert_eq!(denied.code(), tonic::Code::Unauthenticated, "{denied}");
    anonymous.call::<GetRootCa>(&cluster.addr, &()).await.unwrap();
    // A certificate from another CA does not even complete the handshake.
    let other = LocalCluster::start(1).await.unwrap();
    let stranger = pool_for(&other, "x", Role::Manager);
    let err = stranger.call::<Propose>(&cluster.addr, &txn).await.unwrap_err();
    assert_ne!(err.code(), tonic::Code::Ok);
    cluster.stop().await;
    other.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_manager_catches_up_from_a_chunked_snapshot_over_4_mib() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("SHOAL_LOG"))
        .with_test_writer()
        .try_init();
    let settings = RaftSettings {
        snapshot_interval: 10,
        log_entries_for_slow_followers: 0,
        ..Default::default()
    };
    let mut cluster = LocalCluster::start_with(1, settings.clone()).await.unwrap();
    let leader = cluster.managers[0].clone();
    // ~6 MiB of state: 3,000 nodes with a 2 KiB label each, 100 per write.
    let pad = "x".repeat(2048);
    for batch in 0..30 {
        let ops = (0..100)
            .map(|i| {
                let mut n = node(&format!("n{batch:02}{i:03}"), Role::Worker);
                n.spec.labels.insert("pad".into(), pad.clone());
                n.status.state = types::NodeState::Down;
                Op::Create(Object::Node(n))
            })
            .collect();
        leader.propose(ops).await.unwrap();
    }
    // Snapshot everything now and wait until the log before it is gone.
    let last = leader.consensus().applied_index();
    // A trigger that arrives while a snapshot is being built (the interval's own) is dropped,
    // so trigger again until one covers `last`.
    let mut covered = false;
    for _ in 0..30 {
        leader.consensus().raft().trigger().snapshot().await.unwrap();
        let wait = leader.consensus().wait_for(|m| {
            m.snapshot.as_ref().is_some_and(|s| s.index >= last)
                && m.purged.as_ref().is_some_and(|p| p.index >= last)
        });
        if let Ok(done) = tokio::time::timeout(std::time::Duration::from_secs(2), wait).await {
            done.unwrap();
            covered = true;
            break;
        }
    }
    assert!(covered, "no snapshot reached index {last}");
    let snapshot_bytes: usize = leader
        .consensus()
        .raft()
        .get_snapshot()
        .await
        .unwrap()
        .map(|s| s.snapshot.len())
        .unwrap_or(0);
    assert!(
        snapshot_bytes > 4 << 20,
        "snapshot is only {snapshot_bytes} bytes"
    );

    tracing::info!(snapshot_bytes, "starting second manager");
    let joined = cluster
        .start_manager(1, &settings, Arc::new(WallClock), &cluster.managers)
        .await
        .unwrap();
    let want = leader.view().node_count();
    joined
        .consensus()
        .wait_for(|m| m.last_applied.as_ref().is_some_and(|l| l.index >= last))
        .await
        .unwrap();
    assert!(
        joined.consensus().metrics().snapshot.is_some(),
        "caught up by snapshot"
    );
    assert_eq!(joined.view().node_count(), want);
    assert_eq!(
        joined.view().node("n29099").unwrap().spec.labels["pad"].len(),
        2048
    );
    cluster.managers.push(joined);
    cluster.stop().await;
}
