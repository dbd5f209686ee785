//! The allocator's behaviour on small worlds: who gets which address, when tasks go
//! PENDING, and what is freed.

use std::net::Ipv4Addr;

use state::Owner;
use types::{EndpointSpec, NetworkAttachment, NetworkSpec, ServiceMode, TaskSpec, TaskState};

use super::*;
use crate::controlapi::network;
use crate::orchestrator::fixtures::World;

fn overlay(name: &str, subnet: &str) -> NetworkSpec {
    NetworkSpec {
        name: name.into(),
        driver: "overlay".into(),
        ipam: if subnet.is_empty() {
            vec![]
        } else {
            vec![types::IpamConfig {
                subnet: subnet.into(),
                ..Default::default()
            }]
        },
        ..Default::default()
    }
}

fn on(nets: &[&str]) -> TaskSpec {
    TaskSpec {
        networks: nets
            .iter()
            .map(|n| NetworkAttachment {
                target: n.to_string(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

fn world(nets: &[(&str, &str)]) -> World {
    let mut w = World::new().nodes(&["n1", "n2"]);
    for (name, subnet) in nets {
        let (op, _) = network::create(&w.state, format!("net-{name}"), overlay(name, subnet)).unwrap();
        w.commit_op(op);
    }
    w
}

/// Orchestrator, allocator, scheduler and agents until nothing moves.
fn settle(w: &mut World) {
    for _ in 0..6 {
        w.settle();
        let ops = allocate(&w.state);
        if !ops.is_empty() {
            w.try_commit(ops).expect("the store takes the allocator's plan");
        }
        for op in crate::scheduler::schedule(&w.state).to_ops() {
            w.commit_op(op);
        }
        w.run_all();
        // Past restart delays.
        w.advance_secs(10);
    }
}

fn addrs(w: &World, owner: Owner) -> Vec<String> {
    w.state
        .addresses(&owner)
        .iter()
        .map(|a| a.addr.to_string())
        .collect()
}

#[test]
fn a_service_gets_a_vip_and_its_tasks_addresses_before_they_go_pending() {
    let mut w = world(&[("front", "10.7.0.0/24"), ("back", "")]).service(
        "web",
        ServiceMode::Replicated { replicas: 2 },
        on(&["net-front", "back"]),
    );
    w.settle();
    let ops = allocate(&w.state);
    assert_eq!(ops.len(), 2, "addresses and PENDING in one transaction: {ops:?}");
    w.try_commit(ops).unwrap();
    let vips = addrs(&w, Owner::Service("svc-web".into()));
    assert_eq!(vips, ["10.7.0.2", "10.0.0.2"]);
    let mut task_addrs: Vec<String> = w
        .state
        .tasks()
        .inspect(|t| assert_eq!(t.status.state, TaskState::Pending))
        .flat_map(|t| addrs(&w, Owner::Task(t.id.clone())))
        .collect();
    task_addrs.sort();
    assert_eq!(task_addrs, ["10.0.0.3", "10.0.0.4", "10.7.0.3", "10.7.0.4"]);
    assert!(
        allocate(&w.state).is_empty(),
        "a second pass (a new leader's) changes nothing"
    );
}

#[test]
fn dnsrr_services_get_no_vip_and_tasks_without_networks_go_pending_at_once() {
    let mut w = world(&[("front", "")])
        .service(
            "plain",
            ServiceMode::Replicated { replicas: 1 },
            TaskSpec::default(),
        )
        .service("rr", ServiceMode::Replicated { replicas: 1 }, on(&["front"]));
    w.update_service("rr", |s| {
        s.endpoint = Some(EndpointSpec {
            mode: "dnsrr".into(),
            ports: vec![],
        })
    });
    settle(&mut w);
    assert!(addrs(&w, Owner::Service("svc-rr".into())).is_empty());
    assert!(addrs(&w, Owner::Service("svc-plain".into())).is_empty());
    let running = |name: &str| {
        w.runnable_tasks(name)
            .iter()
            .filter(|t| t.status.state == TaskState::Running)
            .count()
    };
    assert_eq!((running("plain"), running("rr")), (1, 1));
}

#[test]
fn a_full_network_keeps_tasks_new_until_an_address_is_freed() {
    // A /29 holds 6 host addresses; the gateway takes one and the VIP another, leaving 4.
    let mut w = world(&[("tiny", "10.9.9.0/29")]).service(
        "web",
        ServiceMode::Replicated { replicas: 5 },
        on(&["tiny"]),
    );
    settle(&mut w);
    let states = |w: &World| {
        let mut n = w
            .runnable_tasks("web")
            .iter()
            .map(|t| t.status.state)
            .collect::<Vec<_>>();
        n.sort();
        n
    };
    assert_eq!(
        states(&w),
        [
            TaskState::New,
            TaskState::Running,
            TaskState::Running,
            TaskState::Running,
            TaskState::Running
        ]
    );
    let stuck = w
        .runnable_tasks("web")
        .into_iter()
        .find(|t| t.status.state == TaskState::New)
        .unwrap();
    assert_eq!(stuck.status.err, "no address available on network tiny");
    assert!(
        allocate(&w.state).is_empty(),
        "a stuck task is told once, not every pass"
    );
    w.set_replicas("web", 4);
    settle(&mut w);
    w.fail_where(|t| t.slot == 1);
    settle(&mut w);
    assert!(
        states(&w).iter().all(|s| *s == TaskState::Running),
        "{:?}",
        states(&w)
    );
    let held: Vec<Ipv4Addr> = w.state.held_on("net-tiny").map(|(ip, _)| ip).collect();
    assert_eq!(
        held.len(),
        5,
        "the VIP and 4 tasks fill the 5 assignable addresses"
    );
    assert!(
        !held.contains(&Ipv4Addr::new(10, 9, 9, 1)),
        "the gateway is never handed out"
    );
}

#[test]
fn failed_tasks_and_removed_services_free_everything() {
    let mut w =
        world(&[("front", "")]).service("web", ServiceMode::Replicated { replicas: 3 }, on(&["front"]));
    settle(&mut w);
    assert_eq!(w.state.held_on("net-front").count(), 4);
    w.fail_all(1);
    settle(&mut w);
    assert_eq!(
        w.state.held_on("net-front").count(),
        4,
        "replacements took the freed ones' place"
    );
    w.node_down("n1");
    settle(&mut w);
    assert_eq!(w.state.held_on("net-front").count(), 4);
    w.update_service("web", |s| std::sync::Arc::make_mut(&mut s.task).networks.clear());
    settle(&mut w);
    assert_eq!(
        w.state.held_on("net-front").count(),
        0,
        "the VIP goes with the network"
    );
    w.delete_service("web");
    settle(&mut w);
    assert_eq!(w.state.address_holders().count(), 0);
    w.commit_op(network::remove(&w.state, "front").unwrap());
}

/// Scale check (run by hand: `cargo test -p rules --lib -- --ignored hundred_thousand
/// --nocapture`): 100k task attachments allocated in one pass, then released.
#[test]
#[ignore]
#[allow(clippy::disallowed_methods)]
fn a_hundred_thousand_attachments_are_allocated_and_released() {
    let mut w = world(&[("big", "10.128.0.0/14")]).service(
        "web",
        ServiceMode::Replicated { replicas: 100_000 },
        on(&["big"]),
    );
    let tasks: Vec<state::NewTask> = (1..=100_000u64)
        .map(|slot| state::NewTask {
            id: format!("t{slot:06}"),
            slot,
            node_id: String::new(),
            desired_state: TaskState::Running,
            job_iteration: None,
        })
        .collect();
    w.commit_op(state::Op::CreateTasks {
        service_id: "svc-web".into(),
        spec_version: 1,
        tasks,
    });
    let started = std::time::Instant::now();
    let ops = allocate(&w.state);
    let planned = started.elapsed();
    w.try_commit(ops).unwrap();
    let committed = started.elapsed();
    assert_eq!(w.state.held_on("net-big").count(), 100_001);
    let failed: Vec<state::TaskUpdate> = w
        .state
        .tasks()
        .map(|t| state::TaskUpdate {
            id: t.id.clone(),
            change: state::TaskChange::Status(types::TaskStatus {
                state: TaskState::Failed,
                ..Default::default()
            }),
        })
        .collect();
    w.commit_op(state::Op::UpdateTasks(failed));
    let started = std::time::Instant::now();
    let ops = allocate(&w.state);
    w.try_commit(ops).unwrap();
    let released = started.elapsed();
    assert_eq!(w.state.held_on("net-big").count(), 1, "only the VIP is left");
    println!(
        "100k attachments: planned in {planned:?}, planned+applied in {committed:?}; released in {released:?}"
    );
}

#[test]
fn a_service_publishing_through_the_mesh_gets_a_vip_and_task_addresses_on_ingress() {
    use crate::controlapi::service;
    use crate::controlapi::supported::Publishing;
    let mut w = world(&[("front", "10.7.0.0/24")]);
    let (op, _) = network::ingress(&w.state, "ing".into()).unwrap();
    w.commit_op(op);
    let port = |mode: &str| types::PortConfig {
        protocol: "tcp".into(),
        target_port: 80,
        // The mesh holds its port on every node: a host-mode service needs another.
        published_port: if mode == "host" { 9090 } else { 8080 },
        publish_mode: mode.into(),
        ..Default::default()
    };
    let mut task = on(&["front"]);
    task.container.image = "busybox:latest".into();
    task.container.args = vec!["sleep".into(), "100".into()];
    let spec = |name: &str, mode: &str| {
        types::testing::service(name)
            .replicas(2)
            .task(task.clone())
            .ports(vec![port(mode)])
            .spec()
    };
    let op = service::create_with(
        &w.state,
        "svc-web".into(),
        spec("web", "ingress"),
        w.now,
        Publishing::Served,
    );
    w.commit_op(op.unwrap());
    let op = service::create_with(
        &w.state,
        "svc-h".into(),
        spec("h", "host"),
        w.now,
        Publishing::Served,
    );
    w.commit_op(op.unwrap());
    settle(&mut w);

    assert_eq!(
        networks(&w, Owner::Service("svc-web".into())),
        ["ing", "net-front"]
    );
    // Host mode is reached through the node's ingress sandbox too (no mesh-wide balancing).
    assert_eq!(networks(&w, Owner::Service("svc-h".into())), ["ing", "net-front"]);
    let running: Vec<_> = w
        .state
        .tasks_of_service("svc-web")
        .filter(|t| t.status.state == TaskState::Running)
        .map(|t| t.id.clone())
        .collect();
    assert_eq!(running.len(), 2);
    for id in running {
        assert_eq!(networks(&w, Owner::Task(id)), ["ing", "net-front"]);
    }

    // Unpublished: the ingress VIP goes.
    let web = w.state.service("svc-web").unwrap().clone();
    let mut next = web.spec.clone();
    next.endpoint = None;
    let op = service::update_with(
        &w.state,
        "web",
        web.meta.version,
        next,
        false,
        w.now,
        Publishing::Served,
    );
    w.commit_op(op.unwrap());
    settle(&mut w);
    assert_eq!(networks(&w, Owner::Service("svc-web".into())), ["net-front"]);
    assert!(w.state.service("svc-web").unwrap().endpoint.ports.is_empty());
}

fn networks(w: &World, owner: Owner) -> Vec<String> {
    let mut n: Vec<String> = w
        .state
        .addresses(&owner)
        .iter()
        .map(|a| a.network_id.clone())
        .collect();
    n.sort();
    n
}

fn held_by_tasks(w: &World) -> Vec<Ipv4Addr> {
    let mut all: Vec<Ipv4Addr> = w
        .state
        .tasks()
        .filter(|t| t.desired_state <= TaskState::Running)
        .flat_map(|t| w.state.addresses(&Owner::Task(t.id.clone())).to_vec())
        .map(|a| a.addr)
        .collect();
    all.sort();
    all
}

#[test]
fn addresses_are_handed_out_serially_not_into_a_hole_just_released() {
    let mut w = world(&[("front", "10.7.0.0/24")]).service(
        "web",
        ServiceMode::Replicated { replicas: 3 },
        on(&["front"]),
    );
    settle(&mut w);
    let before = held_by_tasks(&w);
    w.set_replicas("web", 2);
    settle(&mut w);
    let two = held_by_tasks(&w);
    let released: Vec<&Ipv4Addr> = before.iter().filter(|a| !two.contains(a)).collect();
    assert!(!released.is_empty());
    w.set_replicas("web", 3);
    settle(&mut w);
    let three = held_by_tasks(&w);
    let fresh: Vec<&Ipv4Addr> = three.iter().filter(|a| !two.contains(a)).collect();
    assert_eq!(fresh.len(), 1);
    assert!(
        *fresh[0] > *two.iter().max().unwrap() && !released.contains(&fresh[0]),
        "{fresh:?} continues after {two:?}, not in {released:?}"
    );
}

#[test]
fn a_full_pool_wraps_to_the_addresses_released_before() {
    // A /29: .1 gateway, .2 the VIP, .3–.6 the only task addresses.
    let mut w = world(&[("front", "10.7.0.0/29")]).service(
        "web",
        ServiceMode::Replicated { replicas: 4 },
        on(&["front"]),
    );
    settle(&mut w);
    assert_eq!(held_by_tasks(&w).len(), 4);
    w.set_replicas("web", 3);
    settle(&mut w);
    w.set_replicas("web", 4);
    settle(&mut w);
    let all = held_by_tasks(&w);
    assert_eq!(all.len(), 4, "the wrap finds the released address: {all:?}");
}

#[test]
fn nodes_past_a_full_ingress_network_go_without_and_the_first_freed_address_is_taken() {
    // A /29 holds 5 addresses for nodes besides the gateway: 8 nodes, 3 go without.
    let ids: Vec<String> = (1..=8).map(|i| format!("n{i}")).collect();
    let names: Vec<&str> = ids.iter().map(String::as_str).collect();
    let mut w = World::new().nodes(&names);
    let spec = NetworkSpec {
        name: network::INGRESS.into(),
        driver: types::network::OVERLAY.into(),
        ingress: true,
        ..overlay("ingress", "10.9.0.0/29")
    };
    let (op, _) = network::create(&w.state, "ing".into(), spec).unwrap();
    w.commit_op(op);
    w.try_commit(allocate(&w.state)).unwrap();
    let holding = |w: &World| {
        ids.iter()
            .filter(|id| !w.state.addresses(&Owner::Node(id.to_string())).is_empty())
            .count()
    };
    assert_eq!(holding(&w), 5);
    // A full network: a second pass plans nothing, and keeps what the nodes hold.
    assert!(allocate(&w.state).is_empty());

    // A holder goes: its address is free again and one node that had none takes it.
    let holder = ids
        .iter()
        .find(|id| !w.state.addresses(&Owner::Node(id.to_string())).is_empty())
        .unwrap()
        .clone();
    w.commit_op(Op::Delete {
        kind: types::Kind::Node,
        id: holder.clone(),
        expect_version: None,
    });
    w.try_commit(allocate(&w.state)).unwrap();
    assert_eq!(holding(&w), 5);
    assert!(w.state.addresses(&Owner::Node(holder)).is_empty());
}

#[test]
fn a_network_of_two_subnets_fills_the_first_then_the_next() {
    // `--subnet 10.9.9.0/29 --subnet 10.9.10.0/29`: 5 assignable addresses in each (the
    // gateway takes one of six host addresses), a full first subnet spilling into the second.
    let mut w = World::new().nodes(&["n1", "n2"]);
    let mut spec = overlay("two", "10.9.9.0/29");
    spec.ipam.push(types::IpamConfig {
        subnet: "10.9.10.0/29".into(),
        ..Default::default()
    });
    let (op, _) = network::create(&w.state, "net-two".into(), spec).unwrap();
    w.commit_op(op);
    let mut w = w.service("web", ServiceMode::Replicated { replicas: 7 }, on(&["two"]));
    settle(&mut w);
    let held: Vec<Ipv4Addr> = w.state.held_on("net-two").map(|(ip, _)| ip).collect();
    let first: Vec<Ipv4Addr> = (2..=6).map(|d| Ipv4Addr::new(10, 9, 9, d)).collect();
    let second: Vec<Ipv4Addr> = (2..=4).map(|d| Ipv4Addr::new(10, 9, 10, d)).collect();
    assert_eq!(
        held,
        [first, second].concat(),
        "the VIP and 7 tasks, first subnet first"
    );
    assert!(
        w.runnable_tasks("web")
            .iter()
            .all(|t| t.status.state == TaskState::Running)
    );
    // Beyond both: the 10th address does not exist, the task waits saying so.
    w.set_replicas("web", 10);
    settle(&mut w);
    let stuck: Vec<_> = w
        .runnable_tasks("web")
        .into_iter()
        .filter(|t| t.status.state == TaskState::New)
        .collect();
    assert_eq!(stuck.len(), 1);
    assert_eq!(stuck[0].status.err, "no address available on network two");
}
