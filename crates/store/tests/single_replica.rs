//! A one-member Raft group on disk: writes commit, survive a restart, and snapshots compact.

#![allow(clippy::unwrap_used)]

use std::future::Future;

use store::consensus::wire::*;
use store::consensus::{Consensus, Peer, Snapshot, TypeConfig, Vote};
use store::crypto::DataKey;
use store::{Op, Txn, TxnError};
use types::cluster::RaftSettings;
use types::{Kind, Object, Timestamp};

/// A network for a group of one: every call fails, and none is ever made.
struct Nowhere;

impl store::consensus::RaftNetworkFactory<TypeConfig> for Nowhere {
    type Network = Nowhere;
    async fn new_client(&mut self, _target: u64, _node: &Peer) -> Nowhere {
        Nowhere
    }
}

fn unreachable() -> RPCError<TypeConfig> {
    RPCError::Unreachable(Unreachable::from_string("no network in this test"))
}

impl RaftNetworkV2<TypeConfig> for Nowhere {
    type SnapshotData = Vec<u8>;
    async fn append_entries(
        &mut self,
        _rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<TypeConfig>, RPCError<TypeConfig>> {
        Err(unreachable())
    }
    async fn vote(
        &mut self,
        _rpc: VoteRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<VoteResponse<TypeConfig>, RPCError<TypeConfig>> {
        Err(unreachable())
    }
    async fn full_snapshot(
        &mut self,
        _vote: Vote,
        _snapshot: Snapshot,
        _cancel: impl Future<Output = ReplicationClosed> + Send + 'static,
        _option: RPCOption,
    ) -> Result<SnapshotResponse<TypeConfig>, StreamingError<TypeConfig>> {
        Err(StreamingError::Unreachable(Unreachable::from_string(
            "no network in this test",
        )))
    }
}

fn node(id: &str, hostname: &str) -> Object {
    Object::Node(
        types::testing::node(id)
            .hostname(hostname)
            .state(types::NodeState::Unknown)
            .build(),
    )
}

async fn wait_leader(c: &Consensus) {
    c.wait_for(|m| m.current_leader == Some(m.id)).await.unwrap();
}

#[tokio::test]
async fn writes_survive_restart_and_snapshots_compact_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let settings = RaftSettings {
        snapshot_interval: 10,
        log_entries_for_slow_followers: 2,
        ..Default::default()
    };
    let me = Peer {
        addr: "127.0.0.1:1".into(),
        node_id: "n1".into(),
    };
    let key = DataKey::generate().unwrap();
    {
        let c = Consensus::open(dir.path(), 1, &settings, Nowhere, key.clone())
            .await
            .unwrap();
        c.bootstrap(me.clone()).await.unwrap();
        wait_leader(&c).await;
        for i in 0..25 {
            let txn = Txn {
                id: 0,
                ops: vec![Op::Create(node(&format!("n{i:02}"), "h"))],
                now: Timestamp(i),
            };
            c.write(txn).await.unwrap();
            c.snapshot_if_due(settings.snapshot_interval).await.unwrap();
        }
        // A refused write reports why and stores nothing.
        let dup = Txn {
            id: 0,
            ops: vec![Op::Create(node("n03", "other"))],
            now: Timestamp(99),
        };
        match c.write(dup).await {
            Err(store::Error::Txn(TxnError::Exists { kind: Kind::Node, .. })) => {}
            other => panic!("expected exists, got {other:?}"),
        }
        assert_eq!(c.store().view().node("n03").unwrap().description.hostname, "h");
        c.wait_for(|m| m.snapshot.is_some()).await.unwrap();
        c.shutdown().await;
    }
    let c = Consensus::open(dir.path(), 1, &settings, Nowhere, key)
        .await
        .unwrap();
    wait_leader(&c).await;
    // Everything acknowledged before the restart is there, from snapshot plus log replay.
    let target = c.metrics().local_committed.map(|l| l.index).unwrap_or(0);
    c.wait_for(|m| m.last_applied.as_ref().map(|l| l.index).unwrap_or(0) >= target)
        .await
        .unwrap();
    let view = c.store().view();
    assert_eq!(view.node_count(), 25);
    assert!(view.node("n24").is_some());
    c.write(Txn {
        id: 0,
        ops: vec![Op::Create(node("after", "h"))],
        now: Timestamp(100),
    })
    .await
    .unwrap();
    c.shutdown().await;
}

#[tokio::test]
async fn a_foreign_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("raft.redb"), b"not a database").unwrap();
    let err = Consensus::open(
        dir.path(),
        1,
        &RaftSettings::default(),
        Nowhere,
        DataKey::generate().unwrap(),
    )
    .await
    .err()
    .expect("must refuse");
    assert!(matches!(err, store::Error::Corrupt { .. }), "{err}");
}
