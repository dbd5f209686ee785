//! Authorization on the cluster port by current membership: a certificate says who a caller
//! was when it was issued; the replicated state says who it is now. Every handler asks
//! [`authorize`] before doing anything, so a demoted or removed node loses its rights at
//! once, whatever its certificate (valid for 90 days) still claims.
//!
//! ```text
//! TLS handshake ─► PeerIdentity (node ID, role, cluster) ─► require_node (right cluster)
//!   ─► View::of (this replica's Raft membership and node object) ─► authorize(family, ..)
//! ```
//!
//! Two orders matter, both taken from SwarmKit:
//! - A demoted manager keeps serving Raft until the leader has taken it out of the member
//!   list: with two voters the removal itself needs its vote. So the Raft family asks only
//!   "is the caller a Raft member?", never "is its node a manager in the spec?".
//! - A replica that is behind may not have applied a new member's node object yet. Raft
//!   membership comes with the log (the leader's word), so it counts where the node object is
//!   missing; and a follower that cannot know defers to the leader, which decides.

use types::Role;

/// The families of calls on the cluster port, by what they grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Raft replication: append, vote, pre-vote, snapshot, leadership transfer.
    Raft,
    /// Manager-to-manager control: forwarded writes, read index, log subscriptions.
    Control,
    /// `Control/JoinRaft`: a promoted (or joining) manager asks to become a member.
    JoinRaft,
    /// Node sessions: session, heartbeat, assignments, task statuses, logs, leave.
    Dispatcher,
    /// Certificate renewal (role changes, rotation).
    CaRenew,
}

/// Who is calling, from its verified certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller<'a> {
    /// Node ID (certificate CN).
    pub node_id: &'a str,
    /// Role the certificate claims.
    pub role: Role,
}

/// What this replica knows of the caller's membership right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct View {
    /// This replica leads, so its state is the cluster's latest word.
    pub authoritative: bool,
    /// This replica has a Raft membership at all; a manager that just asked to join has
    /// none until the leader's first message reaches it.
    pub raft_initialised: bool,
    /// The caller's node is in this replica's Raft membership (voter or learner).
    pub raft_member: bool,
    /// The role the caller's node object asks for, if this replica has that object.
    pub desired_role: Option<Role>,
}

/// Why a call was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// A worker certificate on a manager-only call.
    #[error("node {0} is a worker; this call needs a manager certificate")]
    WorkerCertificate(String),
    /// The node is no longer in the swarm. (Marked [`rpc::Reason::NodeRemoved`]: the agent
    /// treats it as final.)
    #[error("node {0} was removed from the swarm")]
    Removed(String),
    /// The node was demoted; its manager certificate no longer counts.
    #[error("node {0} was demoted to worker; its manager certificate is no longer honoured")]
    Demoted(String),
    /// The node is not (or no longer) a member of the Raft group.
    #[error("node {0} is not a member of the raft group")]
    NotRaftMember(String),
    /// This replica is behind and cannot tell yet; another manager (the leader) can.
    #[error("node {0} is not known to this manager yet; retry at the leader")]
    NotKnownYet(String),
}

impl From<Denied> for tonic::Status {
    fn from(d: Denied) -> Self {
        match d {
            // Retrying elsewhere helps only for a replica that is behind.
            Denied::NotKnownYet(_) => tonic::Status::unavailable(d.to_string()),
            Denied::Removed(_) => {
                rpc::Reason::NodeRemoved.attach(tonic::Status::permission_denied(d.to_string()))
            }
            _ => tonic::Status::permission_denied(d.to_string()),
        }
    }
}

/// Pure: may `caller` make a call of `family` here, given what this replica knows (`view`)?
pub fn authorize(family: Family, caller: Caller<'_>, view: View) -> Result<(), Denied> {
    let id = || caller.node_id.to_string();
    let manager_only = matches!(family, Family::Raft | Family::Control | Family::JoinRaft);
    if manager_only && caller.role != Role::Manager {
        return Err(Denied::WorkerCertificate(id()));
    }
    match family {
        Family::Raft => {
            // Membership alone decides: a demoted member still has to vote on its removal,
            // and a new member may be ahead of its node object here.
            if view.raft_member || !view.raft_initialised {
                Ok(())
            } else {
                Err(Denied::NotRaftMember(id()))
            }
        }
        Family::Control => {
            if view.desired_role == Some(Role::Worker) {
                Err(Denied::Demoted(id()))
            } else if view.raft_member {
                Ok(())
            } else if view.desired_role.is_none() && view.authoritative {
                Err(Denied::Removed(id()))
            } else {
                Err(Denied::NotRaftMember(id()))
            }
        }
        Family::JoinRaft => {
            if !view.authoritative {
                // A follower forwards the request under its own name; the leader checks
                // the joiner against the latest state (a promotion may not be here yet).
                return Ok(());
            }
            match view.desired_role {
                Some(Role::Manager) => Ok(()),
                Some(Role::Worker) => Err(Denied::Demoted(id())),
                None => Err(Denied::Removed(id())),
            }
        }
        // Any certificate role: a promoted node still holds its worker certificate, and a
        // demoted one its manager certificate, until the session tells it to renew.
        Family::Dispatcher | Family::CaRenew => match view.desired_role {
            Some(_) => Ok(()),
            None if view.authoritative => Err(Denied::Removed(id())),
            None => Err(Denied::NotKnownYet(id())),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FAMILIES: [Family; 5] = [
        Family::Raft,
        Family::Control,
        Family::JoinRaft,
        Family::Dispatcher,
        Family::CaRenew,
    ];

    /// Every view there is.
    fn views() -> Vec<View> {
        let mut out = Vec::new();
        for authoritative in [false, true] {
            for raft_initialised in [false, true] {
                for raft_member in [false, true] {
                    for desired_role in [None, Some(Role::Worker), Some(Role::Manager)] {
                        out.push(View {
                            authoritative,
                            raft_initialised,
                            raft_member,
                            desired_role,
                        });
                    }
                }
            }
        }
        out
    }

    fn caller(role: Role) -> Caller<'static> {
        Caller { node_id: "n1", role }
    }

    /// An independent statement of the rules, case by case, to check the function against.
    fn expected(family: Family, role: Role, v: View) -> Result<(), &'static str> {
        use Family::*;
        let worker_cert = role == Role::Worker;
        match family {
            Raft | Control | JoinRaft if worker_cert => Err("worker"),
            Raft if !v.raft_initialised => Ok(()),
            Raft if v.raft_member => Ok(()),
            Raft => Err("not member"),
            Control if v.desired_role == Some(Role::Worker) => Err("demoted"),
            Control if v.raft_member => Ok(()),
            Control if v.authoritative && v.desired_role.is_none() => Err("removed"),
            Control => Err("not member"),
            JoinRaft if !v.authoritative => Ok(()),
            JoinRaft if v.desired_role == Some(Role::Manager) => Ok(()),
            JoinRaft if v.desired_role == Some(Role::Worker) => Err("demoted"),
            JoinRaft => Err("removed"),
            Dispatcher | CaRenew if v.desired_role.is_some() => Ok(()),
            Dispatcher | CaRenew if v.authoritative => Err("removed"),
            Dispatcher | CaRenew => Err("not known yet"),
        }
    }

    fn kind(d: &Denied) -> &'static str {
        match d {
            Denied::WorkerCertificate(_) => "worker",
            Denied::Removed(_) => "removed",
            Denied::Demoted(_) => "demoted",
            Denied::NotRaftMember(_) => "not member",
            Denied::NotKnownYet(_) => "not known yet",
        }
    }

    #[test]
    fn every_family_role_and_view_matches_the_rules() {
        let mut cases = 0;
        for family in FAMILIES {
            for role in [Role::Worker, Role::Manager] {
                for v in views() {
                    let got = authorize(family, caller(role), v);
                    let got = got.as_ref().map_err(kind).copied();
                    assert_eq!(got, expected(family, role, v), "{family:?} {role:?} {v:?}");
                    cases += 1;
                }
            }
        }
        assert_eq!(cases, 5 * 2 * 24);
    }

    #[test]
    fn a_removed_manager_is_refused_by_every_family_on_the_leader() {
        let removed = View {
            authoritative: true,
            raft_initialised: true,
            raft_member: false,
            desired_role: None,
        };
        for family in FAMILIES {
            assert!(
                authorize(family, caller(Role::Manager), removed).is_err(),
                "{family:?}"
            );
        }
    }

    #[test]
    fn a_demoted_manager_still_in_raft_may_only_replicate_and_keep_its_session() {
        let demoted = View {
            authoritative: true,
            raft_initialised: true,
            raft_member: true,
            desired_role: Some(Role::Worker),
        };
        let c = caller(Role::Manager);
        assert_eq!(authorize(Family::Raft, c, demoted), Ok(()));
        assert_eq!(authorize(Family::Dispatcher, c, demoted), Ok(()));
        assert_eq!(authorize(Family::CaRenew, c, demoted), Ok(()));
        assert_eq!(
            authorize(Family::Control, c, demoted),
            Err(Denied::Demoted("n1".into()))
        );
        assert_eq!(
            authorize(Family::JoinRaft, c, demoted),
            Err(Denied::Demoted("n1".into()))
        );
        // Once out of the member list, Raft refuses it too.
        let out = View {
            raft_member: false,
            ..demoted
        };
        assert_eq!(
            authorize(Family::Raft, c, out),
            Err(Denied::NotRaftMember("n1".into()))
        );
    }

    #[test]
    fn a_lagging_follower_trusts_raft_membership_over_a_missing_node_object() {
        let lagging = View {
            authoritative: false,
            raft_initialised: true,
            raft_member: true,
            desired_role: None,
        };
        let c = caller(Role::Manager);
        assert_eq!(authorize(Family::Raft, c, lagging), Ok(()));
        assert_eq!(authorize(Family::Control, c, lagging), Ok(()));
        // Node calls it cannot judge are not called removals (the agent would give up).
        let err = authorize(Family::Dispatcher, c, lagging).unwrap_err();
        let s = tonic::Status::from(err);
        assert_eq!(s.code(), tonic::Code::Unavailable);
        assert_eq!(rpc::Reason::of(&s), None);
    }

    #[test]
    fn refusals_carry_permission_denied_and_only_a_removal_the_reason_agents_act_on() {
        let s = tonic::Status::from(Denied::Removed("abc".into()));
        assert_eq!(s.code(), tonic::Code::PermissionDenied);
        assert_eq!(s.message(), "node abc was removed from the swarm");
        assert_eq!(rpc::Reason::of(&s), Some(rpc::Reason::NodeRemoved));
        for d in [
            Denied::WorkerCertificate("a".into()),
            Denied::Demoted("a".into()),
            Denied::NotRaftMember("a".into()),
        ] {
            let s = tonic::Status::from(d);
            assert_eq!(s.code(), tonic::Code::PermissionDenied);
            // Only a real removal may make an agent stop for good.
            assert_eq!(rpc::Reason::of(&s), None, "{}", s.message());
        }
    }
}
