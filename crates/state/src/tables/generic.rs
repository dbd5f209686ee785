//! The generic resources tasks were given (`Op::SetGenericResources`): a table beside the
//! tasks, dropped with each task, so that `Task`'s stored encoding stays as it was.

use std::sync::Arc;

use types::generic::GenericResource;

use super::{State, key_in};

impl State {
    /// What task `id` was given (named units, counts); empty when nothing.
    pub fn generic_resources(&self, id: &str) -> &[GenericResource] {
        self.generic.get(id).map(|g| &g[..]).unwrap_or(&[])
    }

    /// Applies one `SetGenericResources` op: tasks that are gone are skipped.
    pub(super) fn set_generic(&mut self, given: &[(String, Vec<GenericResource>)]) {
        for (id, list) in given {
            if !self.tasks.contains_key(id.as_str()) {
                continue;
            }
            if list.is_empty() {
                self.generic.remove(id.as_str());
            } else {
                let key = key_in(&self.tasks, id);
                self.generic.insert(key, Arc::new(list.clone()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Op, Txn};
    use types::{Kind, Object, Timestamp};

    fn apply(state: &State, ops: Vec<Op>, index: u64) -> State {
        let txn = Txn {
            id: 0,
            ops,
            now: Timestamp(0),
        };
        state.apply(&txn, index).unwrap().0
    }

    fn gpu(value: &str) -> GenericResource {
        GenericResource::Named {
            kind: "gpu".into(),
            value: value.into(),
        }
    }

    #[test]
    fn given_units_survive_a_snapshot_and_leave_with_their_task() {
        let task = types::testing::task("t1").build();
        let state = apply(&State::default(), vec![Op::Create(Object::Task(task))], 1);
        let state = apply(
            &state,
            vec![Op::SetGenericResources(vec![
                ("t1".into(), vec![gpu("A"), gpu("B")]),
                ("gone".into(), vec![gpu("C")]),
            ])],
            2,
        );
        assert_eq!(state.generic_resources("t1"), &[gpu("A"), gpu("B")]);
        assert!(
            state.generic_resources("gone").is_empty(),
            "no record for a missing task"
        );

        let back = State::decode(&state.encode().unwrap()).unwrap();
        assert_eq!(back.generic_resources("t1"), &[gpu("A"), gpu("B")]);

        let deleted = apply(
            &back,
            vec![Op::Delete {
                kind: Kind::Task,
                id: "t1".into(),
                expect_version: None,
            }],
            3,
        );
        assert!(deleted.generic_resources("t1").is_empty());
        assert_eq!(
            deleted.encode().unwrap(),
            postcard::to_stdvec(&deleted).unwrap(),
            "no record left behind"
        );
    }
}
