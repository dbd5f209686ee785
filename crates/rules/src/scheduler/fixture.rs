//! Test fixtures: nodes, services, specs and tasks built in one line, and a snapshot of them.

use std::sync::Arc;

use state::{Op, State, Txn};
use types::{Node, Object, PortConfig, Service, Task, TaskSpec, TaskState, Timestamp};

/// A READY, ACTIVE worker with no resources.
pub fn node(id: &str) -> Node {
    types::testing::node(id).build()
}

/// A replicated service publishing `ports` (`(protocol, published port)`) in host mode.
pub fn service(id: &str, ports: &[(&str, u32)]) -> Service {
    types::testing::service(id)
        .ports(
            ports
                .iter()
                .map(|(proto, port)| PortConfig {
                    protocol: (*proto).into(),
                    target_port: 80,
                    published_port: *port,
                    publish_mode: "host".into(),
                    ..Default::default()
                })
                .collect(),
        )
        .build()
}

/// A PENDING task of `service_id` at version 1, desired RUNNING, with no node.
pub fn task(id: &str, service_id: &str, spec: &Arc<TaskSpec>) -> Task {
    types::testing::task(id)
        .service(service_id, service_id)
        .spec(spec.clone())
        .state(TaskState::Pending)
        .build()
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
