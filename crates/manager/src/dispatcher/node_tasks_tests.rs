//! The node task index: the decision table, and the index against a rescan of the store
//! through a service's life (placed, running, stopped, its addresses freed).

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet, HashSet};

use rules::allocator::allocate;
use rules::controlapi::network;
use rules::orchestrator::fixtures::World;
use store::{Op, State};
use types::{
    NetworkAttachment, NetworkSpec, Object, PayloadKind, Secret, SecretData, SecretSpec, ServiceMode, Task,
    TaskSpec, TaskState,
};

use super::{Alters, NodeTasks, Standing, alters, standing};

fn task(node: &str, state: TaskState, desired: TaskState) -> Task {
    types::testing::task("t1")
        .node(node)
        .state(state)
        .desired(desired)
        .build()
}

#[test]
fn a_task_stands_live_while_it_should_run_and_held_once_it_ends_or_is_told_to_stop() {
    use TaskState::*;
    let cases = [
        (Some(task("n1", Pending, Running)), Standing::Absent),
        (Some(task("n2", Assigned, Running)), Standing::Absent),
        (Some(task("n1", Assigned, Running)), Standing::Live),
        (Some(task("n1", Running, Running)), Standing::Live),
        (Some(task("n1", Assigned, Ready)), Standing::Live),
        (Some(task("n1", Running, Shutdown)), Standing::Held),
        (Some(task("n1", Failed, Running)), Standing::Held),
        (Some(task("n1", Complete, Complete)), Standing::Held),
        (None, Standing::Absent),
    ];
    for (t, want) in cases {
        assert_eq!(standing(t.as_ref(), "n1"), want, "{t:?}");
    }
}

#[test]
fn only_entering_leaving_starting_or_ceasing_alters_what_the_feeds_hold() {
    use Standing::*;
    let none = Alters::default();
    let nets = Alters {
        nets: true,
        payloads: false,
    };
    let payloads = Alters {
        nets: false,
        payloads: true,
    };
    let both = Alters {
        nets: true,
        payloads: true,
    };
    let table = [
        // A status report (assigned → running, running → running) changes nothing.
        (Live, Live, none),
        (Held, Held, none),
        (Absent, Absent, none),
        (Absent, Live, both),
        (Absent, Held, nets),
        (Live, Held, payloads),
        (Held, Live, payloads),
        (Live, Absent, both),
        (Held, Absent, nets),
    ];
    for (before, after, want) in table {
        assert_eq!(alters(before, after), want, "{before:?} → {after:?}");
    }
}

fn secret(id: &str) -> Object {
    Object::Secret(Secret {
        id: id.into(),
        meta: types::Meta::default(),
        spec: SecretSpec {
            name: format!("name-{id}"),
            labels: BTreeMap::new(),
            data: SecretData(b"x".to_vec()),
        },
    })
}

/// Nodes n1 and n2 with addresses, network `front`, secret `s1`; `web` (2 replicas on
/// `front`, using `s1`) placed: allocated and assigned, not running.
fn world() -> World {
    let mut w = World::new().nodes(&["n1", "n2"]);
    for (i, id) in ["n1", "n2"].iter().enumerate() {
        let mut n = (**w.state.node(id).unwrap()).clone();
        n.status.addr = format!("192.168.0.{}", i + 1);
        w.apply_node(n);
    }
    let spec = NetworkSpec {
        name: "front".into(),
        driver: "overlay".into(),
        ipam: vec![types::IpamConfig {
            subnet: "10.1.0.0/24".into(),
            ..Default::default()
        }],
        ..Default::default()
    };
    let (op, _) = network::create(&w.state, "net-front".into(), spec).unwrap();
    w.commit_op(op);
    w.commit_op(Op::Create(secret("s1")));
    let mut spec = TaskSpec {
        networks: vec![NetworkAttachment {
            target: "front".into(),
            ..Default::default()
        }],
        ..Default::default()
    };
    spec.container.extra = r#"{"Secrets":[{"SecretID":"s1","SecretName":"x"}]}"#.into();
    let mut w = w.service("web", ServiceMode::Replicated { replicas: 2 }, spec);
    place(&mut w);
    w
}

fn place(w: &mut World) {
    for _ in 0..4 {
        w.settle();
        let ops = allocate(&w.state);
        if !ops.is_empty() {
            w.try_commit(ops).unwrap();
        }
        for op in rules::scheduler::schedule(&w.state).to_ops() {
            w.commit_op(op);
        }
    }
}

fn assigned(state: &State, node: &str) -> Vec<Task> {
    state
        .tasks_on_node(node)
        .filter(|t| rules::netview::assigned_to(t, node))
        .map(|t| (**t).clone())
        .collect()
}

/// Feeds the index what a stream would hear after `state`: every task of the node as
/// touched (unchanged ones must not count), the ones gone as removed, all as readdressed.
fn catch_up(index: &mut NodeTasks, held: &mut BTreeSet<String>, state: &State, node: &str) -> Alters {
    let changed = assigned(state, node);
    let now: BTreeSet<String> = changed.iter().map(|t| t.id.clone()).collect();
    let removed: Vec<String> = held.difference(&now).cloned().collect();
    let readdressed: HashSet<String> = held.union(&now).cloned().collect();
    *held = now;
    index.apply(state, node, &changed, &removed, &readdressed)
}

/// The index agrees with a rescan of the store.
fn check(index: &NodeTasks, state: &State, node: &str) {
    assert_eq!(
        index.networks(state),
        rules::netview::networks_of_node(state, node),
        "networks of {node}"
    );
    let (secrets, configs) = state.payloads_for_node(node);
    let want: Vec<(PayloadKind, String)> = secrets
        .iter()
        .map(|s| (PayloadKind::Secret, s.id.clone()))
        .chain(configs.iter().map(|c| (PayloadKind::Config, c.id.clone())))
        .collect();
    assert_eq!(
        index.payloads().cloned().collect::<Vec<_>>(),
        want,
        "payloads of {node}"
    );
}

#[test]
fn status_reports_do_no_rescan_and_the_index_follows_the_store_through_a_tasks_life() {
    let mut w = world();
    let node = "n1";
    let mut index = NodeTasks::default();
    let mut held = BTreeSet::new();
    let tasks = assigned(&w.state, node);
    assert_eq!(tasks.len(), 1, "one replica per node");
    held.extend(tasks.iter().map(|t| t.id.clone()));
    index.reset(&w.state, node, &tasks);
    check(&index, &w.state, node);
    assert_eq!(index.payloads().count(), 1);

    // Assigned → running: a status report alters nothing and rescans nothing.
    w.run_all();
    assert_eq!(catch_up(&mut index, &mut held, &w.state, node), Alters::default());
    check(&index, &w.state, node);

    // Stopped: the secret goes at once, the network stays while the address does.
    w.set_replicas("web", 0);
    w.settle();
    w.run_all();
    let a = catch_up(&mut index, &mut held, &w.state, node);
    assert_eq!(
        a,
        Alters {
            nets: false,
            payloads: true
        }
    );
    check(&index, &w.state, node);

    // The allocator frees the address: the network goes.
    let ops = allocate(&w.state);
    assert!(!ops.is_empty(), "the stopped task's address is freed");
    w.try_commit(ops).unwrap();
    let a = catch_up(&mut index, &mut held, &w.state, node);
    assert!(a.nets && !a.payloads, "{a:?}");
    check(&index, &w.state, node);

    // The reaper deletes the task: nothing left to alter.
    let ids: Vec<String> = held.iter().cloned().collect();
    w.commit_op(Op::DeleteTasks(ids));
    let _ = catch_up(&mut index, &mut held, &w.state, node);
    check(&index, &w.state, node);
    assert_eq!(index.scans(), 1, "only the full message scanned the node's tasks");
}
