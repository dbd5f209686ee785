//! Test fixtures: a small in-memory world (store state, clock, ID counter) that tests drive
//! step by step — reconcile, apply the plan, then play the scheduler and the agents.

use std::sync::Arc;

use state::{Op, State, TaskChange, TaskUpdate, Txn};
use types::{
    Meta, Node, NodeState, Object, RestartPolicy, ServiceMode, ServiceSpec, Task, TaskSpec, TaskState,
    TaskStatus, Timestamp,
};

use super::{Inputs, Plan, reconcile};

/// A task in `slot` with observed `state`, created at `at` (seconds).
pub fn task_in_slot(id: &str, slot: u64, state: TaskState, restart: RestartPolicy, at: i64) -> Arc<Task> {
    let spec = TaskSpec {
        restart,
        ..Default::default()
    };
    Arc::new(
        types::testing::task(id)
            .version(1)
            .at(Timestamp(at * 1_000_000_000))
            .spec(spec)
            .slot(slot)
            .state(state)
            .build(),
    )
}

/// The in-memory world.
pub struct World {
    /// Current state.
    pub state: State,
    /// Current time.
    pub now: Timestamp,
    index: u64,
    next_id: u64,
}

fn node(id: &str) -> Node {
    types::testing::node(id).build()
}

impl Default for World {
    fn default() -> World {
        World::new()
    }
}

impl World {
    /// An empty world at t = 1000 s.
    pub fn new() -> World {
        World {
            state: State::default(),
            now: Timestamp(1_000_000_000_000),
            index: 0,
            next_id: 0,
        }
    }

    fn commit(&mut self, ops: Vec<Op>) {
        self.index += 1;
        let txn = Txn {
            id: 0,
            ops,
            now: self.now,
        };
        match self.state.apply(&txn, self.index) {
            Ok((next, _)) => self.state = next,
            Err(e) => panic!("txn refused: {e}"),
        }
    }

    /// Commits ops as one transaction, or says why the store refused them.
    pub fn try_commit(&mut self, ops: Vec<Op>) -> Result<(), state::TxnError> {
        let txn = Txn {
            id: 0,
            ops,
            now: self.now,
        };
        let (next, _) = self.state.apply(&txn, self.index + 1)?;
        self.index += 1;
        self.state = next;
        Ok(())
    }

    /// Commits one op as its own transaction (panics if the store refuses it).
    pub fn commit_op(&mut self, op: Op) {
        self.commit(vec![op]);
    }

    /// Adds the cluster object with a task limit.
    pub fn task_limit(mut self, max_tasks: u64) -> World {
        let cluster = types::Cluster {
            id: "cluster".into(),
            meta: Meta::default(),
            spec: types::ClusterSpec {
                max_tasks,
                ..Default::default()
            },
            root_ca: types::RootCa {
                ca_cert_pem: String::new(),
                ca_key_pem: String::new(),
                join_tokens: Default::default(),
            },
            default_addr_pool: Vec::new(),
            subnet_size: 24,
            data_path_port: 4789,
        };
        self.commit(vec![Op::Create(Object::Cluster(cluster))]);
        self
    }

    /// Adds ready nodes.
    pub fn nodes(mut self, ids: &[&str]) -> World {
        let ops = ids.iter().map(|id| Op::Create(Object::Node(node(id)))).collect();
        self.commit(ops);
        self
    }

    /// Adds a service with `mode` and a task spec.
    pub fn service(mut self, name: &str, mode: ServiceMode, mut task: TaskSpec) -> World {
        if task.container.image.is_empty() {
            // The normal form the API stores (see `controlapi::image`).
            task.container.image = "busybox:latest".into();
        }
        let s = types::testing::service(name)
            .id(&format!("svc-{name}"))
            .mode(mode)
            .task(task)
            .build();
        self.commit(vec![Op::Create(Object::Service(s))]);
        self
    }

    /// Creates a replicated service the way the API does (through
    /// `controlapi::service::create`, so its first rollout is watched).
    pub fn created(mut self, name: &str, replicas: u64) -> World {
        let spec = types::testing::service(name)
            .replicas(replicas)
            .image("busybox")
            .spec();
        let op = crate::controlapi::service::create(&self.state, format!("svc-{name}"), spec, self.now)
            .expect("valid create");
        self.commit(vec![op]);
        self
    }

    /// Adds a replicated service.
    pub fn replicated(self, name: &str, replicas: u64) -> World {
        self.service(name, ServiceMode::Replicated { replicas }, TaskSpec::default())
    }

    /// The service's ID.
    pub fn service_id(&self, name: &str) -> String {
        format!("svc-{name}")
    }

    /// Runs a reconcile pass.
    pub fn reconcile(&mut self) -> Plan {
        let mut counter = self.next_id;
        let plan = {
            let mut ids = || {
                counter += 1;
                format!("t{counter:04}")
            };
            let mut inputs = Inputs {
                parsed: Default::default(),
                now: self.now,
                ids: &mut ids,
            };
            reconcile(&self.state, None, &mut inputs)
        };
        self.next_id = counter;
        plan
    }

    /// Commits a plan.
    pub fn apply(&mut self, plan: Plan) {
        for ops in plan.into_txns() {
            self.commit(ops);
        }
    }

    /// Reconciles and applies until nothing changes (at most 10 rounds).
    pub fn settle(&mut self) {
        for _ in 0..10 {
            let plan = self.reconcile();
            if plan.is_empty() {
                return;
            }
            self.apply(plan);
        }
    }

    /// Plays allocator and scheduler: every new task goes pending, then to nodes in turn.
    pub fn place_all_round_robin(&mut self) {
        let nodes: Vec<String> = self
            .state
            .nodes()
            .filter(|n| {
                n.status.state == NodeState::Ready && n.spec.availability == types::Availability::Active
            })
            .map(|n| n.id.clone())
            .collect();
        let new: Vec<TaskUpdate> = self
            .state
            .tasks()
            .filter(|t| t.status.state == TaskState::New)
            .map(|t| TaskUpdate {
                id: t.id.clone(),
                change: TaskChange::Pending,
            })
            .collect();
        if !new.is_empty() {
            self.commit(vec![Op::UpdateTasks(new)]);
        }
        let pending: Vec<Arc<Task>> = self
            .state
            .tasks()
            .filter(|t| t.status.state == TaskState::Pending)
            .cloned()
            .collect();
        for (i, t) in pending.iter().enumerate() {
            let node = if t.node_id.is_empty() {
                nodes[i % nodes.len()].clone()
            } else {
                t.node_id.clone()
            };
            self.commit(vec![Op::AssignTasks {
                node_id: node,
                task_ids: vec![t.id.clone()],
            }]);
        }
    }

    fn set_status(&mut self, filter: impl Fn(&Task) -> bool, state: TaskState, exit: Option<i64>) {
        let updates: Vec<TaskUpdate> = self
            .state
            .tasks()
            .filter(|t| filter(t))
            .map(|t| TaskUpdate {
                id: t.id.clone(),
                change: TaskChange::Status(TaskStatus {
                    timestamp: self.now,
                    state,
                    container: exit.map(|c| types::ContainerStatus {
                        exit_code: Some(c),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
            })
            .collect();
        if !updates.is_empty() {
            self.commit(vec![Op::UpdateTasks(updates)]);
        }
    }

    /// Plays the agents: assigned tasks that should run are running (a task held at desired
    /// READY waits, as an agent does); shut-down tasks stop.
    pub fn run_all(&mut self) {
        self.set_status(
            |t| {
                t.status.state == TaskState::Assigned
                    && matches!(t.desired_state, TaskState::Running | TaskState::Complete)
            },
            TaskState::Running,
            None,
        );
        self.set_status(
            |t| {
                t.desired_state >= TaskState::Shutdown
                    && t.status.state >= TaskState::Assigned
                    && !t.status.state.is_terminal()
            },
            TaskState::Shutdown,
            None,
        );
    }

    /// Every running task fails with `code`.
    pub fn fail_all(&mut self, code: i64) {
        self.run_all();
        self.set_status(
            |t| t.status.state == TaskState::Running,
            TaskState::Failed,
            Some(code),
        );
    }

    /// Running tasks matching `f` fail with exit code 1.
    pub fn fail_where(&mut self, f: impl Fn(&Task) -> bool) {
        self.set_status(
            |t| t.status.state == TaskState::Running && f(t),
            TaskState::Failed,
            Some(1),
        );
    }

    /// Every running task completes.
    pub fn complete_all(&mut self) {
        self.set_status(
            |t| t.status.state == TaskState::Running,
            TaskState::Complete,
            Some(0),
        );
    }

    /// Replaces a node object.
    pub fn apply_node(&mut self, node: Node) {
        self.commit(vec![Op::Update {
            object: Object::Node(node),
            expect_version: None,
        }]);
    }

    /// Marks a node down.
    pub fn node_down(&mut self, id: &str) {
        let mut n = (**self.state.node(id).expect("node")).clone();
        n.status.state = NodeState::Down;
        self.commit(vec![Op::Update {
            object: Object::Node(n),
            expect_version: None,
        }]);
    }

    /// Changes a service the way the API does (through `controlapi::service::update`).
    pub fn update_service(&mut self, name: &str, f: impl FnOnce(&mut ServiceSpec)) {
        let s = self.state.service_by_name(name).expect("service").clone();
        let mut spec = s.spec.clone();
        f(&mut spec);
        let op =
            crate::controlapi::service::update(&self.state, &s.id, s.meta.version, spec, false, self.now)
                .expect("valid update");
        self.commit(vec![op]);
    }

    /// Deletes a service.
    pub fn delete_service(&mut self, name: &str) {
        let id = self.service_id(name);
        self.commit(vec![Op::Delete {
            kind: types::Kind::Service,
            id,
            expect_version: None,
        }]);
    }

    /// Sets a replicated service's replica count.
    pub fn set_replicas(&mut self, name: &str, replicas: u64) {
        self.update_service(name, |spec| spec.mode = ServiceMode::Replicated { replicas });
    }

    /// Moves the clock.
    pub fn advance_secs(&mut self, secs: i64) {
        self.now = self.now.plus_nanos(secs * 1_000_000_000);
    }

    /// Tasks of a service the orchestrator still wants.
    pub fn runnable_tasks(&self, name: &str) -> Vec<Arc<Task>> {
        self.state
            .tasks_of_service(&self.service_id(name))
            .filter(|t| t.desired_state <= TaskState::Complete)
            .cloned()
            .collect()
    }
}
