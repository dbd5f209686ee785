//! Network views on the assignment stream of a real leader over mutual TLS: a node gets the
//! view of its task's network with (or before) the task, then only a delta when another
//! node's task on that network starts serving.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use manager::testing::{LocalCluster, WallClock, node};
use rpc::Pool;
use rpc::calls::{Assignments, Session, UpdateTaskStatus};
use rpc::messages::{AssignmentsMessage, AssignmentsRequest, SessionRequest, TaskStatusBatch};
use store::Op;
use types::{
    Clock, NetworkAttachment, NetworkSpec, NetworkView, Object, Placement, Role, TaskSpec, TaskState,
    TaskStatus,
};

/// Generous for a loaded 2-core machine; a passing run takes about a second.
const DEADLINE: Duration = Duration::from_secs(30);

/// What a node holds after the messages so far.
#[derive(Default)]
struct Node {
    views: BTreeMap<String, NetworkView>,
    tasks: BTreeMap<String, types::Task>,
}

impl Node {
    /// Applies `msg` as the agent does; panics if a delta names a network it does not hold.
    fn apply(&mut self, msg: &AssignmentsMessage) {
        if msg.full {
            self.views.clear();
            self.tasks.clear();
        }
        for v in &msg.networks {
            self.views.insert(v.network_id.clone(), v.clone());
        }
        for id in &msg.networks_removed {
            self.views.remove(id);
        }
        for d in &msg.network_deltas {
            self.views
                .get_mut(&d.network_id)
                .expect("a delta of a network the node holds")
                .apply(d);
        }
        for id in &msg.removed {
            self.tasks.remove(id);
        }
        for t in &msg.tasks {
            self.tasks.insert(t.id.clone(), t.clone());
        }
        // Every task's network arrived with it or before, with the task's own endpoint.
        for t in self.tasks.values().filter(|t| !t.status.state.is_terminal()) {
            for n in &t.spec.networks {
                let view = self.views.get(&n.target).expect("the task's network is held");
                assert!(
                    view.endpoint(&t.id).is_some(),
                    "the task's own endpoint is in the view"
                );
            }
        }
    }
}

fn pool(cluster: &LocalCluster, id: &str) -> Pool {
    let (cert, key) = cluster.issue(id, Role::Worker).unwrap();
    Pool::new(ca::tls::client_config(&cert, &key, cluster.root.cert_pem()).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_gets_the_view_then_a_delta_when_another_nodes_task_serves() {
    let cluster = LocalCluster::start(1).await.unwrap();
    let leader = cluster.managers[0].clone();
    let state = leader.store().view();
    let (net_op, net) = rules::controlapi::network::create(
        &state,
        "netfront000000000000000001".into(),
        NetworkSpec {
            name: "front".into(),
            driver: "overlay".into(),
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

    // Both workers open their sessions (which makes them ready) and assignment streams.
    let mut streams = Vec::new();
    let mut sessions = Vec::new();
    for id in ["w1", "w2"] {
        let p = pool(&cluster, id);
        let description = types::NodeDescription {
            hostname: id.into(),
            ..Default::default()
        };
        let mut s = p
            .open::<Session>(
                &cluster.addr,
                &SessionRequest {
                    description,
                    tunnel_key: None,
                },
            )
            .await
            .unwrap();
        s.message().await.unwrap().unwrap();
        sessions.push(s);
        let a = p
            .open::<Assignments>(&cluster.addr, &AssignmentsRequest {})
            .await
            .unwrap();
        streams.push((p, a, Node::default()));
    }

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
                aliases: vec!["www".into()],
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

    // Each node receives its task, and the view with both endpoints, none serving yet.
    let deadline = tokio::time::Instant::now() + DEADLINE;
    for (_, stream, held) in &mut streams {
        while !(held.tasks.len() == 1 && held.views.get(&net.id).is_some_and(|v| v.endpoints.len() == 2)) {
            let msg = tokio::time::timeout_at(deadline, stream.message())
                .await
                .expect("the view in time")
                .unwrap()
                .unwrap();
            held.apply(&msg);
        }
        let view = &held.views[&net.id];
        assert!(view.endpoints.iter().all(|e| !e.serving && e.aliases == ["www"]));
        assert_eq!(view.services.len(), 1);
        assert!(view.services[0].vip.is_some());
    }

    // w2 reports its task running: w1 hears it as a delta of one endpoint.
    let (w2_pool, _, w2) = &streams[1];
    let w2_task = w2.tasks.keys().next().unwrap().clone();
    let status = TaskStatus {
        timestamp: WallClock.now(),
        state: TaskState::Running,
        ..Default::default()
    };
    w2_pool
        .call::<UpdateTaskStatus>(
            &cluster.addr,
            &TaskStatusBatch {
                updates: vec![(w2_task.clone(), status)],
            },
        )
        .await
        .unwrap();
    let (_, w1_stream, w1) = &mut streams[0];
    loop {
        let msg = tokio::time::timeout_at(deadline, w1_stream.message())
            .await
            .expect("the delta in time")
            .unwrap()
            .unwrap();
        assert!(
            !msg.full && msg.networks.is_empty(),
            "no whole view again: {msg:?}"
        );
        w1.apply(&msg);
        if w1.views[&net.id].endpoint(&w2_task).is_some_and(|e| e.serving) {
            let delta = &msg.network_deltas[0];
            assert_eq!(delta.endpoints.len(), 1, "{delta:?}");
            assert_eq!(delta.endpoints[0].task_id, w2_task);
            break;
        }
    }
    drop(sessions);
    cluster.stop().await;
}
