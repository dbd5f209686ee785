//! Test fixtures: nodes, services, specs and tasks built in one line, and a snapshot of them.

use std::sync::Arc;

use state::{Op, State, Txn};
use types::{
    EndpointSpec, Meta, Node, Object, PortConfig, Service, ServiceMode, ServiceSpec, Task, TaskSpec,
    TaskState, TaskStatus, Timestamp,
};

/// A READY, ACTIVE worker with no resources.
pub fn node(id: &str) -> Node {
    types::testing::node(id).build()
}

/// A replicated service publishing `ports` (`(protocol, published port)`) in host mode.
pub fn service(id: &str, ports: &[(&str, u32)]) -> Service {
    Service {
        id: id.into(),
        meta: Meta::default(),
        spec: ServiceSpec {
            name: id.into(),
            labels: Default::default(),
            task: Arc::default(),
            mode: ServiceMode::Replicated { replicas: 1 },
            update: None,
            rollback: None,
            endpoint: Some(EndpointSpec {
                mode: "vip".into(),
                ports: ports
                    .iter()
                    .map(|(proto, port)| PortConfig {
                        protocol: (*proto).into(),
                        target_port: 80,
                        published_port: *port,
                        publish_mode: "host".into(),
                        ..Default::default()
                    })
                    .collect(),
            }),
        },
        spec_version: 1,
        spec_changed_at: 0,
        previous_spec: None,
        endpoint: Default::default(),
        update_status: None,
        job_status: None,
    }
}

/// A PENDING task of `service_id` at version 1, desired RUNNING, with no node.
pub fn task(id: &str, service_id: &str, spec: &Arc<TaskSpec>) -> Task {
    Task {
        id: id.into(),
        meta: Meta::default(),
        spec: spec.clone(),
        spec_version: 1,
        service_id: service_id.into(),
        service_name: service_id.into(),
        slot: 1,
        node_id: String::new(),
        status: TaskStatus {
            state: TaskState::Pending,
            ..Default::default()
        },
        desired_state: TaskState::Running,
        job_iteration: None,
    }
}

/// The same task, RUNNING on `node_id`.
pub fn running_on(mut t: Task, node_id: &str) -> Task {
    t.node_id = node_id.into();
    t.status.state = TaskState::Running;
    t
}

/// A snapshot holding `objects`.
pub fn snapshot(objects: Vec<Object>) -> State {
    let txn = Txn {
        id: 0,
        ops: objects.into_iter().map(Op::Create).collect(),
        now: Timestamp(1),
    };
    match State::default().apply(&txn, 1) {
        Ok((state, _)) => state,
        Err(e) => panic!("fixture does not apply: {e}"),
    }
}
