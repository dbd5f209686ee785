//! A fake in-memory `Backend` for the router and docker CLI tests: a real `store::State`
//! changed through the manager's own `controlapi` rules, so refusals read as the daemon's.

// Each test binary uses a different part of this module.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use api::backend::{
    Backend, InitRequest, JoinRequest, LocalNodeState, ManagerInfo, NodeView, Result, SwarmStatus,
};
use manager::controlapi::cluster::Rotation;
use manager::controlapi::node::NodeFilters;
use rand::SeedableRng;
use rand::rngs::StdRng;
use store::{Op, State, Txn};
use types::{
    Availability, Cluster, ClusterSpec, EngineDescription, JoinTokens, ManagerStatus, Meta, Node,
    NodeDescription, NodeSpec, NodeState, NodeStatus, Object, Platform, Reachability, Resources, Role,
    RootCa, Timestamp,
};

/// The manager this fake daemon runs on (and leads).
pub const MANAGER_ID: &str = "m1aaaaaaaaaaaaaaaaaaaaaaa";
/// A ready worker.
pub const WORKER_ID: &str = "w1bbbbbbbbbbbbbbbbbbbbbbb";
/// A worker that is down (removable without force).
pub const DOWN_ID: &str = "w2ccccccccccccccccccccccc";
/// The cluster's ID.
pub const CLUSTER_ID: &str = "c1ddddddddddddddddddddddd";
/// The worker join token.
pub const WORKER_TOKEN: &str = "SWMTKN-1-worker-token-for-tests";
/// The manager join token.
pub const MANAGER_TOKEN: &str = "SWMTKN-1-manager-token-for-tests";
/// Text of the CA key; it must never appear in a response.
pub const KEY_MARKER: &str = "TEST-CA-KEY-MUST-NOT-LEAK";
/// Wall-clock time of every write (2026-11-27T05:01:02.123456789Z).
pub const NOW: Timestamp = Timestamp(1_795_755_662_123_456_789);

/// The fake daemon.
pub struct FakeBackend {
    inner: Mutex<Inner>,
}

struct Inner {
    state: State,
    status: SwarmStatus,
    calls: Vec<String>,
    fail_next: Option<manager::Error>,
    rng: StdRng,
}

fn node(id: &str, hostname: &str, role: Role, state: NodeState, addr: &str) -> Node {
    Node {
        id: id.into(),
        meta: Meta::default(),
        spec: NodeSpec {
            name: String::new(),
            labels: BTreeMap::new(),
            role,
            availability: Availability::Active,
        },
        description: NodeDescription {
            hostname: hostname.into(),
            platform: Platform {
                architecture: "x86_64".into(),
                os: "linux".into(),
            },
            resources: Resources {
                nano_cpus: 2_000_000_000,
                memory_bytes: 4 << 30,
            },
            engine: EngineDescription {
                engine_version: "0.1.0".into(),
                labels: BTreeMap::new(),
            },
        },
        status: NodeStatus {
            state,
            message: String::new(),
            addr: addr.into(),
        },
        manager_status: (role == Role::Manager).then(|| ManagerStatus {
            raft_id: 1,
            addr: format!("{addr}:2377"),
        }),
        role,
    }
}

impl FakeBackend {
    /// A one-manager, two-worker swarm seen from its manager.
    pub fn new() -> Arc<FakeBackend> {
        let ca = ca::RootCa::generate(1_700_000_000).expect("a test CA");
        let cluster = Cluster {
            id: CLUSTER_ID.into(),
            meta: Meta::default(),
            spec: ClusterSpec::default(),
            root_ca: RootCa {
                ca_cert_pem: ca.cert_pem().to_string(),
                ca_key_pem: format!("-----BEGIN PRIVATE KEY-----\n{KEY_MARKER}\n-----END PRIVATE KEY-----\n"),
                join_tokens: JoinTokens {
                    worker: WORKER_TOKEN.into(),
                    manager: MANAGER_TOKEN.into(),
                },
            },
            default_addr_pool: vec!["10.0.0.0/8".into()],
            subnet_size: 24,
            data_path_port: 4789,
        };
        let objects = vec![
            Object::Cluster(cluster),
            Object::Node(node(
                MANAGER_ID,
                "alpha",
                Role::Manager,
                NodeState::Ready,
                "10.0.0.1",
            )),
            Object::Node(node(
                WORKER_ID,
                "beta",
                Role::Worker,
                NodeState::Ready,
                "10.0.0.2",
            )),
            Object::Node(node(DOWN_ID, "gamma", Role::Worker, NodeState::Down, "10.0.0.3")),
        ];
        let txn = Txn {
            id: 0,
            ops: objects.into_iter().map(Op::Create).collect(),
            now: NOW,
        };
        let (state, _) = State::default().apply(&txn, 1).expect("the fixture applies");
        let status = SwarmStatus {
            state: LocalNodeState::Active,
            node_id: MANAGER_ID.into(),
            node_addr: "10.0.0.1".into(),
            control_available: true,
            error: String::new(),
            remote_managers: vec![(MANAGER_ID.into(), "10.0.0.1:2377".into())],
        };
        let inner = Inner {
            state,
            status,
            calls: Vec::new(),
            fail_next: None,
            rng: StdRng::seed_from_u64(7),
        };
        Arc::new(FakeBackend {
            inner: Mutex::new(inner),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A test that panicked while holding the lock already failed; keep reading its state.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Backend methods called so far (async ones only), in order.
    pub fn calls(&self) -> Vec<String> {
        self.lock().calls.clone()
    }

    /// Makes the next async call fail with `error`.
    pub fn fail_next(&self, error: manager::Error) {
        self.lock().fail_next = Some(error);
    }

    /// The swarm status as set now.
    pub fn status(&self) -> SwarmStatus {
        self.lock().status.clone()
    }

    /// Replaces the swarm status (e.g. to look like a worker or an inactive node).
    pub fn set_status(&self, status: SwarmStatus) {
        self.lock().status = status;
    }

    /// A node as stored now.
    pub fn stored_node(&self, id: &str) -> Node {
        (**self.lock().state.node(id).expect("the node exists")).clone()
    }

    /// The cluster as stored now.
    pub fn stored_cluster(&self) -> Cluster {
        (**self.lock().state.cluster().expect("the cluster exists")).clone()
    }

    /// Records a call and returns the injected failure, if any.
    fn enter(&self, call: &str) -> Result<MutexGuard<'_, Inner>> {
        let mut inner = self.lock();
        inner.calls.push(call.to_string());
        match inner.fail_next.take() {
            Some(error) => Err(error),
            None => Ok(inner),
        }
    }
}

impl Inner {
    fn commit(&mut self, op: Op) -> Result<()> {
        let index = self.state.index + 1;
        let (next, _) = self.state.apply(
            &Txn {
                id: 0,
                ops: vec![op],
                now: NOW,
            },
            index,
        )?;
        self.state = next;
        Ok(())
    }

    fn view(&self, node: &Arc<Node>) -> NodeView {
        let reachability = if node.manager_status.is_some() {
            Reachability::Reachable
        } else {
            Reachability::Unknown
        };
        NodeView {
            node: node.clone(),
            leader: node.id == MANAGER_ID,
            reachability,
        }
    }
}

#[async_trait::async_trait]
impl Backend for FakeBackend {
    fn swarm_status(&self) -> SwarmStatus {
        self.lock().status.clone()
    }

    fn manager_info(&self) -> Option<ManagerInfo> {
        let inner = self.lock();
        if !inner.status.control_available {
            return None;
        }
        let state = &inner.state;
        Some(ManagerInfo {
            nodes: state.node_count(),
            managers: state.nodes().filter(|n| n.spec.role == Role::Manager).count(),
            cluster: state.cluster()?.clone(),
        })
    }

    fn hostname(&self) -> String {
        "alpha".into()
    }

    async fn swarm_init(&self, _req: InitRequest) -> Result<String> {
        self.enter("swarm_init").map(drop)?;
        Ok(MANAGER_ID.into())
    }

    async fn swarm_join(&self, _req: JoinRequest) -> Result<()> {
        self.enter("swarm_join").map(drop)
    }

    async fn swarm_leave(&self, _force: bool) -> Result<()> {
        self.enter("swarm_leave").map(drop)
    }

    async fn swarm_inspect(&self) -> Result<Arc<Cluster>> {
        let inner = self.enter("swarm_inspect")?;
        inner
            .state
            .cluster()
            .cloned()
            .ok_or_else(|| manager::Error::FailedPrecondition("no swarm".into()))
    }

    async fn swarm_update(&self, version: u64, spec: ClusterSpec, rotation: Rotation) -> Result<()> {
        let mut inner = self.enter("swarm_update")?;
        let inner = &mut *inner;
        let op = manager::controlapi::cluster::update(&inner.state, version, spec, rotation, &mut inner.rng)?;
        inner.commit(op)
    }

    async fn nodes(&self, filters: NodeFilters) -> Result<Vec<NodeView>> {
        let inner = self.enter("nodes")?;
        let nodes = manager::controlapi::node::list(&inner.state, &filters);
        Ok(nodes.iter().map(|n| inner.view(n)).collect())
    }

    async fn node(&self, key: &str) -> Result<NodeView> {
        let inner = self.enter("node")?;
        let node = inner.state.lookup_node(key)?;
        Ok(inner.view(&node))
    }

    async fn node_update(&self, key: &str, version: u64, spec: NodeSpec) -> Result<Option<String>> {
        let mut inner = self.enter("node_update")?;
        let plan = manager::controlapi::node::update(&inner.state, key, version, spec)?;
        inner.commit(plan.op)?;
        Ok(plan.warning)
    }

    async fn node_remove(&self, key: &str, force: bool) -> Result<()> {
        let mut inner = self.enter("node_remove")?;
        let op = manager::controlapi::node::remove(&inner.state, key, force)?;
        inner.commit(op)
    }
}
