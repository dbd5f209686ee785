//! Property test of IPAM: random sequences of network and service changes, task failures,
//! node loss and leader changes, with the real orchestrator, allocator and scheduler. After
//! every step an oracle written from the rules checks what the store holds:
//!
//! - no address is held twice on a network (across all its subnets), and each held one is
//!   assignable in the subnet that holds it (inside the
//!   range, never the gateway, an auxiliary address, the network or broadcast address);
//! - a service holds one VIP per network of its spec (none with dnsrr), a task at most one
//!   address per network, and every task past NEW that should run holds one on each of its
//!   networks;
//! - only existing tasks and services hold addresses, and a task only while it may still
//!   run (not stopped; not unwanted and unplaced or on a node that is down).
//!
//! At the end everything is removed and the pools must be empty.
//! A failure prints the shrunk steps and the seed; `PROPTEST_RNG_SEED=<seed>` replays it.

use std::collections::BTreeSet;
use std::sync::Arc;

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use state::{Op, Owner, TaskChange, TaskUpdate};
use types::{EndpointSpec, NetworkAttachment, NetworkSpec, TaskSpec, TaskState, TaskStatus};

use super::{allocate, allocate_ids};
use crate::controlapi::{network, service};
use crate::orchestrator::fixtures::World;
use crate::orchestrator::proptests::run;

const NODES: [&str; 3] = ["n1", "n2", "n3"];

/// One event.
#[derive(Debug, Clone)]
enum Step {
    /// `network create` of network k (a small user subnet with a range and an auxiliary
    /// address when `small`, with a second small subnet after it when `two`, else one from
    /// the default pool).
    CreateNetwork { k: u8, small: bool, two: bool },
    /// `service create` of service k on the networks in the mask, vip or dnsrr.
    CreateService {
        k: u8,
        nets: u8,
        replicas: u64,
        dnsrr: bool,
    },
    /// `service scale`.
    Scale { k: u8, replicas: u64 },
    /// `service update` to the networks in the mask.
    SetNetworks { k: u8, nets: u8 },
    /// `service rm`.
    RemoveService(u8),
    /// The n-th running task fails.
    Fail(usize),
    /// A node goes down, or comes back.
    Node { n: usize, up: bool },
    /// A new leader: the next allocator pass is a full one over the store.
    LeaderChange,
    /// `network rm` (refused while in use).
    RemoveNetwork(u8),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        2 => (0u8..4, any::<bool>(), any::<bool>())
            .prop_map(|(k, small, two)| Step::CreateNetwork { k, small, two }),
        3 => (0u8..4, 0u8..16, 0u64..6, prop::bool::weighted(0.2))
            .prop_map(|(k, nets, replicas, dnsrr)| Step::CreateService { k, nets, replicas, dnsrr }),
        3 => (0u8..4, 0u64..8).prop_map(|(k, replicas)| Step::Scale { k, replicas }),
        2 => (0u8..4, 0u8..16).prop_map(|(k, nets)| Step::SetNetworks { k, nets }),
        1 => (0u8..4).prop_map(Step::RemoveService),
        2 => (0usize..8).prop_map(Step::Fail),
        1 => (0usize..3, any::<bool>()).prop_map(|(n, up)| Step::Node { n, up }),
        1 => Just(Step::LeaderChange),
        1 => (0u8..4).prop_map(Step::RemoveNetwork),
    ]
}

struct Sim {
    w: World,
    full_pass: bool,
}

fn net_name(k: u8) -> String {
    format!("net{k}")
}

fn attachments(w: &World, mask: u8) -> Vec<NetworkAttachment> {
    (0..4u8)
        .filter(|k| mask & (1 << k) != 0)
        .filter(|k| w.state.network_by_name(&net_name(*k)).is_some())
        .map(|k| NetworkAttachment {
            target: net_name(k),
            ..Default::default()
        })
        .collect()
}

impl Sim {
    fn new() -> Sim {
        Sim {
            w: World::new().nodes(&NODES),
            full_pass: true,
        }
    }

    fn step(&mut self, step: &Step) -> Result<(), TestCaseError> {
        let w = &mut self.w;
        match *step {
            Step::CreateNetwork { k, small, two } => {
                let mut spec = NetworkSpec {
                    name: net_name(k),
                    driver: "overlay".into(),
                    ..Default::default()
                };
                if small {
                    // 14 usable addresses, of which the range holds 7 minus one auxiliary.
                    spec.ipam = vec![types::IpamConfig {
                        subnet: format!("192.168.{k}.0/28"),
                        ip_range: format!("192.168.{k}.8/29"),
                        gateway: format!("192.168.{k}.14"),
                        aux_addresses: [("db".to_string(), format!("192.168.{k}.9"))].into(),
                    }];
                    if two {
                        // `--subnet A --subnet B`: 5 more addresses once the first is full.
                        spec.ipam.push(types::IpamConfig {
                            subnet: format!("192.168.{}.0/29", 100 + k),
                            ..Default::default()
                        });
                    }
                }
                if let Ok((op, _)) = network::create(&w.state, format!("id-{}", net_name(k)), spec) {
                    w.commit_op(op);
                }
            }
            Step::CreateService {
                k,
                nets,
                replicas,
                dnsrr,
            } => {
                let mut spec = types::testing::service(&format!("s{k}"))
                    .replicas(replicas)
                    .task(TaskSpec {
                        networks: attachments(w, nets),
                        ..Default::default()
                    })
                    .image("busybox")
                    .spec();
                spec.endpoint = dnsrr.then(|| EndpointSpec {
                    mode: "dnsrr".into(),
                    ports: vec![],
                });
                if let Ok(op) = service::create(&w.state, format!("svc-s{k}"), spec, w.now) {
                    w.commit_op(op);
                }
            }
            Step::Scale { k, replicas } => {
                if w.state.service_by_name(&format!("s{k}")).is_some() {
                    w.set_replicas(&format!("s{k}"), replicas);
                }
            }
            Step::SetNetworks { k, nets } => {
                if w.state.service_by_name(&format!("s{k}")).is_some() {
                    let nets = attachments(w, nets);
                    w.update_service(&format!("s{k}"), |s| Arc::make_mut(&mut s.task).networks = nets);
                }
            }
            Step::RemoveService(k) => {
                if w.state.service_by_name(&format!("s{k}")).is_some() {
                    w.delete_service(&format!("s{k}"));
                }
            }
            Step::Fail(n) => {
                let running: Vec<String> = w
                    .state
                    .tasks()
                    .filter(|t| t.status.state == TaskState::Running)
                    .map(|t| t.id.clone())
                    .collect();
                if !running.is_empty() {
                    let id = running[n % running.len()].clone();
                    w.fail_where(|t| t.id == id);
                }
            }
            Step::Node { n, up } => {
                let mut node = (**w.state.node(NODES[n]).expect("node")).clone();
                node.status.state = if up {
                    types::NodeState::Ready
                } else {
                    types::NodeState::Down
                };
                w.apply_node(node);
            }
            Step::LeaderChange => self.full_pass = true,
            Step::RemoveNetwork(k) => {
                if let Ok(op) = network::remove(&w.state, &net_name(k)) {
                    w.commit_op(op);
                }
            }
        }
        self.pass()?;
        self.check()
    }

    /// One control-loop round: orchestrator, agents, allocator (incremental over the tasks
    /// that exist, or full after a leader change), scheduler. The allocator comes after the
    /// agents so that the oracle sees what it made of their reports.
    fn pass(&mut self) -> Result<(), TestCaseError> {
        self.w.settle();
        self.agents();
        let w = &mut self.w;
        let ops = if std::mem::take(&mut self.full_pass) {
            allocate(&w.state)
        } else {
            let ids: Vec<String> = w.state.tasks().map(|t| t.id.clone()).collect();
            allocate_ids(&w.state, &ids)
        };
        if !ops.is_empty()
            && let Err(e) = w.try_commit(ops)
        {
            return Err(TestCaseError::fail(format!(
                "the store refused the allocator's plan: {e}"
            )));
        }
        for op in crate::scheduler::schedule(&w.state).to_ops() {
            w.commit_op(op);
        }
        Ok(())
    }

    /// The agents of nodes that are up report: assigned tasks run, tasks told to stop stop.
    /// A down node's agent says nothing, so its tasks stay as they were.
    fn agents(&mut self) {
        let s = &self.w.state;
        let updates: Vec<TaskUpdate> = s
            .tasks()
            .filter(|t| {
                s.node(&t.node_id)
                    .is_some_and(|n| n.status.state != types::NodeState::Down)
            })
            .filter_map(|t| {
                let state = if t.desired_state >= TaskState::Shutdown
                    && t.status.state >= TaskState::Assigned
                    && !t.status.state.is_terminal()
                {
                    TaskState::Shutdown
                } else if t.status.state == TaskState::Assigned
                    && matches!(t.desired_state, TaskState::Running | TaskState::Complete)
                {
                    TaskState::Running
                } else {
                    return None;
                };
                Some(TaskUpdate {
                    id: t.id.clone(),
                    change: TaskChange::Status(TaskStatus {
                        timestamp: self.w.now,
                        state,
                        ..Default::default()
                    }),
                })
            })
            .collect();
        if !updates.is_empty() {
            self.w.commit_op(Op::UpdateTasks(updates));
        }
    }

    fn check(&self) -> Result<(), TestCaseError> {
        let s = &self.w.state;
        let mut seen: BTreeSet<(String, std::net::Ipv4Addr)> = BTreeSet::new();
        for (owner, addrs) in s.address_holders() {
            let mut nets = BTreeSet::new();
            match owner {
                Owner::Task(id) => {
                    let t = s.task(id);
                    prop_assert!(t.is_some(), "{owner} is gone but holds {addrs:?}");
                    let t = t.expect("checked");
                    // After a pass, a task holds addresses only while it may still run.
                    let node_up = s
                        .node(&t.node_id)
                        .is_some_and(|n| n.status.state != types::NodeState::Down);
                    let may_run = !t.status.state.is_terminal()
                        && (t.desired_state <= TaskState::Complete
                            || (t.status.state >= TaskState::Assigned && node_up));
                    prop_assert!(may_run, "{owner} is done but still holds {addrs:?}: {t:?}");
                }
                Owner::Service(id) => prop_assert!(s.service(id).is_some(), "{owner} is gone"),
                Owner::Node(id) => prop_assert!(s.node(id).is_some(), "{owner} is gone"),
            }
            for a in addrs {
                let net = s.network(&a.network_id);
                prop_assert!(net.is_some(), "{owner} holds {a:?} on a network that is gone");
                let net = net.expect("checked");
                let pool = net.pool_of(a.addr);
                prop_assert!(
                    pool.is_some_and(|p| p.assignable(a.addr)),
                    "{owner} holds {} on {}, which is not assignable",
                    a.addr,
                    net.spec.name
                );
                prop_assert!(
                    seen.insert((a.network_id.clone(), a.addr)),
                    "{} handed out twice",
                    a.addr
                );
                prop_assert!(
                    nets.insert(a.network_id.clone()),
                    "{owner} holds two addresses on one network"
                );
            }
        }
        for svc in s.services() {
            let held: BTreeSet<&str> = s
                .addresses(&Owner::Service(svc.id.clone()))
                .iter()
                .map(|a| a.network_id.as_str())
                .collect();
            let dnsrr = svc.spec.endpoint.as_ref().is_some_and(|e| e.mode == "dnsrr");
            let wanted: BTreeSet<&str> = if dnsrr {
                BTreeSet::new()
            } else {
                svc.spec.task.networks.iter().map(|n| n.target.as_str()).collect()
            };
            // A network may be full: never more than wanted, and nothing else.
            prop_assert!(
                held.is_subset(&wanted),
                "{}: VIPs on {held:?}, wanted {wanted:?}",
                svc.spec.name
            );
        }
        for t in s.tasks() {
            if t.status.state > TaskState::New
                && t.status.state <= TaskState::Running
                && t.desired_state <= TaskState::Running
            {
                let held: BTreeSet<&str> = s
                    .addresses(&Owner::Task(t.id.clone()))
                    .iter()
                    .map(|a| a.network_id.as_str())
                    .collect();
                let wanted: BTreeSet<&str> = t.spec.networks.iter().map(|n| n.target.as_str()).collect();
                prop_assert_eq!(held, wanted, "task {} past NEW", &t.id);
            }
        }
        Ok(())
    }

    /// Removes every service, lets the tasks stop and be reaped, removes every network:
    /// nothing may stay held.
    fn teardown(&mut self) -> Result<(), TestCaseError> {
        for n in NODES {
            self.step(&Step::Node {
                n: NODES.iter().position(|x| *x == n).unwrap_or(0),
                up: true,
            })?;
        }
        for k in 0..4 {
            self.step(&Step::RemoveService(k))?;
        }
        for _ in 0..4 {
            self.pass()?;
        }
        prop_assert_eq!(self.w.state.address_holders().count(), 0, "addresses leaked");
        for k in 0..4 {
            self.step(&Step::RemoveNetwork(k))?;
        }
        prop_assert_eq!(
            self.w.state.networks().count(),
            0,
            "a network could not be removed"
        );
        Ok(())
    }
}

#[test]
fn addresses_are_never_handed_out_twice_and_never_leak() {
    run(200, prop::collection::vec(step(), 0..40), |steps| {
        let mut sim = Sim::new();
        for s in &steps {
            sim.step(s)?;
        }
        sim.teardown()
    });
}
