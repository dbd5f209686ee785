//! Network views on small worlds, and the diff's laws over random views.

use std::net::Ipv4Addr;

use proptest::prelude::*;
use types::{
    EndpointSpec, EndpointView, NetworkAttachment, NetworkDelta, NetworkSpec, ServiceMode, ServiceView,
    TaskSpec,
};

use super::*;
use crate::allocator::allocate;
use crate::controlapi::network;
use crate::orchestrator::fixtures::World;

fn overlay(name: &str, subnet: &str) -> NetworkSpec {
    NetworkSpec {
        name: name.into(),
        driver: "overlay".into(),
        ipam: vec![types::IpamConfig {
            subnet: subnet.into(),
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn on(nets: &[(&str, &[&str])]) -> TaskSpec {
    TaskSpec {
        networks: nets
            .iter()
            .map(|(n, aliases)| NetworkAttachment {
                target: n.to_string(),
                aliases: aliases.iter().map(|a| a.to_string()).collect(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

/// Nodes n1..n3 at 192.168.0.1..3 (n4 without an address), networks `front` and `back`.
fn world() -> World {
    let mut w = World::new().nodes(&["n1", "n2", "n3", "n4"]);
    for (i, id) in ["n1", "n2", "n3"].iter().enumerate() {
        let mut n = (**w.state.node(id).unwrap()).clone();
        n.status.addr = format!("192.168.0.{}", i + 1);
        w.apply_node(n);
    }
    for (name, subnet) in [("front", "10.1.0.0/24"), ("back", "10.2.0.0/24")] {
        let (op, _) = network::create(&w.state, format!("net-{name}"), overlay(name, subnet)).unwrap();
        w.commit_op(op);
    }
    w
}

/// Orchestrator, allocator and scheduler until nothing moves; agents do not run anything.
fn place(w: &mut World) {
    for _ in 0..4 {
        w.settle();
        let ops = allocate(&w.state);
        if !ops.is_empty() {
            w.try_commit(ops).unwrap();
        }
        for op in crate::scheduler::schedule(&w.state).to_ops() {
            w.commit_op(op);
        }
    }
}

fn ids(view: &NetworkView) -> Vec<(&str, bool)> {
    view.endpoints
        .iter()
        .map(|e| (e.node_id.as_str(), e.serving))
        .collect()
}

#[test]
fn a_node_gets_exactly_the_networks_of_its_tasks_with_every_endpoint_on_them() {
    let mut w = world()
        .service(
            "web",
            ServiceMode::Replicated { replicas: 3 },
            on(&[("front", &["www"]), ("net-back", &[])]),
        )
        .service(
            "db",
            ServiceMode::Replicated { replicas: 1 },
            on(&[("back", &[])]),
        );
    w.update_service("db", |s| {
        s.endpoint = Some(EndpointSpec {
            mode: "dnsrr".into(),
            ports: vec![],
        })
    });
    place(&mut w);
    let db_node = w
        .state
        .tasks_of_service("svc-db")
        .find(|t| assigned_to(t, &t.node_id))
        .map(|t| t.node_id.clone())
        .unwrap();
    for node in ["n1", "n2", "n3", "n4"] {
        let nets: Vec<String> = networks_of_node(&w.state, node).into_iter().collect();
        let web_here = w.state.tasks_on_node(node).any(|t| t.service_id == "svc-web");
        let mut want = Vec::new();
        if web_here || node == db_node {
            want.push("net-back".to_string());
        }
        if web_here {
            want.push("net-front".to_string());
        }
        assert_eq!(nets, want, "{node}");
        let views = views_for_node(&w.state, node);
        assert_eq!(
            views.iter().map(|v| v.network_id.clone()).collect::<Vec<_>>(),
            want
        );
    }
    let front = network_view(&w.state, "net-front").unwrap();
    assert_eq!((front.name.as_str(), front.vni), ("front", 4096));
    // n4 has no address to tunnel to: its task's endpoint is left out, nothing panics.
    let placed_on_n4 = w.state.tasks_on_node("n4").count();
    assert_eq!(front.endpoints.len(), 3 - placed_on_n4.min(1));
    for e in &front.endpoints {
        let t = w.state.task(&e.task_id).unwrap();
        assert_eq!(e.task_name, t.name());
        assert_eq!(e.aliases, ["www"]);
        assert!(!e.serving, "assigned, not running yet");
        let node_addr: Ipv4Addr = w.state.node(&e.node_id).unwrap().status.addr.parse().unwrap();
        assert_eq!(e.vtep, node_addr);
        let held = w.state.addresses(&Owner::Task(t.id.clone()));
        assert!(
            held.iter()
                .any(|a| a.network_id == "net-front" && a.addr == e.addr)
        );
    }
    let vip = w.state.addresses(&Owner::Service("svc-web".into()))[0].addr;
    assert_eq!(
        front.services,
        [ServiceView {
            service_id: "svc-web".into(),
            name: "web".into(),
            vip: Some(vip),
            aliases: vec!["www".into()],
            ports: vec![],
            route_return: false,
            route_return_ports: Vec::new(),
        }]
    );
    let back = network_view(&w.state, "net-back").unwrap();
    let db = back.services.iter().find(|s| s.service_id == "svc-db").unwrap();
    assert_eq!(db.vip, None, "dnsrr: no VIP");
    assert!(network_view(&w.state, "nope").is_none());
}

#[test]
fn running_tasks_serve_and_the_diff_carries_only_what_changed() {
    let mut w = world().nodes(&["n5"]);
    w.node_down("n4");
    w.node_down("n5");
    let mut w = w.service(
        "web",
        ServiceMode::Replicated { replicas: 3 },
        on(&[("front", &[])]),
    );
    place(&mut w);
    let before = network_view(&w.state, "net-front").unwrap();
    assert_eq!(ids(&before).len(), 3);
    assert!(is_empty(&diff(&before, &before)));

    w.run_all();
    let running = network_view(&w.state, "net-front").unwrap();
    assert!(running.endpoints.iter().all(|e| e.serving));
    let d = diff(&before, &running);
    assert_eq!(d.endpoints.len(), 3);
    assert!(d.endpoints_removed.is_empty() && d.services.is_empty());
    let mut applied = before.clone();
    applied.apply(&d);
    assert_eq!(applied, running);

    // Two tasks fail: their endpoints leave the view (their replacements are not placed yet).
    w.fail_where(|t| t.slot != 1);
    let after = network_view(&w.state, "net-front").unwrap();
    assert_eq!(after.endpoints.len(), 1);
    let d = diff(&running, &after);
    assert_eq!(d.endpoints_removed.len(), 2);
    assert!(d.endpoints.is_empty());
    let composed = compose(&diff(&running, &before), &diff(&before, &after));
    let mut applied = running.clone();
    applied.apply(&composed);
    assert_eq!(applied, after);
    // A stopped task's node keeps the network while the task holds its address.
    let gone: Vec<String> = running
        .endpoints
        .iter()
        .filter(|e| after.endpoint(&e.task_id).is_none())
        .map(|e| e.node_id.clone())
        .collect();
    for node in gone {
        let holds = w
            .state
            .tasks_on_node(&node)
            .any(|t| !w.state.addresses(&Owner::Task(t.id.clone())).is_empty());
        assert_eq!(networks_of_node(&w.state, &node).contains("net-front"), holds);
    }
}

#[test]
fn a_renamed_network_is_not_a_delta() {
    let w = world().service(
        "web",
        ServiceMode::Replicated { replicas: 1 },
        on(&[("front", &[])]),
    );
    let a = network_view(&w.state, "net-front").unwrap();
    let mut b = a.clone();
    assert!(same_network(&a, &b));
    b.mtu = Some(1400);
    assert!(!same_network(&a, &b));
}

// --- the laws, over random views -----------------------------------------------------------

fn endpoint_strategy() -> impl Strategy<Value = EndpointView> {
    (0u8..12, 0u8..3, 0u8..4, any::<bool>(), 0u8..3).prop_map(|(task, svc, node, serving, alias)| {
        EndpointView {
            task_id: format!("t{task}"),
            task_name: format!("s{svc}.1.t{task}"),
            service_id: format!("s{svc}"),
            node_id: format!("n{node}"),
            vtep: Ipv4Addr::new(192, 168, 0, node),
            addr: Ipv4Addr::new(10, 0, 0, task + 2),
            aliases: (0..alias).map(|a| format!("a{a}")).collect(),
            serving,
        }
    })
}

fn service_strategy() -> impl Strategy<Value = ServiceView> {
    (0u8..4, proptest::option::of(0u8..4)).prop_map(|(svc, vip)| ServiceView {
        service_id: format!("s{svc}"),
        name: format!("svc{svc}"),
        vip: vip.map(|v| Ipv4Addr::new(10, 0, 1, v)),
        aliases: Vec::new(),
        ports: Vec::new(),
        route_return: false,
        route_return_ports: Vec::new(),
    })
}

/// A view with unique endpoint and service IDs, in any order.
fn view_strategy() -> impl Strategy<Value = NetworkView> {
    (
        proptest::collection::vec(endpoint_strategy(), 0..10),
        proptest::collection::vec(service_strategy(), 0..4),
    )
        .prop_map(|(mut endpoints, mut services)| {
            let mut seen = std::collections::HashSet::new();
            endpoints.retain(|e| seen.insert(e.task_id.clone()));
            let mut seen = std::collections::HashSet::new();
            services.retain(|s| seen.insert(s.service_id.clone()));
            NetworkView {
                network_id: "net".into(),
                name: "front".into(),
                vni: 4096,
                pools: Vec::new(),
                internal: false,
                ingress: false,
                mtu: None,
                encrypted: false,
                endpoints,
                services,
            }
        })
}

fn sorted(mut v: NetworkView) -> NetworkView {
    v.endpoints.sort_by(|a, b| a.task_id.cmp(&b.task_id));
    v.services.sort_by(|a, b| a.service_id.cmp(&b.service_id));
    v
}

fn applied(v: &NetworkView, d: &NetworkDelta) -> NetworkView {
    let mut v = v.clone();
    v.apply(d);
    v
}

proptest! {
    #[test]
    fn applying_the_diff_gives_the_new_view(old in view_strategy(), new in view_strategy()) {
        let d = diff(&old, &new);
        prop_assert_eq!(sorted(applied(&old, &d)), sorted(new.clone()));
        prop_assert_eq!(is_empty(&d), sorted(old) == sorted(new));
    }

    #[test]
    fn composed_deltas_do_what_both_do(a in view_strategy(), b in view_strategy(), c in view_strategy()) {
        let one = compose(&diff(&a, &b), &diff(&b, &c));
        prop_assert_eq!(sorted(applied(&a, &one)), sorted(c));
    }
}
