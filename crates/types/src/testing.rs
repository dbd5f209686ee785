//! Fixture builders shared by the tests of every crate (feature `testing`), so a node in a
//! test reads as what it differs in: `testing::node("n1").role(Role::Manager).build()`;
//! services and tasks likewise (`service.rs`, `task.rs`).

mod service;
mod task;

pub use service::{ServiceBuilder, service};
pub use task::{TaskBuilder, task};

use crate::{Availability, ManagerStatus, Meta, Node, NodeState, Role};

/// Starts a node: a READY, ACTIVE worker whose hostname is its ID, with no resources.
pub fn node(id: &str) -> NodeBuilder {
    let mut n = Node {
        id: id.into(),
        meta: Meta::default(),
        spec: Default::default(),
        description: Default::default(),
        status: Default::default(),
        manager_status: None,
        role: Role::Worker,
    };
    n.status.state = NodeState::Ready;
    n.spec.availability = Availability::Active;
    n.description.hostname = id.into();
    NodeBuilder(n)
}

/// A node under construction.
#[derive(Debug, Clone)]
pub struct NodeBuilder(Node);

impl NodeBuilder {
    /// Desired and observed role both `role`.
    pub fn role(mut self, role: Role) -> Self {
        self.0.spec.role = role;
        self.0.role = role;
        self
    }

    /// Its hostname.
    pub fn hostname(mut self, hostname: &str) -> Self {
        self.0.description.hostname = hostname.into();
        self
    }

    /// Its observed state.
    pub fn state(mut self, state: NodeState) -> Self {
        self.0.status.state = state;
        self
    }

    /// The address it was seen at.
    pub fn addr(mut self, addr: &str) -> Self {
        self.0.status.addr = addr.into();
        self
    }

    /// Its availability for new tasks.
    pub fn availability(mut self, availability: Availability) -> Self {
        self.0.spec.availability = availability;
        self
    }

    /// A Raft member `raft_id` reached at `addr`.
    pub fn raft_member(mut self, raft_id: u64, addr: &str) -> Self {
        self.0.manager_status = Some(ManagerStatus {
            raft_id,
            addr: addr.into(),
        });
        self
    }

    /// The finished node.
    pub fn build(self) -> Node {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_node_is_a_ready_active_worker_named_by_its_id() {
        let n = node("n1").build();
        assert_eq!((n.role, n.spec.role), (Role::Worker, Role::Worker));
        assert_eq!(n.status.state, NodeState::Ready);
        assert_eq!(n.spec.availability, Availability::Active);
        assert_eq!(n.description.hostname, "n1");
        let m = node("m1").role(Role::Manager).raft_member(2, "a:1").build();
        assert_eq!((m.role, m.spec.role), (Role::Manager, Role::Manager));
        assert_eq!(m.manager_status.map(|s| s.raft_id), Some(2));
    }
}
