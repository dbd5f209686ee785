//! Node reads and Swarm's rules for node updates and removal.

use std::collections::BTreeMap;
use std::sync::Arc;

use state::LookupError;
use state::{Op, State};
use types::{Kind, Node, NodeSpec, NodeState, Object, Role};

use crate::{Error, Result};

impl From<LookupError> for Error {
    fn from(e: LookupError) -> Self {
        match e {
            LookupError::NotFound { .. } => Error::NotFound(e.to_string()),
            LookupError::Ambiguous { .. } => Error::InvalidArgument(e.to_string()),
        }
    }
}

/// Filters of `GET /nodes`, Docker's set.
#[derive(Debug, Clone, Default)]
pub struct NodeFilters {
    /// ID prefixes.
    pub id: Vec<String>,
    /// Name (or hostname) prefixes.
    pub name: Vec<String>,
    /// Roles.
    pub role: Vec<Role>,
    /// Memberships (`accepted`, `pending`); every node here is accepted.
    pub membership: Vec<String>,
    /// Engine labels, `key` or `key=value`.
    pub label: Vec<String>,
    /// Node labels, `key` or `key=value`.
    pub node_label: Vec<String>,
}

fn labels_match(labels: &BTreeMap<String, String>, wanted: &[String]) -> bool {
    wanted.iter().all(|w| match w.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|have| have == v),
        None => labels.contains_key(w.as_str()),
    })
}

/// The name `docker node ls` shows: the spec name, else the hostname.
pub fn display_name(node: &Node) -> &str {
    if node.spec.name.is_empty() {
        &node.description.hostname
    } else {
        &node.spec.name
    }
}

/// Nodes matching every filter (within one filter, any value may match).
pub fn list(state: &State, f: &NodeFilters) -> Vec<Arc<Node>> {
    state
        .nodes()
        .filter(|n| f.id.is_empty() || f.id.iter().any(|p| n.id.starts_with(p.as_str())))
        .filter(|n| f.name.is_empty() || f.name.iter().any(|p| display_name(n).starts_with(p.as_str())))
        .filter(|n| f.role.is_empty() || f.role.contains(&n.spec.role))
        .filter(|_| f.membership.is_empty() || f.membership.iter().any(|m| m == "accepted"))
        .filter(|n| labels_match(&n.description.engine.labels, &f.label))
        .filter(|n| labels_match(&n.spec.labels, &f.node_label))
        .cloned()
        .collect()
}

/// What a node update will do, for the caller to commit and report.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdatePlan {
    /// The store op (carries the caller's version).
    pub op: Op,
    /// Set when the change leaves an even number of managers (a poor choice for Raft).
    pub warning: Option<String>,
}

/// Managers that are Raft members, as node objects.
fn raft_members(state: &State) -> impl Iterator<Item = &Arc<Node>> {
    state.nodes().filter(|n| n.manager_status.is_some())
}

/// Checks Swarm's rules for `POST /nodes/{id}/update` and plans the write.
///
/// A client that read the current spec may update it even if the system wrote the node
/// since: a promotion alone rewrites it several times (certificate role, Raft membership,
/// status), and `docker node demote` right after `promote` would otherwise race those writes
/// and fail. A version from before the spec's last change is out of sequence, as dockerd
/// answers. The store still checks the node did not move between this plan and its commit.
pub fn update(state: &State, key: &str, version: u64, spec: NodeSpec) -> Result<UpdatePlan> {
    let node = state.lookup_node(key)?;
    if version < state.node_spec_changed_at(&node) {
        return Err(Error::OutOfSequence);
    }
    // A version above ours means this replica's view is behind: let the store decide.
    let expect_version = version.max(node.meta.version);
    let demoting = node.spec.role == Role::Manager && spec.role == Role::Worker;
    if demoting {
        let desired_managers = state.nodes().filter(|n| n.spec.role == Role::Manager).count();
        if desired_managers <= 1 {
            return Err(Error::FailedPrecondition(
                "attempting to demote the last manager of the swarm".into(),
            ));
        }
        if node.manager_status.is_some() {
            // Removing a member must leave a reachable majority of the smaller group.
            let members = raft_members(state).count();
            let reachable = raft_members(state)
                .filter(|n| n.id != node.id && n.status.state == NodeState::Ready)
                .count();
            if reachable < (members - 1) / 2 + 1 {
                return Err(Error::FailedPrecondition(
                    "can't remove member from the raft: this would result in a loss of quorum".into(),
                ));
            }
        }
    }
    let mut next = (*node).clone();
    next.spec = spec;
    let managers_after = state
        .nodes()
        .filter(|n| {
            if n.id == node.id {
                next.spec.role == Role::Manager
            } else {
                n.spec.role == Role::Manager
            }
        })
        .count();
    let role_changed = node.spec.role != next.spec.role;
    let warning = (role_changed && managers_after % 2 == 0).then(|| {
        format!(
            "the swarm now has {managers_after} managers; an even number tolerates no more failures than one \
             fewer, so prefer an odd number of managers"
        )
    });
    Ok(UpdatePlan {
        op: Op::Update {
            object: Object::Node(next),
            expect_version: Some(expect_version),
        },
        warning,
    })
}

/// Checks Swarm's rules for `DELETE /nodes/{id}` and plans the delete.
pub fn remove(state: &State, key: &str, force: bool) -> Result<Op> {
    let node = state.lookup_node(key)?;
    if node.spec.role == Role::Manager || node.manager_status.is_some() {
        return Err(Error::FailedPrecondition(format!(
            "node {} is a cluster manager and is a member of the raft cluster. It must be demoted to worker before removal",
            node.id
        )));
    }
    if !force && node.status.state == NodeState::Ready {
        return Err(Error::FailedPrecondition(format!(
            "node {} is not down and can't be removed",
            node.id
        )));
    }
    Ok(Op::Delete {
        kind: Kind::Node,
        id: node.id.clone(),
        expect_version: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use state::Txn;
    use types::Timestamp;

    struct Fixture {
        nodes: Vec<Node>,
    }

    fn node(id: &str, role: Role, state: NodeState) -> Node {
        let n = types::testing::node(id)
            .hostname(&format!("host-{id}"))
            .role(role)
            .state(state);
        match role {
            Role::Manager => n.raft_member(1, "a:1").build(),
            Role::Worker => n.build(),
        }
    }

    impl Fixture {
        fn new() -> Fixture {
            Fixture { nodes: vec![] }
        }
        fn with(mut self, id: &str, role: Role, state: NodeState) -> Fixture {
            self.nodes.push(node(id, role, state));
            self
        }
        fn state(self) -> State {
            let ops = self
                .nodes
                .into_iter()
                .map(|n| Op::Create(Object::Node(n)))
                .collect();
            State::default()
                .apply(
                    &Txn {
                        id: 0,
                        ops,
                        now: Timestamp(0),
                    },
                    1,
                )
                .unwrap()
                .0
        }
    }

    fn spec_of(state: &State, id: &str) -> NodeSpec {
        state.node(id).unwrap().spec.clone()
    }

    #[test]
    fn the_last_manager_cannot_be_demoted() {
        let s = Fixture::new()
            .with("m1", Role::Manager, NodeState::Ready)
            .with("w1", Role::Worker, NodeState::Ready)
            .state();
        let spec = NodeSpec {
            role: Role::Worker,
            ..spec_of(&s, "m1")
        };
        assert_eq!(
            update(&s, "m1", 1, spec).unwrap_err(),
            Error::FailedPrecondition("attempting to demote the last manager of the swarm".into())
        );
    }

    #[test]
    fn demotion_that_breaks_quorum_is_refused() {
        let s = Fixture::new()
            .with("m1", Role::Manager, NodeState::Ready)
            .with("m2", Role::Manager, NodeState::Down)
            .with("m3", Role::Manager, NodeState::Down)
            .state();
        let spec = NodeSpec {
            role: Role::Worker,
            ..spec_of(&s, "m1")
        };
        assert!(
            matches!(update(&s, "m1", 1, spec), Err(Error::FailedPrecondition(m)) if m.contains("loss of quorum"))
        );
        // Demoting a down manager keeps the two others... one of which is down too: refused.
        let spec = NodeSpec {
            role: Role::Worker,
            ..spec_of(&s, "m2")
        };
        assert!(update(&s, "m2", 1, spec).is_err());
    }

    #[test]
    fn promotion_to_an_even_count_warns() {
        let s = Fixture::new()
            .with("m1", Role::Manager, NodeState::Ready)
            .with("w1", Role::Worker, NodeState::Ready)
            .state();
        let spec = NodeSpec {
            role: Role::Manager,
            ..spec_of(&s, "w1")
        };
        let plan = update(&s, "w1", 1, spec).unwrap();
        assert!(plan.warning.unwrap().contains("2 managers"));
        let spec = NodeSpec {
            labels: [("a".into(), "b".into())].into(),
            ..spec_of(&s, "w1")
        };
        assert_eq!(update(&s, "w1", 1, spec).unwrap().warning, None);
    }

    /// Commits `op` as entry `index` of `state`.
    fn commit(state: &State, op: Op, index: u64) -> State {
        let txn = Txn {
            id: 0,
            ops: vec![op],
            now: Timestamp(0),
        };
        state.apply(&txn, index).unwrap().0
    }

    /// The system's own write of node `id` (a status change) as entry `index`.
    fn system_write(state: &State, id: &str, index: u64) -> State {
        let mut node = (**state.node(id).unwrap()).clone();
        node.status.state = NodeState::Down;
        let op = Op::Update {
            object: Object::Node(node),
            expect_version: None,
        };
        commit(state, op, index)
    }

    #[test]
    fn a_client_version_from_before_the_systems_own_writes_is_accepted() {
        let s = Fixture::new()
            .with("m1", Role::Manager, NodeState::Ready)
            .with("w1", Role::Worker, NodeState::Ready)
            .state();
        let read = s.node("w1").unwrap().clone();
        // The system writes the node, as it does after a promotion.
        let s = system_write(&s, "w1", 2);
        assert!(s.node("w1").unwrap().meta.version > read.meta.version);

        let promote = NodeSpec {
            role: Role::Manager,
            ..read.spec.clone()
        };
        let plan = update(&s, "w1", read.meta.version, promote)
            .expect("the spec the client read is the current one");
        let s = commit(&s, plan.op, 3);
        let now = s.node("w1").unwrap();
        assert_eq!(now.spec.role, Role::Manager);
        assert_eq!(now.status.state, NodeState::Down, "the system's write is kept");

        // The spec moved on since `read`: a client holding it is out of sequence.
        let drain = NodeSpec {
            availability: types::Availability::Drain,
            ..read.spec.clone()
        };
        assert_eq!(
            update(&s, "w1", read.meta.version, drain.clone()).unwrap_err(),
            Error::OutOfSequence
        );
        assert!(update(&s, "w1", now.meta.version, drain).is_ok());
    }

    #[test]
    fn the_spec_change_index_survives_a_snapshot() {
        let s = Fixture::new().with("w1", Role::Worker, NodeState::Ready).state();
        let read = s.node("w1").unwrap().clone();
        let s = system_write(&s, "w1", 2);
        let back = State::decode(&s.encode().unwrap()).unwrap();
        let node = back.node("w1").unwrap();
        assert_eq!(back.node_spec_changed_at(node), read.meta.version);
        let labels = NodeSpec {
            labels: [("a".into(), "b".into())].into(),
            ..read.spec.clone()
        };
        assert!(update(&back, "w1", read.meta.version, labels).is_ok());
    }

    #[test]
    fn removal_rules() {
        let s = Fixture::new()
            .with("m1", Role::Manager, NodeState::Ready)
            .with("w1", Role::Worker, NodeState::Ready)
            .with("w2", Role::Worker, NodeState::Down)
            .state();
        assert!(
            matches!(remove(&s, "m1", true), Err(Error::FailedPrecondition(m)) if m.contains("must be demoted"))
        );
        assert!(
            matches!(remove(&s, "w1", false), Err(Error::FailedPrecondition(m)) if m.contains("is not down"))
        );
        assert!(remove(&s, "w1", true).is_ok());
        assert!(remove(&s, "w2", false).is_ok());
        assert!(matches!(remove(&s, "nope", true), Err(Error::NotFound(_))));
    }

    #[test]
    fn filters() {
        let s = Fixture::new()
            .with("m1", Role::Manager, NodeState::Ready)
            .with("w1", Role::Worker, NodeState::Ready)
            .state();
        let f = NodeFilters {
            role: vec![Role::Worker],
            ..Default::default()
        };
        assert_eq!(
            list(&s, &f).iter().map(|n| n.id.as_str()).collect::<Vec<_>>(),
            ["w1"]
        );
        let f = NodeFilters {
            name: vec!["host-m".into()],
            ..Default::default()
        };
        assert_eq!(list(&s, &f).len(), 1);
        let f = NodeFilters {
            node_label: vec!["zone".into()],
            ..Default::default()
        };
        assert!(list(&s, &f).is_empty());
    }
}
