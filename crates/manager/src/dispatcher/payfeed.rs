//! Secrets and configs on the assignment streams: a node receives exactly those its tasks
//! reference (`State::payloads_for_node`: tasks that should run, not finished), each once, in
//! the message that carries the first task needing it, and hears to drop it when its last
//! such task goes.
//!
//! ```text
//! node stream ── full(tasks) ──────► every payload the node needs (the node drops the rest)
//!             ── update(message) ──► payloads new to the node  +  IDs it no longer needs
//! ```
//!
//! Unlike network views nothing is shared between streams: a payload's data never changes
//! (Swarm's secrets and configs are immutable but for labels), so a stream only remembers
//! which IDs it sent. The set comes from the stream's index of its node's tasks
//! (`node_tasks.rs`), recomputed only when a task starts or stops needing payloads.

use std::collections::BTreeSet;

use store::State;
use types::{Payload, PayloadKind};

use super::node_tasks::NodeTasks;

/// What a stream tells its node about payloads in one message.
#[derive(Debug, Default)]
pub struct PayloadUpdate {
    /// Payloads new to the node.
    pub payloads: Vec<Payload>,
    /// Payloads it no longer needs.
    pub removed: Vec<(PayloadKind, String)>,
}

impl PayloadUpdate {
    /// True when there is nothing to send.
    pub fn is_empty(&self) -> bool {
        self.payloads.is_empty() && self.removed.is_empty()
    }
}

/// One assignment stream's memory: the payloads its node holds.
#[derive(Debug, Default)]
pub struct StreamPayloads {
    sent: BTreeSet<(PayloadKind, String)>,
}

impl StreamPayloads {
    /// Every payload the node of `tasks` needs, for a full assignment message (the node
    /// drops any other).
    pub fn full(&mut self, state: &State, tasks: &NodeTasks) -> Vec<Payload> {
        self.sent.clear();
        self.update(state, tasks).payloads
    }

    /// The payloads new to the node of `tasks` and those it no longer needs, as of `state`.
    /// Called only when its tasks' payloads may have changed (`Alters::payloads`): a status
    /// report costs nothing here.
    pub fn update(&mut self, state: &State, tasks: &NodeTasks) -> PayloadUpdate {
        let mut out = PayloadUpdate::default();
        let mut keys = BTreeSet::new();
        for (kind, id) in tasks.payloads() {
            // A reference resolves at create and a payload in use cannot be removed; one
            // missing anyway has nothing to send.
            let payload = match kind {
                PayloadKind::Secret => state.secret(id).map(|s| Payload::of_secret(s)),
                PayloadKind::Config => state.config(id).map(|c| Payload::of_config(c)),
            };
            let Some(payload) = payload else { continue };
            let key = (*kind, id.clone());
            if !self.sent.contains(&key) {
                out.payloads.push(payload);
            }
            keys.insert(key);
        }
        out.removed = self.sent.difference(&keys).cloned().collect();
        self.sent = keys;
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use store::{NewTask, Op, TaskChange, TaskUpdate, Txn};
    use types::{Meta, Object, Secret, SecretData, SecretSpec, TaskState, Timestamp};

    use super::*;

    fn secret(id: &str, data: &str) -> Object {
        Object::Secret(Secret {
            id: id.into(),
            meta: Meta::default(),
            spec: SecretSpec {
                name: format!("name-{id}"),
                labels: BTreeMap::new(),
                data: SecretData(data.as_bytes().to_vec()),
            },
        })
    }

    fn service_using(id: &str, secret_id: &str) -> Object {
        let mut task = types::TaskSpec::default();
        task.container.extra = format!(r#"{{"Secrets":[{{"SecretID":"{secret_id}","SecretName":"x"}}]}}"#);
        Object::Service(types::Service {
            id: id.into(),
            meta: Meta::default(),
            spec: types::ServiceSpec {
                name: id.into(),
                labels: BTreeMap::new(),
                task: Arc::new(task),
                mode: types::ServiceMode::Replicated { replicas: 1 },
                update: None,
                rollback: None,
                endpoint: None,
            },
            spec_version: 1,
            spec_changed_at: 0,
            previous_spec: None,
            endpoint: types::Endpoint::default(),
            update_status: None,
            job_status: None,
        })
    }

    fn tasks(service: &str, id: &str, node: &str) -> [Op; 3] {
        [
            Op::CreateTasks {
                service_id: service.into(),
                spec_version: 1,
                tasks: vec![NewTask {
                    id: id.into(),
                    slot: 1,
                    node_id: node.into(),
                    desired_state: TaskState::Running,
                    job_iteration: None,
                }],
            },
            Op::UpdateTasks(vec![TaskUpdate {
                id: id.into(),
                change: TaskChange::Pending,
            }]),
            Op::AssignTasks {
                node_id: node.into(),
                task_ids: vec![id.into()],
            },
        ]
    }

    /// The index a stream of `node` holds after a full message.
    fn index(state: &State, node: &str) -> NodeTasks {
        let tasks: Vec<types::Task> = state.tasks_on_node(node).map(|t| (**t).clone()).collect();
        let mut index = NodeTasks::default();
        index.reset(state, node, &tasks);
        index
    }

    fn apply(s: &State, ops: Vec<Op>) -> State {
        let txn = Txn {
            id: 0,
            ops,
            now: Timestamp(1),
        };
        s.apply(&txn, s.index + 1).map(|(s, _)| s).unwrap()
    }

    #[test]
    fn a_node_gets_what_its_tasks_use_once_and_drops_it_with_the_last_task() {
        let state = apply(
            &State::default(),
            [
                Op::Create(secret("s1", "one")),
                Op::Create(secret("s2", "two")),
                Op::Create(service_using("a", "s1")),
                Op::Create(service_using("b", "s2")),
            ]
            .into_iter()
            .chain(tasks("a", "t1", "n1"))
            .chain(tasks("b", "t2", "n2"))
            .collect(),
        );
        let mut stream = StreamPayloads::default();
        let full = stream.full(&state, &index(&state, "n1"));
        assert_eq!(full.len(), 1);
        assert_eq!(
            (full[0].id.as_str(), full[0].data.0.as_slice()),
            ("s1", &b"one"[..])
        );
        assert!(
            stream.update(&state, &index(&state, "n1")).is_empty(),
            "sent once"
        );

        let stop = Op::UpdateTasks(vec![TaskUpdate {
            id: "t1".into(),
            change: TaskChange::Desired(TaskState::Shutdown),
        }]);
        let state = apply(&state, vec![stop]);
        let update = stream.update(&state, &index(&state, "n1"));
        assert!(update.payloads.is_empty());
        assert_eq!(update.removed, [(PayloadKind::Secret, "s1".to_string())]);
        assert!(
            stream.full(&state, &index(&state, "n1")).is_empty(),
            "n2's secret never reaches n1"
        );
    }
}
