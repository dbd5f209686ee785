//! Tunnel keys on the assignment streams of a real leader over mutual TLS: nodes sharing an
//! encrypted network get each other's public keys (from their sessions), a renewed key reaches
//! the peer after the heartbeat that carries it, a node sharing nothing learns no key, and
//! after a leader failover the new sessions alone bring the keys back to the peers.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use manager::testing::{LocalCluster, WallClock, node};
use rpc::calls::{Assignments, Heartbeat, Session};
use rpc::messages::{AssignmentsRequest, HeartbeatRequest, SessionRequest};
use rpc::{Incoming, Pool};
use store::Op;
use types::{Clock, NetworkAttachment, NetworkSpec, Object, Placement, Role, TaskSpec};

/// Generous for a loaded 2-core machine.
const DEADLINE: Duration = Duration::from_secs(30);

fn pool(cluster: &LocalCluster, id: &str) -> Pool {
    let (cert, key) = cluster.issue(id, Role::Worker).unwrap();
    Pool::new(ca::tls::client_config(&cert, &key, cluster.root.cert_pem()).unwrap())
}

/// Reads `stream` until the keys it handed out so far hold `node` → `key`; returns them.
async fn until_key(
    stream: &mut Incoming<Assignments>,
    keys: &mut BTreeMap<String, [u8; 32]>,
    node: &str,
    key: [u8; 32],
) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while keys.get(node) != Some(&key) {
        let msg = tokio::time::timeout_at(deadline, stream.message())
            .await
            .unwrap_or_else(|_| panic!("{node}'s key in time; got {keys:?}"))
            .unwrap()
            .unwrap();
        for k in msg.peer_keys {
            keys.insert(k.node_id, k.public_key);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_sharing_an_encrypted_network_get_each_others_keys_and_renewals() {
    let cluster = LocalCluster::start(1).await.unwrap();
    let leader = cluster.managers[0].clone();
    let mut options = BTreeMap::new();
    options.insert(types::network::ENCRYPTED_OPTION.to_string(), String::new());
    let (net_op, net) = rules::controlapi::network::create(
        &leader.store().view(),
        "netsecret0000000000000001".into(),
        NetworkSpec {
            name: "secret".into(),
            driver: "overlay".into(),
            options,
            ..Default::default()
        },
    )
    .unwrap();
    leader
        .propose(vec![
            net_op,
            Op::Create(Object::Node(node("w1", Role::Worker))),
            Op::Create(Object::Node(node("w2", Role::Worker))),
            Op::Create(Object::Node(node("w3", Role::Worker))),
        ])
        .await
        .unwrap();

    let mut pools = Vec::new();
    let mut sessions = Vec::new();
    let mut streams = Vec::new();
    for (i, id) in ["w1", "w2", "w3"].into_iter().enumerate() {
        let p = pool(&cluster, id);
        let open = SessionRequest {
            description: types::NodeDescription {
                hostname: id.into(),
                ..Default::default()
            },
            tunnel_key: Some([i as u8 + 1; 32]),
        };
        let mut s = p.open::<Session>(&cluster.addr, &open).await.unwrap();
        let first = s.message().await.unwrap().unwrap();
        assert_eq!(
            first.tunnel_key_rotation_ms,
            12 * 60 * 60 * 1000,
            "the leader's rotation period"
        );
        sessions.push(s);
        let a = p
            .open::<Assignments>(&cluster.addr, &AssignmentsRequest {})
            .await
            .unwrap();
        streams.push(a);
        pools.push(p);
    }

    // One task on w1 and one on w2; w3 holds nothing of the network.
    let spec = types::testing::service("web")
        .replicas(2)
        .task(TaskSpec {
            placement: Placement {
                constraints: vec!["node.role==worker".into(), "node.hostname!=w3".into()],
                max_replicas: 1,
                ..Default::default()
            },
            networks: vec![NetworkAttachment {
                target: net.id.clone(),
                ..Default::default()
            }],
            ..Default::default()
        })
        .image("busybox")
        .spec();
    let op = rules::controlapi::service::create(
        &leader.store().view(),
        "svcweb0000000000000000001".into(),
        spec,
        WallClock.now(),
    )
    .unwrap();
    leader.propose(vec![op]).await.unwrap();

    let mut w1_keys = BTreeMap::new();
    let mut w2_keys = BTreeMap::new();
    until_key(&mut streams[0], &mut w1_keys, "w2", [2; 32]).await;
    until_key(&mut streams[1], &mut w2_keys, "w1", [1; 32]).await;
    assert!(!w1_keys.contains_key("w3") && !w2_keys.contains_key("w3"));

    // w2 renews its key: the heartbeat carrying it gets it to w1.
    pools[1]
        .call::<Heartbeat>(
            &cluster.addr,
            &HeartbeatRequest {
                tunnel_key: Some([22; 32]),
            },
        )
        .await
        .unwrap();
    until_key(&mut streams[0], &mut w1_keys, "w2", [22; 32]).await;
    assert!(!w1_keys.contains_key("w3"), "{w1_keys:?}");

    // w3 shares no encrypted network: a fresh stream's full message carries no key.
    let mut fresh = pools[2]
        .open::<Assignments>(&cluster.addr, &AssignmentsRequest {})
        .await
        .unwrap();
    let full = fresh.message().await.unwrap().unwrap();
    assert!(full.full && full.peer_keys.is_empty(), "{:?}", full.peer_keys);
    drop((sessions, streams));
    cluster.stop().await;
}

/// Polls `check` until it holds or the deadline passes.
async fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The session request of node `id` carrying `key`.
fn opening(id: &str, key: [u8; 32]) -> SessionRequest {
    SessionRequest {
        description: types::NodeDescription {
            hostname: id.into(),
            ..Default::default()
        },
        tunnel_key: Some(key),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_leader_failover_peers_get_each_others_keys_from_their_new_sessions_alone() {
    let mut cluster = LocalCluster::start(3).await.unwrap();
    let leader = cluster.leader().expect("a leader").clone();
    let mut options = BTreeMap::new();
    options.insert(types::network::ENCRYPTED_OPTION.to_string(), String::new());
    let (net_op, net) = rules::controlapi::network::create(
        &leader.store().view(),
        "netsecret0000000000000001".into(),
        NetworkSpec {
            name: "secret".into(),
            driver: "overlay".into(),
            options,
            ..Default::default()
        },
    )
    .unwrap();
    leader
        .propose(vec![
            net_op,
            Op::Create(Object::Node(node("w1", Role::Worker))),
            Op::Create(Object::Node(node("w2", Role::Worker))),
        ])
        .await
        .unwrap();
    let spec = types::testing::service("web")
        .replicas(2)
        .task(TaskSpec {
            placement: Placement {
                constraints: vec!["node.role==worker".into()],
                max_replicas: 1,
                ..Default::default()
            },
            networks: vec![NetworkAttachment {
                target: net.id.clone(),
                ..Default::default()
            }],
            ..Default::default()
        })
        .image("busybox")
        .spec();
    let op = rules::controlapi::service::create(
        &leader.store().view(),
        "svcweb0000000000000000001".into(),
        spec,
        WallClock.now(),
    )
    .unwrap();
    leader.propose(vec![op]).await.unwrap();
    let addr_of = |m: &manager::Manager| m.consensus().members()[&m.consensus().id()].addr.clone();
    let first = addr_of(&leader);
    let pools = [pool(&cluster, "w1"), pool(&cluster, "w2")];
    let (mut sessions, mut streams) = (Vec::new(), Vec::new());
    for (i, p) in pools.iter().enumerate() {
        let id = format!("w{}", i + 1);
        sessions.push(
            p.open::<Session>(&first, &opening(&id, [i as u8 + 1; 32]))
                .await
                .unwrap(),
        );
        streams.push(
            p.open::<Assignments>(&first, &AssignmentsRequest {})
                .await
                .unwrap(),
        );
    }
    let mut held = [BTreeMap::new(), BTreeMap::new()];
    until_key(&mut streams[0], &mut held[0], "w2", [2; 32]).await;
    until_key(&mut streams[1], &mut held[1], "w1", [1; 32]).await;

    // The leader goes; another manager wins the election and knows no key yet (the keys
    // lived in the old leader's memory only).
    drop((sessions, streams));
    let gone = leader.consensus().id();
    cluster.managers.retain(|m| m.consensus().id() != gone);
    leader.stop().await;
    let others = cluster.managers.clone();
    eventually("a new leader", || others.iter().any(|m| m.is_leader())).await;
    let new = others
        .iter()
        .find(|m| m.is_leader())
        .expect("a new leader")
        .clone();
    let next = addr_of(&new);

    // w1 comes back first: its stream cannot carry w2's key yet. w2's session request alone
    // (no heartbeat is sent in this test) brings it, and wakes w1's stream.
    let mut held = [BTreeMap::new(), BTreeMap::new()];
    let s1 = pools[0]
        .open::<Session>(&next, &opening("w1", [1; 32]))
        .await
        .unwrap();
    let mut a1 = pools[0]
        .open::<Assignments>(&next, &AssignmentsRequest {})
        .await
        .unwrap();
    let s2 = pools[1]
        .open::<Session>(&next, &opening("w2", [2; 32]))
        .await
        .unwrap();
    let mut a2 = pools[1]
        .open::<Assignments>(&next, &AssignmentsRequest {})
        .await
        .unwrap();
    until_key(&mut a1, &mut held[0], "w2", [2; 32]).await;
    until_key(&mut a2, &mut held[1], "w1", [1; 32]).await;
    drop((s1, s2, a1, a2));
    cluster.stop().await;
}
