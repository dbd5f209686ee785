//! Port allocation through the control API's plans (published ports let through by the
//! test knob), and a property test: no (protocol, port) ever has two ingress owners.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use state::{Op, State};
use types::{EndpointSpec, PortConfig, ServiceSpec};

use super::{DYNAMIC_FIRST, DYNAMIC_LAST, allocate, validate};
use crate::Error;
use crate::controlapi::service;
use crate::controlapi::supported::Publishing;
use crate::orchestrator::fixtures::World;

fn port(protocol: &str, target: u32, published: u32, mode: &str) -> PortConfig {
    PortConfig {
        name: String::new(),
        protocol: protocol.into(),
        target_port: target,
        published_port: published,
        publish_mode: mode.into(),
    }
}

fn ingress(published: u32) -> PortConfig {
    port("tcp", 80, published, "ingress")
}

fn spec(name: &str, ports: Vec<PortConfig>) -> ServiceSpec {
    types::testing::service(name)
        .replicas(0)
        .image("busybox:latest")
        .args(&["sleep", "1"])
        .ports(ports)
        .spec()
}

/// A cluster with its `ingress` network, as `swarm init` makes it.
fn world() -> World {
    let mut w = World::new();
    let (op, _) = crate::controlapi::network::ingress(&w.state, "ing".into()).unwrap();
    w.commit_op(op);
    w
}

fn create(w: &World, name: &str, ports: Vec<PortConfig>) -> crate::Result<Op> {
    service::create_with(
        &w.state,
        format!("svc-{name}"),
        spec(name, ports),
        w.now,
        Publishing::Served,
    )
}

fn update(w: &World, name: &str, ports: Vec<PortConfig>) -> crate::Result<Op> {
    let current = w.state.service_by_name(name).unwrap().clone();
    service::update_with(
        &w.state,
        name,
        current.meta.version,
        spec(name, ports),
        false,
        w.now,
        Publishing::Served,
    )
}

fn published(w: &World, name: &str) -> Vec<u32> {
    let s = w.state.service_by_name(name).unwrap();
    s.endpoint.ports.iter().map(|p| p.published_port).collect()
}

#[test]
fn explicit_and_automatic_ports_are_allocated_and_conflicts_refused_as_dockerd() {
    let mut w = world();
    w.commit_op(create(&w, "web", vec![ingress(8080), ingress(0)]).unwrap());
    assert_eq!(published(&w, "web"), [8080, DYNAMIC_FIRST]);
    w.commit_op(create(&w, "api", vec![ingress(0)]).unwrap());
    assert_eq!(published(&w, "api"), [DYNAMIC_FIRST + 1]);

    let err = create(&w, "clash", vec![ingress(8080)]).unwrap_err();
    assert_eq!(
        err,
        Error::InvalidArgument(
            "port '8080' is already in use by service 'web' (svc-web) as an ingress port".into()
        )
    );
    // Automatic ports are taken as much as explicit ones.
    let err = create(&w, "clash", vec![ingress(DYNAMIC_FIRST)]).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("port '30000' is already in use by service 'web'"),
        "{err}"
    );
    // Another protocol is another port.
    w.commit_op(create(&w, "dns", vec![port("udp", 53, 8080, "ingress")]).unwrap());
    assert_eq!(published(&w, "dns"), [8080]);
    // A fixed port inside the dynamic range is never handed out by a later pick.
    w.commit_op(create(&w, "fixed", vec![ingress(DYNAMIC_FIRST + 2), ingress(0)]).unwrap());
    assert_eq!(published(&w, "fixed"), [DYNAMIC_FIRST + 2, DYNAMIC_FIRST + 3]);
}

#[test]
fn host_mode_ports_are_not_allocated_but_do_not_share_the_meshs_ports() {
    let mut w = world();
    w.commit_op(
        create(
            &w,
            "a",
            vec![port("tcp", 80, 8080, "host"), port("tcp", 81, 8081, "host")],
        )
        .unwrap(),
    );
    // As given (a host-mode 0 is refused before: `controlapi::supported`).
    assert_eq!(published(&w, "a"), [8080, 8081]);
    // Two services on one host port: the scheduler keeps their tasks on different nodes.
    w.commit_op(create(&w, "b", vec![port("tcp", 80, 8080, "host")]).unwrap());
    // The mesh takes the port on every node, so neither way round is allowed.
    let err = create(&w, "mesh", vec![ingress(8080)]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "port '8080' is already in use by service 'a' (svc-a) as a host-published port"
    );
    w.commit_op(create(&w, "mesh", vec![ingress(9090)]).unwrap());
    let err = create(&w, "c", vec![port("tcp", 80, 9090, "host")]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "port '9090' is already in use by service 'mesh' (svc-mesh) as an ingress port"
    );
}

#[test]
fn update_keeps_automatic_ports_and_frees_what_it_drops_and_remove_frees_all() {
    let mut w = world();
    w.commit_op(create(&w, "web", vec![ingress(0), ingress(8080)]).unwrap());
    w.commit_op(create(&w, "other", vec![ingress(0)]).unwrap());
    assert_eq!(published(&w, "other"), [DYNAMIC_FIRST + 1]);
    // Same target and protocol: the automatic port stays; a new one is picked for a new target.
    let mut next = vec![ingress(0), port("tcp", 443, 0, "ingress")];
    w.commit_op(update(&w, "web", next.clone()).unwrap());
    assert_eq!(published(&w, "web"), [DYNAMIC_FIRST, DYNAMIC_FIRST + 2]);
    // 8080 was dropped by the update: free for another service.
    w.commit_op(create(&w, "takes", vec![ingress(8080)]).unwrap());
    // An update may not take a port another service holds.
    next.push(ingress(8080));
    let err = update(&w, "web", next).unwrap_err();
    assert!(
        err.to_string().contains("already in use by service 'takes'"),
        "{err}"
    );
    // Remove frees everything the service held.
    w.commit_op(service::remove(&w.state, "takes").unwrap());
    w.commit_op(create(&w, "again", vec![ingress(8080)]).unwrap());
}

#[test]
fn the_mesh_needs_the_ingress_network() {
    let mut w = World::new();
    let err = create(&w, "web", vec![ingress(8080)]).unwrap_err();
    assert_eq!(
        err,
        Error::FailedPrecondition("service needs ingress network, but no ingress network is present".into())
    );
    // Host mode does not go through it.
    w.commit_op(create(&w, "host", vec![port("udp", 53, 53, "host")]).unwrap());
}

#[test]
fn a_plan_made_from_a_stale_view_is_refused_when_it_applies() {
    let mut w = world();
    let first = create(&w, "a", vec![ingress(0)]).unwrap();
    let second = create(&w, "b", vec![ingress(0)]).unwrap();
    w.commit_op(first);
    let err = w.try_commit(vec![second]).unwrap_err();
    assert_eq!(
        Error::from(err).to_string(),
        "port '30000' is already in use by service 'a' (svc-a) as an ingress port"
    );
    assert!(w.state.service_by_name("b").is_none());
}

#[test]
fn specs_are_checked_on_their_own() {
    let ok = EndpointSpec {
        mode: "dnsrr".into(),
        ports: vec![port("tcp", 80, 8080, "host")],
    };
    assert_eq!(validate(&ok), Ok(()));
    let cases = [
        (
            "dnsrr",
            vec![ingress(8080)],
            "EndpointSpec: port published with ingress mode can't be used with dnsrr mode",
        ),
        (
            "vip",
            vec![ingress(8080), port("tcp", 81, 8080, "host")],
            "EndpointSpec: duplicate published ports provided",
        ),
        (
            "vip",
            vec![port("icmp", 80, 0, "ingress")],
            "EndpointSpec: unsupported port protocol \"icmp\" (expected tcp, udp or sctp)",
        ),
        (
            "vip",
            vec![ingress(70000)],
            "EndpointSpec: invalid published port 70000: it must be between 1 and 65535",
        ),
        (
            "vip",
            vec![port("tcp", 0, 80, "ingress")],
            "EndpointSpec: invalid target port 0: it must be between 1 and 65535",
        ),
    ];
    for (mode, ports, message) in cases {
        let e = EndpointSpec {
            mode: mode.into(),
            ports,
        };
        assert_eq!(validate(&e), Err(Error::InvalidArgument(message.into())), "{e:?}");
    }
    // Zero published ports never clash with each other.
    let zeros = EndpointSpec {
        mode: "vip".into(),
        ports: vec![ingress(0), ingress(0)],
    };
    assert_eq!(validate(&zeros), Ok(()));
}

#[test]
fn an_exhausted_range_is_refused() {
    let state = State::default();
    let every = EndpointSpec {
        mode: "vip".into(),
        ports: (DYNAMIC_FIRST..=DYNAMIC_LAST).map(ingress).collect(),
    };
    assert!(allocate(&state, None, &every, &[]).is_ok());
    let mut one_more = every.clone();
    one_more.ports.push(ingress(0));
    let err = allocate(&state, None, &one_more, &[]).unwrap_err();
    assert_eq!(
        err,
        Error::FailedPrecondition("no free tcp port left in 30000-32767 to publish target port 80".into())
    );
}

/// One step of the property test.
#[derive(Debug, Clone)]
enum Step {
    /// Create service k with these ports.
    Create(u8, Vec<PortConfig>),
    /// Update service k to these ports.
    Update(u8, Vec<PortConfig>),
    /// Remove service k.
    Remove(u8),
    /// Two creates planned from the same view, then applied one after the other.
    Race(u8, u8, Vec<PortConfig>),
}

fn port_gen() -> impl Strategy<Value = PortConfig> {
    (
        prop::sample::select(vec!["tcp", "udp", "sctp"]),
        1u32..4,
        // A few fixed ports, some inside the dynamic range, and many automatic ones.
        prop::sample::select(vec![0, 0, 0, 8080, 8081, DYNAMIC_FIRST, DYNAMIC_FIRST + 1]),
        prop::sample::select(vec!["ingress", "ingress", "host"]),
    )
        .prop_map(|(proto, target, published, mode)| port(proto, target, published, mode))
}

fn step_gen() -> impl Strategy<Value = Step> {
    let ports = || prop::collection::vec(port_gen(), 0..4);
    prop_oneof![
        3 => (0u8..6, ports()).prop_map(|(k, p)| Step::Create(k, p)),
        3 => (0u8..6, ports()).prop_map(|(k, p)| Step::Update(k, p)),
        1 => (0u8..6).prop_map(Step::Remove),
        1 => (0u8..6, 0u8..6, ports()).prop_map(|(a, b, p)| Step::Race(a, b, p)),
    ]
}

fn name(k: u8) -> String {
    format!("s{k}")
}

/// The oracle: one ingress owner per (protocol, port); every service's ports are its spec's,
/// with each automatic ingress port filled from the dynamic range; host-mode ports as given.
fn check(state: &State) -> Result<(), TestCaseError> {
    let mut owners: BTreeMap<(String, u32), String> = BTreeMap::new();
    for s in state.services() {
        let spec_ports = s
            .spec
            .endpoint
            .as_ref()
            .map(|e| e.ports.clone())
            .unwrap_or_default();
        prop_assert_eq!(s.endpoint.ports.len(), spec_ports.len(), "{}", s.spec.name);
        let mut own: BTreeSet<(String, u32)> = BTreeSet::new();
        for (want, got) in spec_ports.iter().zip(&s.endpoint.ports) {
            prop_assert_eq!(
                (&want.protocol, want.target_port),
                (&got.protocol, got.target_port)
            );
            let is_ingress = want.publish_mode != "host";
            if want.published_port != 0 || !is_ingress {
                prop_assert_eq!(want.published_port, got.published_port);
            } else {
                prop_assert!((DYNAMIC_FIRST..=DYNAMIC_LAST).contains(&got.published_port));
            }
            if is_ingress {
                let key = (got.protocol.clone(), got.published_port);
                prop_assert!(own.insert(key.clone()), "{} holds {:?} twice", s.spec.name, key);
                if let Some(other) = owners.insert(key.clone(), s.spec.name.clone()) {
                    prop_assert!(false, "{:?} held by {} and {}", key, other, s.spec.name);
                }
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn no_port_has_two_owners(steps in prop::collection::vec(step_gen(), 1..40)) {
        let mut w = world();
        for step in steps {
            match step {
                Step::Create(k, ports) => {
                    if let Ok(op) = create(&w, &name(k), ports) {
                        let _ = w.try_commit(vec![op]);
                    }
                }
                Step::Update(k, ports) => {
                    if w.state.service_by_name(&name(k)).is_some()
                        && let Ok(op) = update(&w, &name(k), ports)
                    {
                        let _ = w.try_commit(vec![op]);
                    }
                }
                Step::Remove(k) => {
                    if let Ok(op) = service::remove(&w.state, &name(k)) {
                        let _ = w.try_commit(vec![op]);
                    }
                }
                Step::Race(a, b, ports) => {
                    let first = create(&w, &name(a), ports.clone());
                    let second = create(&w, &name(b), ports);
                    for op in [first, second].into_iter().flatten() {
                        // The store decides: the later one is refused if it clashes.
                        let _ = w.try_commit(vec![op]);
                    }
                }
            }
            check(&w.state)?;
        }
    }
}

#[test]
fn a_rollback_allocates_its_previous_ports_again() {
    let mut w = world();
    w.commit_op(create(&w, "web", vec![ingress(0), ingress(8080)]).unwrap());
    w.commit_op(update(&w, "web", vec![]).unwrap());
    assert!(published(&w, "web").is_empty());
    // While unpublished, another service takes what web held.
    w.commit_op(create(&w, "other", vec![ingress(0)]).unwrap());
    assert_eq!(published(&w, "other"), [DYNAMIC_FIRST]);
    let rollback = |w: &World| {
        let web = w.state.service_by_name("web").unwrap().clone();
        service::update_with(
            &w.state,
            "web",
            web.meta.version,
            web.spec.clone(),
            true,
            w.now,
            Publishing::Served,
        )
    };
    // Its automatic port is picked anew.
    w.commit_op(rollback(&w).unwrap());
    assert_eq!(published(&w, "web"), [DYNAMIC_FIRST + 1, 8080]);
    // Rolled forward again (no ports), then 8080 taken: rolling back to it is refused.
    w.commit_op(rollback(&w).unwrap());
    w.commit_op(create(&w, "takes", vec![ingress(8080)]).unwrap());
    let err = rollback(&w).unwrap_err();
    assert!(
        err.to_string().contains("already in use by service 'takes'"),
        "{err}"
    );
}
