//! The fake daemon's orchestrator: after every service write it moves the service's tasks
//! straight to where Swarm would converge (new tasks running at once, jobs complete at once),
//! so a docker CLI progress display finishes without waiting on anything.
//!
//! ```text
//! desired keys (slots 1..=n, ready nodes, job slots 0..total) × live tasks
//!   live task, same spec   → keep (spec version bumped, as Swarm's updater does)
//!   live task, spec differs → shut down; new task running
//!   no live task            → new task running
//!   live task, key unwanted → removed
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use rand::RngCore;
use rand::rngs::StdRng;
use store::{Op, State};
use types::{
    Availability, ContainerStatus, Meta, NodeState, Object, Service, ServiceMode, Task, TaskState, TaskStatus,
};

use super::NOW;

/// Where a task belongs: a slot of a replicated service or a node of a global one.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Key {
    Slot(u64),
    Node(String),
}

fn key_of(task: &Task, global: bool) -> Key {
    if global {
        Key::Node(task.node_id.clone())
    } else {
        Key::Slot(task.slot)
    }
}

/// The ops that bring `service_id`'s tasks to their converged state (or remove them all
/// once the service is gone).
pub fn converge(state: &State, service_id: &str, rng: &mut StdRng) -> Vec<Op> {
    let tasks: Vec<Arc<Task>> = state.tasks_of_service(service_id).cloned().collect();
    let Some(service) = state.service(service_id).cloned() else {
        return vec![Op::DeleteTasks(tasks.iter().map(|t| t.id.clone()).collect())];
    };
    let mut nodes: Vec<String> = state
        .nodes()
        .filter(|n| n.status.state == NodeState::Ready && n.spec.availability == Availability::Active)
        .map(|n| n.id.clone())
        .collect();
    nodes.sort();
    let iteration = service.job_status.as_ref().map(|j| j.job_iteration);
    let global = matches!(service.spec.mode, ServiceMode::Global | ServiceMode::GlobalJob);
    let node_for_slot = |slot: u64| -> String {
        if nodes.is_empty() {
            String::new()
        } else {
            nodes[(slot as usize) % nodes.len()].clone()
        }
    };
    let wanted: BTreeMap<Key, String> = match service.spec.mode {
        ServiceMode::Replicated { replicas } => (1..=replicas)
            .map(|s| (Key::Slot(s), node_for_slot(s - 1)))
            .collect(),
        ServiceMode::Global | ServiceMode::GlobalJob => {
            nodes.iter().map(|n| (Key::Node(n.clone()), n.clone())).collect()
        }
        // Job slots count from 0, as the docker CLI's job progress expects.
        ServiceMode::ReplicatedJob {
            total_completions, ..
        } => (0..total_completions)
            .map(|s| (Key::Slot(s), node_for_slot(s)))
            .collect(),
    };
    let job = service.spec.mode.is_job();
    let live = |t: &&Arc<Task>| {
        if job {
            t.job_iteration == iteration
        } else {
            t.desired_state <= TaskState::Running
        }
    };

    let mut ops = Vec::new();
    // The allocator's part: published ports as asked, 0 becoming one from 30000 up.
    let wanted_ports: Vec<types::PortConfig> = service
        .endpoint
        .spec
        .ports
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut port = p.clone();
            if port.published_port == 0 {
                port.published_port = 30000 + i as u32;
            }
            port
        })
        .collect();
    if service.endpoint.ports != wanted_ports {
        let mut allocated = (*service).clone();
        allocated.endpoint.ports = wanted_ports;
        ops.push(Op::Update {
            object: Object::Service(allocated),
            expect_version: None,
        });
    }
    let mut unwanted = Vec::new();
    let mut covered = Vec::new();
    for task in tasks.iter().filter(live) {
        let key = key_of(task, global);
        if !wanted.contains_key(&key) {
            unwanted.push(task.id.clone());
        } else if *task.spec == *service.spec.task {
            covered.push(key);
            if task.spec_version != service.spec_version {
                let mut kept = (**task).clone();
                kept.spec_version = service.spec_version;
                ops.push(Op::Update {
                    object: Object::Task(kept),
                    expect_version: None,
                });
            }
        } else {
            let mut old = (**task).clone();
            old.desired_state = TaskState::Shutdown;
            old.status = status(TaskState::Shutdown, "shutdown", old.status.container.clone());
            ops.push(Op::Update {
                object: Object::Task(old),
                expect_version: None,
            });
        }
    }
    if !unwanted.is_empty() {
        ops.push(Op::DeleteTasks(unwanted));
    }
    for (key, node) in wanted {
        if covered.contains(&key) {
            continue;
        }
        let slot = match key {
            Key::Slot(slot) => slot,
            Key::Node(_) => 0,
        };
        ops.push(Op::Create(Object::Task(new_task(&service, slot, node, rng))));
    }
    ops
}

fn status(state: TaskState, message: &str, container: Option<ContainerStatus>) -> TaskStatus {
    TaskStatus {
        timestamp: NOW,
        state,
        message: message.into(),
        err: String::new(),
        container,
    }
}

fn new_task(service: &Service, slot: u64, node_id: String, rng: &mut StdRng) -> Task {
    let job = service.spec.mode.is_job();
    let mut container_id = [0u8; 32];
    rng.fill_bytes(&mut container_id);
    let container = ContainerStatus {
        container_id: container_id.iter().map(|b| format!("{b:02x}")).collect(),
        pid: if job { 0 } else { 4242 },
        exit_code: job.then_some(0),
    };
    let (state, desired, message) = if job {
        (TaskState::Complete, TaskState::Complete, "finished")
    } else {
        (TaskState::Running, TaskState::Running, "started")
    };
    Task {
        id: types::id::new_id(rng),
        meta: Meta::default(),
        spec: service.spec.task.clone(),
        spec_version: service.spec_version,
        service_id: service.id.clone(),
        service_name: service.spec.name.clone(),
        slot,
        node_id,
        status: status(state, message, Some(container)),
        desired_state: desired,
        job_iteration: service.job_status.as_ref().map(|j| j.job_iteration),
    }
}
