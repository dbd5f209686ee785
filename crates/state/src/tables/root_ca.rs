//! Applying [`RootCaOp`]: the root CA rotation state beside the cluster object.

use std::sync::Arc;

use types::Object;

use super::State;
use crate::{Change, RootCaOp};

impl State {
    /// Applies one root CA op as entry `index`, and restamps the cluster so that its version
    /// moves with the rotation (as Swarm's, whose rotation is a field of the cluster).
    pub(super) fn apply_root_ca(&mut self, op: &RootCaOp, index: u64, changes: &mut Vec<Change>) {
        match op {
            RootCaOp::Set(state) => self.ca_state = state.clone(),
            RootCaOp::Renewed { node_id, ca_cert_pem } => match &mut self.ca_state.rotation {
                Some(rotation) if rotation.ca_cert_pem == *ca_cert_pem => {
                    rotation.renewed.insert(node_id.clone());
                }
                _ => return,
            },
        }
        let Some((id, old)) = self.clusters.iter().next().map(|(k, c)| (k.clone(), c.clone())) else {
            return;
        };
        let mut new = (*old).clone();
        new.meta.version = index;
        self.clusters.insert(id, Arc::new(new.clone()));
        changes.push(Change::Updated {
            old: Box::new(Object::Cluster((*old).clone())),
            new: Box::new(Object::Cluster(new)),
        });
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use types::{CaState, RootRotation, Timestamp};

    use super::*;
    use crate::{Op, Txn};

    fn apply(state: &State, ops: Vec<Op>) -> State {
        let txn = Txn {
            id: 0,
            ops,
            now: Timestamp(0),
        };
        state.apply(&txn, state.index + 1).unwrap().0
    }

    fn rotation(root: &str) -> CaState {
        CaState {
            force_rotate: 1,
            rotation: Some(RootRotation {
                ca_cert_pem: root.into(),
                ca_key_pem: "key".into(),
                cross_signed_pem: "cross".into(),
                renewed: BTreeSet::new(),
            }),
        }
    }

    fn renewed(node: &str, root: &str) -> Op {
        Op::RootCa(RootCaOp::Renewed {
            node_id: node.into(),
            ca_cert_pem: root.into(),
        })
    }

    #[test]
    fn renewals_count_only_for_the_rotation_under_way_and_survive_a_snapshot() {
        let state = apply(&State::default(), vec![renewed("n1", "new")]);
        assert_eq!(state.ca_state(), &CaState::default());
        let state = apply(&state, vec![Op::RootCa(RootCaOp::Set(rotation("new")))]);
        let state = apply(&state, vec![renewed("n1", "new"), renewed("n2", "older")]);
        let want: BTreeSet<String> = ["n1".to_string()].into();
        assert_eq!(state.ca_state().rotation.as_ref().unwrap().renewed, want);
        let decoded = State::decode(&state.encode().unwrap()).unwrap();
        assert_eq!(decoded.ca_state(), state.ca_state());
        // A state without rotation encodes as before: no record.
        let plain = apply(&State::default(), vec![]);
        assert_eq!(plain.encode().unwrap(), postcard::to_stdvec(&plain).unwrap());
    }
}
