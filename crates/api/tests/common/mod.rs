//! A fake in-memory `Backend` for the router and docker CLI tests: a real `store::State`
//! changed through the manager's own `controlapi` rules, so refusals read as the daemon's.

#![allow(clippy::unwrap_used)]
// Each test binary uses a different part of this module.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use api::backend::{
    Backend, InitRequest, JoinRequest, LocalNodeState, LogLine, LogOptions, LogStream, LogTarget,
    ManagerInfo, NodeView, Result, ServiceView, SwarmStatus,
};
use futures::stream::{self, BoxStream, StreamExt};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rules::controlapi::cluster::Rotation;
use rules::controlapi::node::NodeFilters;
use rules::controlapi::service::ServiceFilters;
use rules::controlapi::task::TaskFilters;
use store::{Op, State, Txn};
use types::{
    Cluster, ClusterSpec, EngineDescription, JoinTokens, Meta, Node, NodeSpec, NodeState, Object, Platform,
    Reachability, Resources, Role, RootCa, Service, ServiceSpec, Task, TaskState, Timestamp,
};

/// The manager this fake daemon runs on (and leads).
pub const MANAGER_ID: &str = "m1aaaaaaaaaaaaaaaaaaaaaaa";
/// A ready worker.
pub const WORKER_ID: &str = "w1bbbbbbbbbbbbbbbbbbbbbbb";
/// A worker that is down (removable without force).
pub const DOWN_ID: &str = "w2ccccccccccccccccccccccc";
/// The `ingress` network's ID (made by [`FakeBackend::serve_published_ports`]).
pub const INGRESS_ID: &str = "i1eeeeeeeeeeeeeeeeeeeeeee";
/// The cluster's ID.
pub const CLUSTER_ID: &str = "c1ddddddddddddddddddddddd";
/// The worker join token.
pub const WORKER_TOKEN: &str = "SWMTKN-1-worker-token-for-tests";
/// The manager join token.
pub const MANAGER_TOKEN: &str = "SWMTKN-1-manager-token-for-tests";
/// Wall-clock time of every write (2026-11-27T05:01:02.123456789Z).
pub const NOW: Timestamp = Timestamp(1_795_755_662_123_456_789);

/// What every task of the fake daemon logs: (stream, line), one millisecond apart from `NOW`.
pub const LOG_LINES: &[(LogStream, &str)] = &[
    (LogStream::Stdout, "starting up"),
    (LogStream::Stderr, "warning: running on a fake daemon"),
    (LogStream::Stdout, "ready"),
];

/// The fake daemon.
pub struct FakeBackend {
    inner: Mutex<Inner>,
}

struct Inner {
    state: State,
    status: SwarmStatus,
    calls: Vec<String>,
    fail_next: Option<rules::Error>,
    rng: StdRng,
    /// The fake daemon's clock: `NOW`, moved on only while a rolling update waits in
    /// `converge` (so update delays and monitor periods pass without real waiting).
    now: Timestamp,
    /// Published ports: refused as the real daemon does, or let through for the tests of the
    /// port control plane ([`FakeBackend::serve_published_ports`]).
    publishing: rules::controlapi::supported::Publishing,
}

fn node(id: &str, hostname: &str, role: Role, state: NodeState, addr: &str) -> Node {
    let n = types::testing::node(id)
        .hostname(hostname)
        .role(role)
        .state(state)
        .addr(addr);
    let mut n = match role {
        Role::Manager => n.raft_member(1, &format!("{addr}:2377")).build(),
        Role::Worker => n.build(),
    };
    n.description.platform = Platform {
        architecture: "x86_64".into(),
        os: "linux".into(),
    };
    // Room for every service the tests make: the real scheduler places by reservations
    // (the CLI test scales 0.5-CPU tasks to 5 on the one manager).
    n.description.resources = Resources {
        nano_cpus: 8_000_000_000,
        memory_bytes: 16 << 30,
    };
    n.description.engine = EngineDescription {
        engine_version: "0.1.0".into(),
        labels: BTreeMap::new(),
    };
    n
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
                // A real key: a root CA rotation (`ForceRotate`) cross-signs with it.
                ca_key_pem: ca.key_pem().to_string(),
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
            now: NOW,
            publishing: rules::controlapi::supported::PUBLISHING,
        };
        Arc::new(FakeBackend {
            inner: Mutex::new(inner),
        })
    }

    /// Lets published ports through (the real daemon refuses them until the nodes serve
    /// them) and adds the `ingress` network, as `swarm init` makes it.
    pub fn serve_published_ports(&self) {
        let mut inner = self.lock();
        inner.publishing = rules::controlapi::supported::Publishing::Served;
        let (op, _) = rules::controlapi::network::ingress(&inner.state, INGRESS_ID.into()).expect("ingress");
        inner.commit(op).expect("the ingress network applies");
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
    pub fn fail_next(&self, error: rules::Error) {
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

    /// The first line of the CA key's base64 text: no response may contain it.
    pub fn ca_key_line(&self) -> String {
        let key = self.stored_cluster().root_ca.ca_key_pem;
        key.lines().nth(1).expect("a PEM key has a body").to_owned()
    }

    /// A service as stored now (ID, name or prefix).
    pub fn stored_service(&self, key: &str) -> Service {
        (*self.lock().state.lookup_service(key).expect("the service exists")).clone()
    }

    /// Tasks of a service as stored now, ordered by ID.
    pub fn stored_tasks(&self, service_id: &str) -> Vec<Task> {
        self.lock()
            .state
            .tasks_of_service(service_id)
            .map(|t| (**t).clone())
            .collect()
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
        self.commit_all(vec![op])
    }

    fn commit_all(&mut self, ops: Vec<Op>) -> Result<()> {
        let index = self.state.index + 1;
        let (next, _) = self.state.apply(
            &Txn {
                id: 0,
                ops,
                now: self.now,
            },
            index,
        )?;
        self.state = next;
        Ok(())
    }

    /// Runs the real reconcilers, with agents that do at once what they are told, until
    /// the state settles (the service written last among the rest).
    fn converge(&mut self, _service_id: &str) -> Result<()> {
        let rng = &mut self.rng;
        let mut ids = || types::id::new_id(rng);
        let mut settler = rules::settle::Settler {
            state: &mut self.state,
            now: self.now,
            ids: &mut ids,
        };
        let settled = settler.settle().map_err(rules::Error::Internal);
        self.now = settler.now;
        settled
    }

    /// The service as the daemon shows it: its VIPs from the address table in
    /// `Endpoint.VirtualIPs` (as `shoal::daemon::networks::with_vips`).
    fn service_view(&self, service: &Arc<Service>) -> ServiceView {
        let vips = self.state.addresses(&store::Owner::Service(service.id.clone()));
        let mut shown = (**service).clone();
        shown.endpoint.virtual_ips = vips
            .iter()
            .filter_map(|a| {
                let n = self.state.network(&a.network_id)?;
                Some((a.network_id.clone(), n.cidr(a.addr)))
            })
            .collect();
        ServiceView {
            service: Arc::new(shown),
            status: rules::controlapi::service::status(&self.state, service),
        }
    }

    /// The fixed log lines of every task the target names that has run.
    fn log_lines(&self, target: &LogTarget, options: &LogOptions) -> Result<Vec<LogLine>> {
        let tasks: Vec<Arc<Task>> = match target {
            LogTarget::Service(key) => {
                let service = self.state.lookup_service(key)?;
                self.state.tasks_of_service(&service.id).cloned().collect()
            }
            LogTarget::Task(key) => vec![self.state.lookup_task(key)?],
        };
        let mut lines = Vec::new();
        for task in tasks.iter().filter(|t| t.status.state >= TaskState::Running) {
            let mut of_task: Vec<LogLine> = LOG_LINES
                .iter()
                .enumerate()
                .map(|(i, (stream, text))| LogLine {
                    timestamp: NOW.plus_nanos(i as i64 * 1_000_000),
                    stream: *stream,
                    line: (*text).into(),
                    task_id: task.id.clone(),
                    node_id: task.node_id.clone(),
                    service_id: task.service_id.clone(),
                })
                .filter(|l| match l.stream {
                    LogStream::Stdout => options.stdout,
                    LogStream::Stderr => options.stderr,
                })
                .filter(|l| options.since.is_none_or(|since| l.timestamp >= since))
                .filter(|l| options.until.is_none_or(|until| l.timestamp < until))
                .collect();
            if let Some(tail) = options.tail {
                of_task.drain(..of_task.len().saturating_sub(tail));
            }
            lines.extend(of_task);
        }
        // Interleaved by time, as lines from several tasks arrive.
        lines.sort_by_key(|l| l.timestamp);
        Ok(lines)
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
            external_cas: state.external_cas().to_vec(),
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
            .ok_or_else(|| rules::Error::FailedPrecondition("no swarm".into()))
    }

    async fn swarm_update(&self, version: u64, spec: ClusterSpec, rotation: Rotation) -> Result<()> {
        let mut inner = self.enter("swarm_update")?;
        let inner = &mut *inner;
        let ops = rules::controlapi::cluster::update(&inner.state, version, spec, rotation, &mut inner.rng)?;
        inner.commit_all(ops)
    }

    async fn swarm_unlock_key(&self) -> Result<String> {
        let inner = self.enter("swarm_unlock_key")?;
        Ok(inner.state.unlock_key().map(|k| k.to_text()).unwrap_or_default())
    }

    async fn swarm_unlock(&self, _key: String) -> Result<()> {
        let _inner = self.enter("swarm_unlock")?;
        // The fake never restarts, so it is never locked.
        Err(rules::Error::Conflict("swarm is not locked".into()))
    }

    async fn nodes(&self, filters: NodeFilters) -> Result<Vec<NodeView>> {
        let inner = self.enter("nodes")?;
        let nodes = rules::controlapi::node::list(&inner.state, &filters);
        Ok(nodes.iter().map(|n| inner.view(n)).collect())
    }

    async fn node(&self, key: &str) -> Result<NodeView> {
        let inner = self.enter("node")?;
        let node = inner.state.lookup_node(key)?;
        Ok(inner.view(&node))
    }

    async fn node_update(&self, key: &str, version: u64, spec: NodeSpec) -> Result<Option<String>> {
        let mut inner = self.enter("node_update")?;
        let plan = rules::controlapi::node::update(&inner.state, key, version, spec)?;
        inner.commit(plan.op)?;
        Ok(plan.warning)
    }

    async fn node_remove(&self, key: &str, force: bool) -> Result<()> {
        let mut inner = self.enter("node_remove")?;
        let op = rules::controlapi::node::remove(&inner.state, key, force)?;
        inner.commit(op)
    }

    async fn service_create(&self, spec: ServiceSpec) -> Result<(String, Vec<String>)> {
        let mut inner = self.enter("service_create")?;
        let inner = &mut *inner;
        let id = types::id::new_id(&mut inner.rng);
        let op = rules::controlapi::service::create_with(
            &inner.state,
            id.clone(),
            spec,
            inner.now,
            inner.publishing,
        )?;
        inner.commit(op)?;
        inner.converge(&id)?;
        Ok((id, Vec::new()))
    }

    async fn services(&self, filters: ServiceFilters, status: bool) -> Result<Vec<ServiceView>> {
        let inner = self.enter("services")?;
        let services = rules::controlapi::service::list(&inner.state, &filters);
        Ok(services
            .iter()
            .map(|s| {
                let mut view = inner.service_view(s);
                if !status {
                    view.status = Default::default();
                }
                view
            })
            .collect())
    }

    async fn service(&self, key: &str) -> Result<ServiceView> {
        let inner = self.enter("service")?;
        let service = inner.state.lookup_service(key)?;
        Ok(inner.service_view(&service))
    }

    async fn service_update(
        &self,
        key: &str,
        version: u64,
        spec: ServiceSpec,
        rollback: bool,
    ) -> Result<Vec<String>> {
        let mut inner = self.enter(if rollback {
            "service_rollback"
        } else {
            "service_update"
        })?;
        let op = rules::controlapi::service::update_with(
            &inner.state,
            key,
            version,
            spec,
            rollback,
            inner.now,
            inner.publishing,
        )?;
        let id = inner.state.lookup_service(key)?.id.clone();
        inner.commit(op)?;
        inner.converge(&id)?;
        Ok(Vec::new())
    }

    async fn service_remove(&self, key: &str) -> Result<()> {
        let mut inner = self.enter("service_remove")?;
        let op = rules::controlapi::service::remove(&inner.state, key)?;
        let id = inner.state.lookup_service(key)?.id.clone();
        inner.commit(op)?;
        inner.converge(&id)
    }

    async fn tasks(&self, filters: TaskFilters) -> Result<Vec<Arc<Task>>> {
        let inner = self.enter("tasks")?;
        Ok(rules::controlapi::task::list(&inner.state, &filters))
    }

    async fn task(&self, key: &str) -> Result<Arc<Task>> {
        let inner = self.enter("task")?;
        Ok(inner.state.lookup_task(key)?)
    }

    async fn logs(&self, target: LogTarget, options: LogOptions) -> Result<BoxStream<'static, LogLine>> {
        let inner = self.enter("logs")?;
        let lines = stream::iter(inner.log_lines(&target, &options)?);
        // With follow the stream stays open, like a task that has not exited, until the
        // client goes away and the body (and this stream) is dropped.
        Ok(if options.follow {
            lines.chain(stream::pending()).boxed()
        } else {
            lines.boxed()
        })
    }

    async fn network_create(&self, spec: types::NetworkSpec) -> Result<Arc<types::Network>> {
        let mut inner = self.enter("network_create")?;
        let id = types::id::new_id(&mut inner.rng);
        let (op, _) = rules::controlapi::network::create(&inner.state, id.clone(), spec)?;
        inner.commit(op)?;
        Ok(inner.state.network(&id).cloned().expect("just created"))
    }

    async fn networks(&self) -> Result<Vec<Arc<types::Network>>> {
        let inner = self.enter("networks")?;
        Ok(inner.state.networks().cloned().collect())
    }

    async fn network(&self, key: &str) -> Result<Arc<types::Network>> {
        let inner = self.enter("network")?;
        Ok(inner.state.lookup_network(key)?)
    }

    async fn network_remove(&self, key: &str) -> Result<()> {
        let mut inner = self.enter("network_remove")?;
        let op = rules::controlapi::network::remove(&inner.state, key)?;
        inner.commit(op)
    }

    async fn network_prune(&self, labels: Vec<String>, not_labels: Vec<String>) -> Result<Vec<String>> {
        let mut inner = self.enter("network_prune")?;
        let (ops, names) = rules::controlapi::network::prune(&inner.state, &labels, &not_labels);
        inner.commit_all(ops)?;
        Ok(names)
    }

    async fn payload_create(
        &self,
        kind: types::Kind,
        name: String,
        labels: std::collections::BTreeMap<String, String>,
        data: Vec<u8>,
    ) -> Result<String> {
        let mut inner = self.enter("payload_create")?;
        let id = types::id::new_id(&mut inner.rng);
        let op = rules::controlapi::payload::create(&inner.state, kind, id.clone(), name, labels, data)?;
        inner.commit(op)?;
        Ok(id)
    }

    async fn payload_list(
        &self,
        kind: types::Kind,
        filters: rules::controlapi::secret::ListFilters,
    ) -> Result<Vec<types::Object>> {
        let inner = self.enter("payload_list")?;
        rules::controlapi::payload::list(&inner.state, kind, &filters)
    }

    async fn payload_get(&self, kind: types::Kind, key: &str) -> Result<types::Object> {
        let inner = self.enter("payload_get")?;
        rules::controlapi::payload::get(&inner.state, kind, key)
    }

    async fn payload_update(
        &self,
        kind: types::Kind,
        key: &str,
        version: u64,
        name: String,
        labels: std::collections::BTreeMap<String, String>,
        data: Option<Vec<u8>>,
    ) -> Result<()> {
        let mut inner = self.enter("payload_update")?;
        let op = rules::controlapi::payload::update(
            &inner.state,
            kind,
            key,
            version,
            &name,
            labels,
            data.as_deref(),
        )?;
        inner.commit(op)
    }

    async fn payload_remove(&self, kind: types::Kind, key: &str) -> Result<()> {
        let mut inner = self.enter("payload_remove")?;
        let op = rules::controlapi::payload::remove(&inner.state, kind, key)?;
        inner.commit(op)
    }

    async fn secret_rotate(&self, key: &str, data: Vec<u8>) -> Result<api::backend::SecretRotated> {
        let mut inner = self.enter("secret_rotate")?;
        let id = types::id::new_id(&mut inner.rng);
        let now = inner.now;
        let r = rules::controlapi::rotate::rotate_secret(&inner.state, key, id, data, now)?;
        inner.commit_all(r.ops)?;
        Ok(api::backend::SecretRotated {
            id: r.id,
            name: r.name,
            services: r.services,
        })
    }

    async fn config_rotate(&self, key: &str, data: Vec<u8>) -> Result<api::backend::SecretRotated> {
        let mut inner = self.enter("config_rotate")?;
        let id = types::id::new_id(&mut inner.rng);
        let now = inner.now;
        let r = rules::controlapi::rotate::rotate_config(&inner.state, key, id, data, now)?;
        inner.commit_all(r.ops)?;
        Ok(api::backend::SecretRotated {
            id: r.id,
            name: r.name,
            services: r.services,
        })
    }
}
