//! Applying a transaction: every precondition is checked against the state as the entry
//! finds it, on every replica alike.

use std::sync::Arc;

use types::{Kind, Meta, Object, Task, TaskState, TaskStatus};

use super::State;
use crate::{Change, NewTask, Op, TaskChange, TaskUpdate, Txn, TxnError};

impl State {
    /// Applies `txn` as Raft entry `index`: checks every precondition against this state,
    /// then returns the next state and the changes. Pure: the same inputs give the same output
    /// on every replica.
    pub fn apply(&self, txn: &Txn, index: u64) -> Result<(State, Vec<Change>), TxnError> {
        let mut next = self.clone();
        let mut changes = Vec::with_capacity(txn.ops.len());
        let stamp = |created| Meta {
            version: index,
            created_at: created,
            updated_at: txn.now,
        };
        for op in &txn.ops {
            match op {
                Op::Create(object) => {
                    let (kind, id) = (object.kind(), object.id().to_string());
                    if next.meta_of(kind, &id).is_some() {
                        return Err(TxnError::Exists { kind, id });
                    }
                    next.check_name(object)?;
                    if let Object::Network(n) = object {
                        next.check_new_network(n)?;
                    }
                    let mut object = object.clone();
                    *object.meta_mut() = stamp(txn.now);
                    next.put(object.clone());
                    changes.push(Change::Created(Box::new(object)));
                }
                Op::Update {
                    object,
                    expect_version,
                } => {
                    let (kind, id) = (object.kind(), object.id().to_string());
                    let Some(old) = next.get(kind, &id) else {
                        return Err(TxnError::NotFound { kind, id });
                    };
                    if expect_version.is_some_and(|v| v != old.meta().version) {
                        return Err(TxnError::OutOfSequence { kind, id });
                    }
                    next.check_name(object)?;
                    let mut object = object.clone();
                    *object.meta_mut() = stamp(old.meta().created_at);
                    next.put(object.clone());
                    changes.push(Change::Updated {
                        old: Box::new(old),
                        new: Box::new(object),
                    });
                }
                Op::Delete {
                    kind,
                    id,
                    expect_version,
                } => {
                    let Some(old) = next.get(*kind, id) else {
                        return Err(TxnError::NotFound {
                            kind: *kind,
                            id: id.clone(),
                        });
                    };
                    if expect_version.is_some_and(|v| v != old.meta().version) {
                        return Err(TxnError::OutOfSequence {
                            kind: *kind,
                            id: id.clone(),
                        });
                    }
                    if *kind == Kind::Network {
                        next.check_network_unused(id)?;
                    }
                    if matches!(kind, Kind::Secret | Kind::Config) {
                        next.check_unreferenced(*kind, id)?;
                    }
                    next.remove(*kind, id);
                    changes.push(Change::Deleted(Box::new(old)));
                }
                Op::CreateTasks {
                    service_id,
                    spec_version,
                    tasks,
                } => {
                    next.create_tasks(service_id, *spec_version, tasks, stamp(txn.now), &mut changes)?;
                }
                Op::AssignTasks { node_id, task_ids } => {
                    for id in task_ids {
                        next.change_task(id, index, txn, &mut changes, false, |t| {
                            if t.status.state != TaskState::Pending
                                || !t.node_id.is_empty() && t.node_id != *node_id
                            {
                                return false;
                            }
                            t.node_id = node_id.clone();
                            t.status = status(TaskState::Assigned, "scheduler assigned task to node", txn);
                            true
                        });
                    }
                }
                Op::UpdateTasks(updates) => {
                    for TaskUpdate { id, change } in updates {
                        let reported = matches!(change, TaskChange::Status(_));
                        next.change_task(id, index, txn, &mut changes, reported, |t| {
                            apply_change(t, change, txn)
                        });
                    }
                }
                Op::SetUnlockKey(key) => next.unlock_key = key.clone(),
                Op::RootCa(op) => next.apply_root_ca(op, index, &mut changes),
                Op::SetGenericResources(given) => next.set_generic(given),
                Op::SetExternalCas(cas) => next.external_cas = cas.clone(),
                Op::SetAddresses(updates) => {
                    for update in updates {
                        next.set_addresses(update, &mut changes)?;
                    }
                }
                Op::DeleteTasks(ids) => {
                    for id in ids {
                        if let Some(old) = next.tasks.get(id.as_str()).cloned() {
                            next.remove(Kind::Task, id);
                            changes.push(Change::Task {
                                old: Some(old),
                                new: None,
                                reported: false,
                            });
                        }
                    }
                }
            }
        }
        next.index = index;
        Ok((next, changes))
    }

    /// Service and network names are unique.
    fn check_name(&self, object: &Object) -> Result<(), TxnError> {
        match object {
            Object::Network(n) => return self.check_network_name(n),
            Object::Secret(s) => return self.check_secret_name(Kind::Secret, &s.id, &s.spec.name),
            Object::Config(c) => return self.check_secret_name(Kind::Config, &c.id, &c.spec.name),
            _ => {}
        }
        if let Object::Service(s) = object {
            self.check_ports(s)?;
        }
        if let Object::Service(s) = object
            && let Some(owner) = self.service_names.get(&s.spec.name)
            && *owner != s.id
        {
            return Err(TxnError::NameConflict {
                kind: Kind::Service,
                name: s.spec.name.clone(),
            });
        }
        Ok(())
    }

    fn create_tasks(
        &mut self,
        service_id: &str,
        spec_version: u64,
        tasks: &[NewTask],
        meta: Meta,
        changes: &mut Vec<Change>,
    ) -> Result<(), TxnError> {
        let Some(service) = self.services.get(service_id).cloned() else {
            return Err(TxnError::NotFound {
                kind: Kind::Service,
                id: service_id.to_string(),
            });
        };
        if service.spec_version != spec_version {
            return Err(TxnError::OutOfSequence {
                kind: Kind::Service,
                id: service_id.to_string(),
            });
        }
        for new in tasks {
            if self.tasks.contains_key(new.id.as_str()) {
                return Err(TxnError::Exists {
                    kind: Kind::Task,
                    id: new.id.clone(),
                });
            }
            let task = Task {
                id: new.id.clone(),
                meta: meta.clone(),
                spec: service.spec.task.clone(),
                spec_version,
                service_id: service.id.clone(),
                service_name: service.spec.name.clone(),
                slot: new.slot,
                node_id: new.node_id.clone(),
                status: TaskStatus {
                    timestamp: meta.created_at,
                    state: TaskState::New,
                    message: "created".into(),
                    ..Default::default()
                },
                desired_state: new.desired_state,
                job_iteration: new.job_iteration,
            };
            let task = Arc::new(task);
            self.put_task(task.clone());
            changes.push(Change::Task {
                old: None,
                new: Some(task),
                reported: false,
            });
        }
        Ok(())
    }

    /// Applies `f` to a copy of task `id`; keeps the copy (restamped) if `f` says it changed.
    /// `reported`: the change is the node's own status report.
    fn change_task(
        &mut self,
        id: &str,
        index: u64,
        txn: &Txn,
        changes: &mut Vec<Change>,
        reported: bool,
        f: impl FnOnce(&mut Task) -> bool,
    ) {
        let Some(old) = self.tasks.get(id).cloned() else {
            return;
        };
        let mut task = (*old).clone();
        if !f(&mut task) {
            return;
        }
        task.meta.version = index;
        task.meta.updated_at = txn.now;
        let task = Arc::new(task);
        self.put_task(task.clone());
        // The old value only matters to watchers when the task left a node or service.
        let left = old.node_id != task.node_id || old.service_id != task.service_id;
        changes.push(Change::Task {
            old: left.then_some(old),
            new: Some(task),
            reported,
        });
    }
}

fn status(state: TaskState, message: &str, txn: &Txn) -> TaskStatus {
    TaskStatus {
        timestamp: txn.now,
        state,
        message: message.to_string(),
        ..Default::default()
    }
}

/// One monotonic change; false when it would move the task backwards (ignored).
fn apply_change(t: &mut Task, change: &TaskChange, txn: &Txn) -> bool {
    match change {
        TaskChange::Pending => {
            if t.status.state != TaskState::New {
                return false;
            }
            t.status = status(TaskState::Pending, "pending task scheduling", txn);
            true
        }
        TaskChange::Unplaceable(reason) => {
            if t.status.state != TaskState::Pending || t.status.err == *reason {
                return false;
            }
            t.status.err = reason.clone();
            t.status.timestamp = txn.now;
            true
        }
        TaskChange::Status(s) => {
            if s.state < t.status.state || *s == t.status {
                return false;
            }
            t.status = s.clone();
            true
        }
        TaskChange::Unallocated(reason) => {
            if t.status.state != TaskState::New || t.status.err == *reason {
                return false;
            }
            t.status.err = reason.clone();
            t.status.timestamp = txn.now;
            true
        }
        TaskChange::Desired(d) => {
            if *d <= t.desired_state {
                return false;
            }
            t.desired_state = *d;
            true
        }
    }
}

#[cfg(test)]
mod tests {
    use types::Timestamp;

    use super::*;

    fn service(id: &str, name: &str) -> Object {
        Object::Service(types::testing::service(name).id(id).replicas(2).build())
    }

    fn txn(ops: Vec<Op>) -> Txn {
        Txn {
            id: 0,
            ops,
            now: Timestamp(7),
        }
    }

    fn new_task(id: &str, slot: u64) -> NewTask {
        NewTask {
            id: id.into(),
            slot,
            node_id: String::new(),
            desired_state: TaskState::Running,
            job_iteration: None,
        }
    }

    fn with_tasks() -> State {
        let s = State::default()
            .apply(&txn(vec![Op::Create(service("s1", "web"))]), 1)
            .unwrap()
            .0;
        let create = Op::CreateTasks {
            service_id: "s1".into(),
            spec_version: 1,
            tasks: vec![new_task("t1", 1), new_task("t2", 2)],
        };
        s.apply(&txn(vec![create]), 2).unwrap().0
    }

    #[test]
    fn service_names_are_unique() {
        let s = State::default()
            .apply(&txn(vec![Op::Create(service("s1", "web"))]), 1)
            .unwrap()
            .0;
        assert_eq!(
            s.apply(&txn(vec![Op::Create(service("s2", "web"))]), 2)
                .unwrap_err(),
            TxnError::NameConflict {
                kind: Kind::Service,
                name: "web".into()
            }
        );
        assert_eq!(s.service_by_name("web").unwrap().id, "s1");
    }

    #[test]
    fn the_services_tasks_name_are_listed_once_each_in_order() {
        // "s1" is a prefix of "s10": the seek past one service must not skip the other.
        let s = with_tasks()
            .apply(&txn(vec![Op::Create(service("s10", "api"))]), 3)
            .unwrap()
            .0;
        let create = Op::CreateTasks {
            service_id: "s10".into(),
            spec_version: s.service("s10").unwrap().spec_version,
            tasks: vec![new_task("a1", 1), new_task("u9", 2)],
        };
        let s = s.apply(&txn(vec![create]), 4).unwrap().0;
        assert_eq!(s.task_service_ids().collect::<Vec<_>>(), ["s1", "s10"]);
        assert_eq!(State::default().task_service_ids().count(), 0);
    }

    #[test]
    fn tasks_take_the_service_spec_and_are_indexed() {
        let s = with_tasks();
        assert_eq!(s.tasks_of_service("s1").count(), 2);
        let t = s.task("t1").unwrap();
        assert_eq!(
            (t.status.state, t.service_name.as_str(), t.meta.version),
            (TaskState::New, "web", 2)
        );
        let stale = Op::CreateTasks {
            service_id: "s1".into(),
            spec_version: 0,
            tasks: vec![new_task("t3", 3)],
        };
        assert!(matches!(
            s.apply(&txn(vec![stale]), 3),
            Err(TxnError::OutOfSequence { .. })
        ));
    }

    #[test]
    fn task_states_never_move_backwards() {
        let s = with_tasks();
        let pending = Op::UpdateTasks(vec![TaskUpdate {
            id: "t1".into(),
            change: TaskChange::Pending,
        }]);
        let s = s.apply(&txn(vec![pending]), 3).unwrap().0;
        let assign = Op::AssignTasks {
            node_id: "n1".into(),
            task_ids: vec!["t1".into(), "t2".into(), "gone".into()],
        };
        let s = s.apply(&txn(vec![assign]), 4).unwrap().0;
        // t2 was still NEW: the scheduler only places pending tasks.
        assert_eq!(s.task("t1").unwrap().status.state, TaskState::Assigned);
        assert_eq!(s.task("t2").unwrap().status.state, TaskState::New);
        assert_eq!(s.tasks_on_node("n1").count(), 1);
        let running = TaskStatus {
            state: TaskState::Running,
            ..Default::default()
        };
        let s = s
            .apply(
                &txn(vec![Op::UpdateTasks(vec![TaskUpdate {
                    id: "t1".into(),
                    change: TaskChange::Status(running),
                }])]),
                5,
            )
            .unwrap()
            .0;
        let back = TaskStatus {
            state: TaskState::Starting,
            ..Default::default()
        };
        let (s2, changes) = s
            .apply(
                &txn(vec![Op::UpdateTasks(vec![TaskUpdate {
                    id: "t1".into(),
                    change: TaskChange::Status(back),
                }])]),
                6,
            )
            .unwrap();
        assert!(changes.is_empty());
        assert_eq!(s2.task("t1").unwrap().status.state, TaskState::Running);
        let s3 = s2
            .apply(&txn(vec![Op::DeleteTasks(vec!["t1".into()])]), 7)
            .unwrap()
            .0;
        assert_eq!(s2.running_tasks("s1"), 1);
        assert_eq!(s3.tasks_on_node("n1").count(), 0);
        assert_eq!(s3.running_tasks("s1"), 0);
        assert_eq!(s3.tasks_of_service("s1").count(), 1);
    }

    #[test]
    fn a_snapshot_round_trip_rebuilds_the_indexes_and_counts() {
        let s = with_tasks();
        let assign = Op::AssignTasks {
            node_id: "n1".into(),
            task_ids: vec!["t1".into()],
        };
        let pending = Op::UpdateTasks(vec![TaskUpdate {
            id: "t1".into(),
            change: TaskChange::Pending,
        }]);
        let running = Op::UpdateTasks(vec![TaskUpdate {
            id: "t1".into(),
            change: TaskChange::Status(TaskStatus {
                state: TaskState::Running,
                ..Default::default()
            }),
        }]);
        let s = s.apply(&txn(vec![pending, assign, running]), 3).unwrap().0;
        assert_eq!(s.running_tasks("s1"), 1);
        let back = State::decode(&s.encode().unwrap()).unwrap();
        assert_eq!(back.running_tasks("s1"), 1);
        let ids = |it: &mut dyn Iterator<Item = &Arc<Task>>| it.map(|t| t.id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(&mut back.tasks_of_service("s1")), ["t1", "t2"]);
        assert_eq!(ids(&mut back.tasks_on_node("n1")), ["t1"]);
        assert_eq!(back.index, s.index);
        assert_eq!(back.task("t2"), s.task("t2"));
    }
}
