//! Network attachments of standalone containers: `docker run --network NET` on an attachable
//! overlay. As Swarm does, the address is held by a task in the store — no service, the
//! container's node preset, `Runtime: attachment` — so the allocator gives it an address,
//! the scheduler confirms it on its node, and the network's view carries its endpoint to every
//! node on the network like any task's. Nothing runs it: the agent skips it, and the daemon
//! that asked puts the container into the sandbox made for it.
//!
//! ```text
//! create ─► Op::Create(Task NEW, node preset) ─► allocator: address ─► PENDING
//!        ─► scheduler: confirmed ─► ASSIGNED ─► views: endpoint on every node of the network
//! remove ─► Op::Delete(task) ─► its address freed with it
//! ```

use std::sync::Arc;

use state::{Op, State};
use types::{
    ATTACHMENT_RUNTIME, Kind, Meta, NetworkAttachment, Object, Task, TaskSpec, TaskState, TaskStatus,
    Timestamp,
};

use crate::{Error, Result};

/// An attachment as planned by [`plan`]: the ops to propose, the task they create and the
/// network's name.
pub struct Planned {
    /// The task's creation, then its address when one was asked for.
    pub ops: Vec<Op>,
    /// The attachment task as created.
    pub task: Task,
    /// The network's name (the key may be an ID or a prefix).
    pub network_name: String,
}

/// Plans an attachment as a manager proposes it, for itself or for a worker that asked:
/// [`create`], then [`with_address`] when `address` is given (checked here for dockerd's
/// words, and again by the store when the entry applies).
#[allow(clippy::too_many_arguments)]
pub fn plan(
    state: &State,
    key: &str,
    node_id: &str,
    container: &str,
    aliases: Vec<String>,
    address: Option<std::net::Ipv4Addr>,
    id: String,
    now: Timestamp,
) -> Result<Planned> {
    let network_name = state
        .lookup_network(key)
        .map(|n| n.spec.name.clone())
        .unwrap_or_default();
    let (op, task) = create(state, key, node_id, container, aliases, id, now)?;
    let mut ops = vec![op];
    if let Some(address) = address {
        ops.push(with_address(state, &task, address)?);
    }
    Ok(Planned {
        ops,
        task,
        network_name,
    })
}

/// Plans the attachment of a container named `container` on node `node_id` to the network
/// `key` (ID, name or unique ID prefix), answering there to its name and `aliases` too: the
/// store op and the task as created.
pub fn create(
    state: &State,
    key: &str,
    node_id: &str,
    container: &str,
    aliases: Vec<String>,
    id: String,
    now: Timestamp,
) -> Result<(Op, Task)> {
    let network = state.lookup_network(key).map_err(|e| match e {
        state::LookupError::NotFound { .. } => Error::NotFound(format!("network {key} not found")),
        state::LookupError::Ambiguous { .. } => Error::InvalidArgument(format!(
            "network {key} is ambiguous (multiple matches found based on ID or name prefix)"
        )),
    })?;
    // dockerd's words (the manager's PermissionDenied, wrapped by the daemon).
    if network.spec.ingress || !network.spec.attachable {
        return Err(Error::Forbidden(format!(
            "Could not attach to network {key}: rpc error: code = PermissionDenied desc = network {key} not manually attachable"
        )));
    }
    if state.node(node_id).is_none() {
        return Err(Error::FailedPrecondition(format!(
            "node {node_id} is not a member of the swarm"
        )));
    }
    let task = Task {
        id,
        meta: Meta {
            version: 0,
            created_at: now,
            updated_at: now,
        },
        spec: Arc::new(TaskSpec {
            networks: vec![NetworkAttachment {
                target: network.id.clone(),
                aliases,
                ..NetworkAttachment::default()
            }],
            runtime: ATTACHMENT_RUNTIME.to_owned(),
            ..TaskSpec::default()
        }),
        spec_version: 0,
        service_id: String::new(),
        service_name: container.to_owned(),
        slot: 0,
        node_id: node_id.to_owned(),
        status: TaskStatus {
            timestamp: now,
            state: TaskState::New,
            ..TaskStatus::default()
        },
        desired_state: TaskState::Running,
        job_iteration: None,
    };
    Ok((Op::Create(Object::Task(task.clone())), task))
}

/// Plans the address `address` the user asked for (`--ip`) for attachment `task` (as planned
/// by [`create`], in the same proposal): refused with dockerd's words when the network's
/// subnets were not the user's, when no subnet or range holds it, or when it is taken. The
/// store checks it again when the entry applies, so two asking at once cannot both get it;
/// the allocator keeps it.
pub fn with_address(state: &State, task: &Task, address: std::net::Ipv4Addr) -> Result<Op> {
    let target = task
        .spec
        .networks
        .first()
        .map(|n| n.target.as_str())
        .unwrap_or("");
    let network = state
        .network(target)
        .ok_or_else(|| Error::NotFound(format!("network {target} not found")))?;
    if network.spec.ipam.is_empty() {
        return Err(Error::Forbidden(
            "user specified IP address is supported only when connecting to networks with user configured subnets".into(),
        ));
    }
    if !network.pool_of(address).is_some_and(|p| p.assignable(address)) {
        let reserved = network
            .pool_of(address)
            .is_some_and(|p| p.range.contains(address));
        return Err(if reserved {
            // The gateway, an auxiliary address, the subnet's network or broadcast address.
            Error::Forbidden(format!(
                "Address already in use: {address} is reserved on network {}",
                network.spec.name
            ))
        } else {
            Error::InvalidArgument(format!(
                "no configured subnet or ip-range contain the IP address {address}"
            ))
        });
    }
    if state.holder(&network.id, address).is_some() {
        // dockerd's words (ipam's ErrIPAlreadyAllocated, 403).
        return Err(Error::Forbidden(format!(
            "Address already in use: {address} on network {}",
            network.spec.name
        )));
    }
    Ok(Op::SetAddresses(vec![state::AddressUpdate {
        owner: state::Owner::Task(task.id.clone()),
        addresses: vec![types::NetAddr {
            network_id: network.id.clone(),
            addr: address,
        }],
    }]))
}

/// Plans the removal of attachment `task_id` (its address goes with it); `None` when it is
/// already gone. A task that is not an attachment is refused.
pub fn remove(state: &State, task_id: &str) -> Result<Option<Op>> {
    let Some(task) = state.task(task_id) else {
        return Ok(None);
    };
    if !task.is_attachment() {
        return Err(Error::InvalidArgument(format!(
            "task {task_id} is not a network attachment"
        )));
    }
    Ok(Some(Op::Delete {
        kind: Kind::Task,
        id: task_id.to_owned(),
        expect_version: None,
    }))
}

/// The attachments of node `node_id` that no container holds (`held`: the attachment IDs its
/// containers keep) and that are older than `grace_nanos` at `now` — left by a daemon that
/// died between making one and recording it, or by a container whose state was lost. The
/// grace keeps an attachment being made (it waits for its address, seconds at most) out.
/// Their IDs and the ops deleting them.
pub fn stale(
    state: &State,
    node_id: &str,
    held: &std::collections::HashSet<String>,
    now: Timestamp,
    grace_nanos: i64,
) -> (Vec<String>, Vec<Op>) {
    state
        .tasks_on_node(node_id)
        .filter(|t| t.is_attachment() && !held.contains(&t.id))
        .filter(|t| t.meta.created_at.plus_nanos(grace_nanos) < now)
        .map(|t| {
            let op = Op::Delete {
                kind: Kind::Task,
                id: t.id.clone(),
                expect_version: None,
            };
            (t.id.clone(), op)
        })
        .unzip()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(s: &State, ops: Vec<Op>) -> State {
        let txn = state::Txn {
            id: 0,
            ops,
            now: Timestamp(1),
        };
        s.apply(&txn, 1).unwrap().0
    }

    fn with_network(attachable: bool) -> State {
        let mut s = State::default();
        let spec = types::NetworkSpec {
            name: "app".into(),
            driver: types::network::OVERLAY.into(),
            attachable,
            ..types::NetworkSpec::default()
        };
        let (op, _) = crate::controlapi::network::create(&s, "n1".into(), spec).unwrap();
        s = apply(&s, vec![op]);
        apply(
            &s,
            vec![Op::Create(Object::Node(types::testing::node("node1").build()))],
        )
    }

    #[test]
    fn an_attachable_network_gets_an_attachment_task_and_others_are_refused() {
        let s = with_network(true);
        let (op, task) = create(&s, "app", "node1", "c1", vec![], "t1".into(), Timestamp(5)).unwrap();
        assert!(task.is_attachment());
        assert_eq!(task.spec.networks[0].target, "n1");
        assert_eq!(
            (task.node_id.as_str(), task.status.state),
            ("node1", TaskState::New)
        );
        let s2 = apply(&s, vec![op]);
        assert!(remove(&s2, "t1").unwrap().is_some());
        // Stale only once no container holds it and the grace has passed.
        let created = s2.task("t1").unwrap().meta.created_at;
        let held = std::collections::HashSet::from(["t1".to_string()]);
        let none = std::collections::HashSet::new();
        assert!(
            stale(&s2, "node1", &held, created.plus_nanos(100), 10)
                .0
                .is_empty()
        );
        assert!(stale(&s2, "node1", &none, created.plus_nanos(5), 10).0.is_empty());
        assert_eq!(stale(&s2, "node1", &none, created.plus_nanos(100), 10).0, ["t1"]);
        assert!(
            stale(&s2, "node2", &none, created.plus_nanos(100), 10)
                .0
                .is_empty()
        );
        assert!(remove(&s2, "gone").unwrap().is_none());

        let refused = create(
            &with_network(false),
            "app",
            "node1",
            "c1",
            vec![],
            "t1".into(),
            Timestamp(5),
        );
        assert!(
            matches!(&refused, Err(Error::Forbidden(m)) if m.ends_with("network app not manually attachable")),
            "{refused:?}"
        );
        assert!(matches!(
            create(&s, "nope", "node1", "c1", vec![], "t1".into(), Timestamp(5)),
            Err(Error::NotFound(_))
        ));
    }

    #[test]
    fn a_requested_address_is_checked_and_held_with_the_task() {
        let mut s = State::default();
        let spec = types::NetworkSpec {
            name: "app".into(),
            driver: types::network::OVERLAY.into(),
            attachable: true,
            ipam: vec![types::IpamConfig {
                subnet: "10.9.0.0/24".into(),
                ..types::IpamConfig::default()
            }],
            ..types::NetworkSpec::default()
        };
        let (op, _) = crate::controlapi::network::create(&s, "n1".into(), spec).unwrap();
        s = apply(&s, vec![op]);
        s = apply(
            &s,
            vec![Op::Create(Object::Node(types::testing::node("node1").build()))],
        );
        let ip = |t: &str| t.parse::<std::net::Ipv4Addr>().unwrap();
        let (op, task) = create(&s, "app", "node1", "c1", vec![], "t1".into(), Timestamp(5)).unwrap();
        let held = with_address(&s, &task, ip("10.9.0.7")).unwrap();
        let s2 = apply(&s, vec![op, held]);
        assert_eq!(
            s2.addresses(&state::Owner::Task("t1".into()))[0].addr,
            ip("10.9.0.7")
        );
        let (_, other) = create(&s2, "app", "node1", "c2", vec![], "t2".into(), Timestamp(6)).unwrap();
        let taken = with_address(&s2, &other, ip("10.9.0.7"));
        assert!(
            matches!(&taken, Err(Error::Forbidden(m)) if m.starts_with("Address already in use")),
            "{taken:?}"
        );
        let outside = with_address(&s2, &other, ip("10.8.0.7"));
        assert!(
            matches!(&outside, Err(Error::InvalidArgument(m)) if m.contains("no configured subnet or ip-range contain the IP address 10.8.0.7")),
            "{outside:?}"
        );
        let gateway = with_address(&s2, &other, ip("10.9.0.1"));
        assert!(matches!(&gateway, Err(Error::Forbidden(_))), "{gateway:?}");
        // A network on the default pools takes no requested address, as with dockerd.
        let plain = with_network(true);
        let (_, t) = create(&plain, "app", "node1", "c1", vec![], "t1".into(), Timestamp(5)).unwrap();
        let refused = with_address(&plain, &t, ip("10.0.0.9"));
        assert!(
            matches!(&refused, Err(Error::Forbidden(m)) if m.contains("user configured subnets")),
            "{refused:?}"
        );
    }
}
