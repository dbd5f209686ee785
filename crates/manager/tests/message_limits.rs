//! Bounds on what a caller can make a manager hold, over real mutual TLS against a real
//! manager: a streamed snapshot past the manager's limit or with an oversized chunk is refused
//! and leaves the replica as it was; a dispatcher message past its limit is refused by tonic.

#![allow(clippy::unwrap_used)]

use manager::Manager;
use manager::testing::LocalCluster;
use rpc::Pool;
use rpc::calls::{InstallSnapshot, UpdateTaskStatus};
use rpc::messages::{SNAPSHOT_CHUNK, SnapshotChunk};
use rpc::pb::Msg;
use store::consensus::SnapshotMeta;
use tonic::Code;
use types::Role;
use types::cluster::RaftSettings;

/// The limit the test managers run with: four full chunks.
const LIMIT: u64 = 4 * SNAPSHOT_CHUNK as u64;

fn pool_for(cluster: &LocalCluster, node_id: &str) -> Pool {
    let (cert, key) = cluster.issue(node_id, Role::Manager).unwrap();
    Pool::new(ca::tls::client_config(&cert, &key, cluster.root.cert_pem()).unwrap())
}

fn addr_of(m: &Manager) -> String {
    m.consensus().members()[&m.consensus().id()].addr.clone()
}

/// What an installed snapshot would replace: the replica's current snapshot (meta and bytes)
/// and its vote. (The applied index moves on by itself as the leader's loops write.)
async fn replica_snapshot(m: &Manager) -> (String, Vec<u8>) {
    let snapshot = m.consensus().raft().get_snapshot().await.unwrap().unwrap();
    let vote = m.consensus().metrics().vote;
    (format!("{:?}; vote {vote:?}", snapshot.meta), snapshot.snapshot)
}

/// Chunks of `sizes` bytes each, the first with a header (the replica's own vote, an empty
/// meta: it is never looked at when the stream is refused).
fn chunks(m: &Manager, sizes: &[usize]) -> Vec<SnapshotChunk> {
    let mut header = Some((m.consensus().metrics().vote, SnapshotMeta::default()));
    sizes
        .iter()
        .map(|&n| SnapshotChunk {
            header: header.take(),
            data: vec![0x5a; n],
        })
        .collect()
}

async fn install(pool: &Pool, addr: &str, chunks: Vec<SnapshotChunk>) -> tonic::Status {
    match pool
        .send_stream::<InstallSnapshot, _>(addr, futures::stream::iter(chunks), None)
        .await
    {
        Ok(reply) => panic!("snapshot stream accepted: {reply:?}"),
        Err(status) => status,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_snapshot_streams_are_refused_and_change_nothing() {
    let cluster = LocalCluster::start_limited(1, RaftSettings::default(), LIMIT)
        .await
        .unwrap();
    let m = cluster.managers[0].clone();
    m.consensus().raft().trigger().snapshot().await.unwrap();
    m.consensus()
        .wait_for(|metrics| metrics.snapshot.is_some())
        .await
        .unwrap();
    let before = replica_snapshot(&m).await;
    let applied_before = m.consensus().applied_index();
    let addr = addr_of(&m);
    let pool = pool_for(&cluster, "manager0");

    // One byte past the total, in chunks of the sender's size.
    let full = SNAPSHOT_CHUNK;
    let status = install(&pool, &addr, chunks(&m, &[full, full, full, full, 1])).await;
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert!(status.message().contains("snapshot larger"), "{status:?}");

    // One chunk longer than any sender makes, though under the total.
    let status = install(&pool, &addr, chunks(&m, &[full + 1])).await;
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("snapshot chunk"), "{status:?}");

    assert_eq!(replica_snapshot(&m).await, before);
    // Nothing was reset to an older state either.
    assert!(m.consensus().applied_index() >= applied_before);
    assert!(m.view().node("manager0").is_some());
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dispatcher_message_past_its_limit_is_refused_before_the_handler() {
    let cluster = LocalCluster::start(1).await.unwrap();
    let m = cluster.managers[0].clone();
    let pool = pool_for(&cluster, "manager0");
    let body = Msg {
        body: vec![0; (16 << 20) + 1],
    };
    let status = pool
        .call_raw::<UpdateTaskStatus>(&addr_of(&m), body)
        .await
        .unwrap_err();
    // tonic's answer to a message over the service's decoding limit.
    assert_eq!(status.code(), Code::OutOfRange, "{status:?}");
    assert!(status.message().contains("too large"), "{status:?}");
    cluster.stop().await;
}
