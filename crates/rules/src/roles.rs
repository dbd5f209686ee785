//! Role reconciliation on the leader: a node demoted in its spec leaves the Raft group.
//! Promotion is driven by the promoted node itself (new certificate, then `JoinRaft`).

use std::collections::BTreeMap;

use state::Peer;
use state::State;
use types::{NodeState, Role};

/// One step towards the roles operators asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleAction {
    /// Remove the member from Raft, then clear the node's manager status.
    RemoveMember {
        /// The node.
        node_id: String,
        /// Its Raft member ID.
        raft_id: u64,
    },
    /// The leader itself is being demoted: hand leadership over first.
    TransferLeadership {
        /// Raft member to hand over to.
        to: u64,
    },
}

/// Pure: the role a node should hold now, given the role its spec asks for and whether it is
/// still a Raft member. A demoted manager stays a manager until the leader has taken it out
/// of the member list (SwarmKit's order): with two managers the removal needs its vote, so a
/// node that stopped serving Raft first would leave the swarm without a leader. A promoted
/// node becomes a manager at once: it must hold a manager certificate to ask to join.
pub fn role_now(desired: Role, raft_member: bool) -> Role {
    if raft_member { Role::Manager } else { desired }
}

/// Pure: what to do about nodes whose desired role is worker but which are still members.
pub fn plan(state: &State, leader_node_id: &str, voters: &BTreeMap<u64, Peer>) -> Vec<RoleAction> {
    let mut actions = Vec::new();
    for node in state.nodes() {
        let Some(status) = &node.manager_status else {
            continue;
        };
        if node.spec.role != Role::Worker {
            continue;
        }
        if node.id == leader_node_id {
            // Pick a ready voter that stays a manager (lowest ID, for determinism) to lead instead.
            let to = voters.iter().find(|(id, peer)| {
                **id != status.raft_id
                    && state
                        .node(&peer.node_id)
                        .is_some_and(|n| n.status.state == NodeState::Ready && n.spec.role == Role::Manager)
            });
            if let Some((to, _)) = to {
                actions.push(RoleAction::TransferLeadership { to: *to });
            }
        } else {
            actions.push(RoleAction::RemoveMember {
                node_id: node.id.clone(),
                raft_id: status.raft_id,
            });
        }
    }
    actions
}

#[cfg(test)]
mod tests {
    use super::*;
    use state::{Op, Txn};
    use types::{Node, Object, Timestamp};

    fn member(id: &str, raft_id: u64, desired: Role) -> Node {
        let mut n = types::testing::node(id)
            .role(Role::Manager)
            .raft_member(raft_id, &format!("{id}:2377"))
            .build();
        n.spec.role = desired;
        n
    }

    #[test]
    fn a_demoted_member_stays_a_manager_until_it_is_out_of_raft() {
        assert_eq!(role_now(Role::Worker, true), Role::Manager);
        assert_eq!(role_now(Role::Worker, false), Role::Worker);
        assert_eq!(role_now(Role::Manager, false), Role::Manager);
        assert_eq!(role_now(Role::Manager, true), Role::Manager);
    }

    #[test]
    fn demoted_followers_are_removed_and_a_demoted_leader_hands_over() {
        let nodes = [
            member("a", 1, Role::Worker),
            member("b", 2, Role::Manager),
            member("c", 3, Role::Worker),
        ];
        let ops = nodes
            .iter()
            .cloned()
            .map(|n| Op::Create(Object::Node(n)))
            .collect();
        let state = State::default()
            .apply(
                &Txn {
                    id: 0,
                    ops,
                    now: Timestamp(0),
                },
                1,
            )
            .unwrap()
            .0;
        let voters = nodes
            .iter()
            .map(|n| {
                let ms = n.manager_status.clone().unwrap();
                (
                    ms.raft_id,
                    Peer {
                        addr: ms.addr,
                        node_id: n.id.clone(),
                    },
                )
            })
            .collect();
        assert_eq!(
            plan(&state, "a", &voters),
            vec![
                RoleAction::TransferLeadership { to: 2 },
                RoleAction::RemoveMember {
                    node_id: "c".into(),
                    raft_id: 3
                },
            ]
        );
    }
}
