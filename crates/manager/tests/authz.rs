//! Authorization by current membership, over real mutual TLS against real managers: each RPC
//! family called with the certificate of a current manager, of a demoted one and of a removed
//! one; and a node that leaves is down at once.

#![allow(clippy::unwrap_used)]
// Waits on cluster conditions use the real clock (with generous deadlines, never as sync).
#![allow(clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use manager::Manager;
use manager::testing::{LocalCluster, node};
use rpc::Pool;
use rpc::calls::{Heartbeat, JoinRaft, Leave, RaftMembers, ReadIndex, RenewNodeCertificate, Vote};
use rpc::messages::{HeartbeatRequest, JoinRaftRequest, LeaveRequest};
use rpc::pb::Msg;
use store::Op;
use tonic::Code;
use types::{NodeState, Object, Role};

/// The RPC families of the cluster port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Raft,
    Control,
    JoinRaft,
    Dispatcher,
    CaRenew,
}

const ALL: [Family; 5] = [
    Family::Raft,
    Family::Control,
    Family::JoinRaft,
    Family::Dispatcher,
    Family::CaRenew,
];

/// A pool holding a fresh certificate for `node_id` (what the node's own certificate would
/// be: same CN, role and cluster), so every call opens a new connection with it.
fn pool_for(cluster: &LocalCluster, node_id: &str, role: Role) -> Pool {
    let (cert, key) = cluster.issue(node_id, role).unwrap();
    Pool::new(ca::tls::client_config(&cert, &key, cluster.root.cert_pem()).unwrap())
}

/// Calls one RPC of `family` at `addr` as `node_id` and returns the status code. Bodies are
/// chosen so that an admitted call cannot change the cluster: Raft and renewal get an empty
/// (malformed) body, so admission shows as `InvalidArgument`; JoinRaft is only ever made by
/// callers that must be refused.
async fn call(pool: &Pool, addr: &str, family: Family, node_id: &str) -> Code {
    let result = match family {
        Family::Raft => pool.call_raw::<Vote>(addr, Msg::default()).await.map(drop),
        Family::Control => pool.call::<ReadIndex>(addr, &()).await.map(drop),
        Family::JoinRaft => {
            let req = JoinRaftRequest {
                node_id: node_id.into(),
                raft_id: 99,
                addr: "127.0.0.1:1".into(),
            };
            pool.call::<JoinRaft>(addr, &req).await.map(drop)
        }
        Family::Dispatcher => pool
            .call::<Heartbeat>(addr, &HeartbeatRequest { tunnel_key: None })
            .await
            .map(drop),
        Family::CaRenew => pool
            .call_raw::<RenewNodeCertificate>(addr, Msg::default())
            .await
            .map(drop),
    };
    match result {
        Ok(()) => Code::Ok,
        Err(status) => {
            eprintln!("{family:?} as {node_id} at {addr}: {status:?}");
            status.code()
        }
    }
}

/// True when the call got past authorization.
fn admitted(code: Code) -> bool {
    !matches!(code, Code::PermissionDenied | Code::Unauthenticated)
}

/// A manager's own cluster address, from its Raft membership.
fn addr_of(m: &Manager) -> String {
    m.consensus().members()[&m.consensus().id()].addr.clone()
}

/// Polls `check` until it holds, or fails with `what` and what was last seen.
async fn eventually(what: &str, mut check: impl FnMut() -> Result<(), String>) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let last = match check() {
            Ok(()) => return,
            Err(last) => last,
        };
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; last seen: {last}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until every manager knows all members: one that just joined learns the membership
/// (itself included) from the leader.
async fn settled(cluster: &LocalCluster) {
    let n = cluster.managers.len();
    for m in &cluster.managers {
        eventually("every manager knows all members", || {
            let members = m.consensus().members();
            if members.len() == n && members.contains_key(&m.consensus().id()) {
                Ok(())
            } else {
                Err(format!("{members:?}"))
            }
        })
        .await;
    }
}

async fn set_role(leader: &Manager, node_id: &str, role: Role) {
    let view = leader.view();
    let n = view.node(node_id).unwrap();
    let mut spec = n.spec.clone();
    spec.role = role;
    let plan = rules::controlapi::node::update(&view, node_id, n.meta.version, spec).unwrap();
    leader.propose(vec![plan.op]).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_family_admits_current_managers_and_refuses_demoted_and_removed_ones() {
    let cluster = LocalCluster::start(3).await.unwrap();
    settled(&cluster).await;
    let leader = cluster.leader().expect("a leader after start").clone();
    let leader_addr = addr_of(&leader);
    let followers: Vec<Manager> = cluster
        .managers
        .iter()
        .filter(|m| !m.is_leader())
        .cloned()
        .collect();
    assert_eq!(followers.len(), 2);
    let current_id = followers[0].consensus().members()[&followers[0].consensus().id()]
        .node_id
        .clone();
    let gone = followers[1].clone();
    let gone_id = gone.consensus().members()[&gone.consensus().id()].node_id.clone();
    let gone_raft_id = gone.consensus().id();
    let other_addr = addr_of(&followers[0]);
    eprintln!("leader {leader_addr}; current {current_id}; demoted/removed {gone_id}");

    // A current manager: every family it may use admits it.
    let current = pool_for(&cluster, &current_id, Role::Manager);
    for family in [Family::Raft, Family::Control, Family::Dispatcher, Family::CaRenew] {
        let code = call(&current, &leader_addr, family, &current_id).await;
        assert!(admitted(code), "{family:?}: current manager refused ({code:?})");
    }
    assert_eq!(
        call(&current, &leader_addr, Family::Control, &current_id).await,
        Code::Ok
    );

    // A member may ask who the members are (what a replica that is behind does before it
    // refuses a Raft caller it has not heard of).
    let mut members = current.call::<RaftMembers>(&leader_addr, &()).await.unwrap();
    members.sort();
    let mut want: Vec<String> = leader.voters().into_values().map(|p| p.node_id).collect();
    want.sort();
    assert_eq!(members, want);

    // Demoted: manager rights end at once, while it may still vote on its own removal.
    set_role(&leader, &gone_id, Role::Worker).await;
    let demoted = pool_for(&cluster, &gone_id, Role::Manager);
    for family in [Family::Control, Family::JoinRaft] {
        let code = call(&demoted, &leader_addr, family, &gone_id).await;
        assert_eq!(
            code,
            Code::PermissionDenied,
            "{family:?}: demoted manager admitted"
        );
    }
    // Its session continues (it must hear that it is to renew as a worker).
    for family in [Family::Dispatcher, Family::CaRenew] {
        let code = call(&demoted, &leader_addr, family, &gone_id).await;
        assert!(admitted(code), "{family:?}: demoted node refused ({code:?})");
    }

    // The leader takes it out of Raft; then Raft refuses it on every remaining manager.
    eventually("the demoted manager leaves the raft group", || {
        let voters = leader.voters();
        let status = leader.view().node(&gone_id).map(|n| n.manager_status.clone());
        if voters.contains_key(&gone_raft_id) || status != Some(None) {
            return Err(format!("voters {voters:?}; manager status {status:?}"));
        }
        Ok(())
    })
    .await;
    for m in [&leader, &followers[0]] {
        eventually("every manager's membership drops it", || {
            let members = m.consensus().members();
            if members.contains_key(&gone_raft_id) {
                return Err(format!("members {members:?}"));
            }
            Ok(())
        })
        .await;
    }
    gone.stop().await;
    for addr in [&leader_addr, &other_addr] {
        let code = call(&demoted, addr, Family::Raft, &gone_id).await;
        assert_eq!(
            code,
            Code::PermissionDenied,
            "Raft at {addr}: out of raft but admitted"
        );
    }

    // Removed (`node rm --force`): its certificate is refused by every family on reconnect.
    let rm = rules::controlapi::node::remove(&leader.view(), &gone_id, true).unwrap();
    leader.propose(vec![rm]).await.unwrap();
    let removed = pool_for(&cluster, &gone_id, Role::Manager);
    for family in ALL {
        let code = call(&removed, &leader_addr, family, &gone_id).await;
        assert_eq!(
            code,
            Code::PermissionDenied,
            "{family:?}: removed manager admitted"
        );
    }
    let asked = removed.call::<RaftMembers>(&leader_addr, &()).await.unwrap_err();
    assert_eq!(asked.code(), Code::PermissionDenied, "{asked:?}");
    // Followers refuse it too, once they have the removal (manager families decide there).
    eventually("the follower applies the removal", || {
        match followers[0].view().node(&gone_id) {
            None => Ok(()),
            Some(n) => Err(format!("still there: {n:?}")),
        }
    })
    .await;
    for family in [Family::Raft, Family::Control] {
        let code = call(&removed, &other_addr, family, &gone_id).await;
        assert_eq!(
            code,
            Code::PermissionDenied,
            "{family:?} at a follower: removed manager admitted"
        );
    }
    // Nothing of this disturbed the cluster: the current manager still reads and writes.
    assert_eq!(
        call(&current, &leader_addr, Family::Control, &current_id).await,
        Code::Ok
    );
    followers[0]
        .propose(vec![Op::Create(Object::Node(node("after", Role::Worker)))])
        .await
        .unwrap();
    for m in [&leader, &followers[0]] {
        m.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_leaves_is_down_at_once_and_cannot_come_back_ready() {
    let cluster = LocalCluster::start(1).await.unwrap();
    let leader = cluster.managers[0].clone();
    let id = format!("leaver{}", std::process::id());
    leader
        .propose(vec![Op::Create(Object::Node(node(&id, Role::Worker)))])
        .await
        .unwrap();
    let worker = pool_for(&cluster, &id, Role::Worker);
    worker
        .call::<Heartbeat>(&cluster.addr, &HeartbeatRequest { tunnel_key: None })
        .await
        .unwrap();
    assert_eq!(leader.view().node(&id).unwrap().status.state, NodeState::Ready);

    worker
        .call::<Leave>(&cluster.addr, &LeaveRequest {})
        .await
        .unwrap();
    // Down as soon as the call returns, not after missed heartbeats.
    let n = leader.view().node(&id).unwrap().clone();
    assert_eq!(n.status.state, NodeState::Down, "{n:?}");
    assert_eq!(n.status.message, "node left the swarm");
    // A late heartbeat (one in flight while it left) does not make it ready again.
    let late = worker
        .call::<Heartbeat>(&cluster.addr, &HeartbeatRequest { tunnel_key: None })
        .await
        .unwrap_err();
    assert_eq!(late.code(), Code::PermissionDenied, "{late:?}");
    assert_eq!(leader.view().node(&id).unwrap().status.state, NodeState::Down);

    // A worker certificate may not make a node other than itself leave: the call is
    // always about the caller, so another node stays ready.
    let other = format!("stayer{}", std::process::id());
    leader
        .propose(vec![Op::Create(Object::Node(node(&other, Role::Worker)))])
        .await
        .unwrap();
    let removed = pool_for(&cluster, "never-joined", Role::Worker);
    let denied = removed
        .call::<Leave>(&cluster.addr, &LeaveRequest {})
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied, "{denied:?}");
    assert_eq!(leader.view().node(&other).unwrap().status.state, NodeState::Ready);
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_missed_a_members_join_still_follows_it_as_leader() {
    let settings = types::cluster::RaftSettings::default();
    let mut cluster = LocalCluster::start(3).await.unwrap();
    settled(&cluster).await;
    let first = cluster.managers[0].clone();
    let behind = cluster.managers.remove(2);
    let behind_addr = addr_of(&behind);
    // manager2 is away while manager3 joins, so its log never names manager3.
    behind.stop().await;
    drop(behind);
    let clock: std::sync::Arc<dyn types::Clock> = std::sync::Arc::new(manager::testing::WallClock);
    let leader = cluster.leader().expect("a leader").clone();
    let newcomer = cluster
        .start_manager(3, &settings, clock, std::slice::from_ref(&leader))
        .await
        .unwrap();
    let newcomer_raft_id = newcomer.consensus().id();
    // The newcomer leads.
    eventually("the newcomer becomes leader", || {
        if newcomer.is_leader() {
            return Ok(());
        }
        if let Some(l) = cluster.leader() {
            let l = l.clone();
            tokio::spawn(async move {
                let _ = l
                    .consensus()
                    .raft()
                    .trigger()
                    .transfer_leader(newcomer_raft_id)
                    .await;
            });
        }
        Err(format!("leader is {:?}", first.leader_node_id()))
    })
    .await;
    // manager2 comes back knowing members 1-3 only; the leader it hears from is a stranger.
    // (Its tasks let go of the redb file shortly after the stop.)
    let deadline = Instant::now() + Duration::from_secs(60);
    let back = loop {
        match cluster.restart_manager(2, &behind_addr, &settings).await {
            Ok(m) => break m,
            Err(e) if Instant::now() < deadline => {
                eprintln!("restart: {e:#}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("restarting manager2: {e:#}"),
        }
    };
    // (Not asserted: the leader's first message may already have been admitted. Without
    // asking the other members this test times out — checked by disabling that path.)
    eprintln!(
        "restarted replica's members: {:?}; newcomer is {newcomer_raft_id}",
        back.consensus().members()
    );
    newcomer
        .propose(vec![Op::Create(Object::Node(node(
            "written-later",
            Role::Worker,
        )))])
        .await
        .unwrap();
    let target = newcomer.consensus().applied_index();
    eventually(
        "the replica that was behind catches up from the new leader",
        || {
            let applied = back.consensus().applied_index();
            if applied >= target && back.view().node("written-later").is_some() {
                Ok(())
            } else {
                Err(format!(
                    "applied {applied} of {target}; members {:?}",
                    back.consensus().members()
                ))
            }
        },
    )
    .await;
    cluster.managers.push(back);
    cluster.managers.push(newcomer);
    cluster.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_node_cannot_keep_publishing_logs_on_an_open_stream() {
    use rpc::calls::PublishLogs;
    use rpc::messages::{LogBatch, LogRecord, LogSelection};

    let cluster = LocalCluster::start(1).await.unwrap();
    let leader = cluster.leader().expect("a leader after start").clone();
    let addr = addr_of(&leader);
    let worker = types::testing::node("w1")
        .role(Role::Worker)
        .state(NodeState::Ready)
        .addr("127.0.0.1")
        .build();
    leader
        .propose(vec![Op::Create(Object::Node(worker))])
        .await
        .unwrap();
    let follow = LogSelection {
        follow: true,
        ..Default::default()
    };
    let mut lines = leader
        .logs(vec![("w1".into(), vec!["t1".into()])], follow)
        .await
        .unwrap();
    let line = |text: &str| LogBatch {
        // The broker numbers subscriptions from 1 and this is the cluster's first.
        subscription: 1,
        records: vec![LogRecord {
            task_id: "t1".into(),
            stderr: false,
            timestamp: types::Timestamp(0),
            line: text.as_bytes().to_vec(),
        }],
        done: false,
    };

    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let pool = pool_for(&cluster, "w1", Role::Worker);
    let publishing = tokio::spawn(async move {
        pool.send_stream::<PublishLogs, _>(&addr, tokio_stream::wrappers::ReceiverStream::new(rx), None)
            .await
    });
    tx.send(line("while a member")).await.unwrap();
    let got = lines.recv().await.expect("the member's line");
    assert_eq!(got.records[0].line, b"while a member");

    let rm = rules::controlapi::node::remove(&leader.view(), "w1", true).unwrap();
    leader.propose(vec![rm]).await.unwrap();
    tx.send(line("after removal")).await.unwrap();
    drop(tx);
    let ended = publishing.await.unwrap().unwrap_err();
    assert_eq!(ended.code(), Code::PermissionDenied, "{ended:?}");
    assert!(lines.try_recv().is_err(), "a removed node's line was delivered");
    leader.stop().await;
}
