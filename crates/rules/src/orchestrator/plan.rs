//! A plan: the ops a reconcile pass wants, grouped so that one stale service cannot block the
//! others (each service's ops commit in their own transaction).

use std::collections::{BTreeMap, BTreeSet};

use state::{NewTask, Op, TaskChange, TaskUpdate};
use types::{Object, Service, Task, TaskState};

/// Ops grouped by the service they concern.
#[derive(Debug, Default, PartialEq)]
pub struct Plan {
    /// New tasks by (service ID, spec version).
    creates: BTreeMap<(String, u64), Vec<NewTask>>,
    /// Desired-state changes by service ID.
    desired: BTreeMap<String, Vec<TaskUpdate>>,
    /// Service object rewrites (update status, rollback).
    services: BTreeMap<String, Service>,
    /// Task deletions (reaper).
    deletes: Vec<String>,
    /// New slots this pass may still open (`None`: no bound, as in unit tests).
    room: Option<u64>,
    /// Services that wanted more new slots than the pass had room for.
    held_back: BTreeSet<String>,
}

impl Plan {
    /// An empty plan that opens at most `room` new slots (replacements of existing slots do
    /// not count: they keep the number of live tasks).
    pub fn with_room(room: u64) -> Plan {
        Plan {
            room: Some(room),
            ..Default::default()
        }
    }

    /// Takes room for one new slot of `service`; false, with the service noted as held
    /// back, when the pass has none left.
    pub fn take_room(&mut self, service: &Service) -> bool {
        match &mut self.room {
            None => true,
            Some(0) => {
                self.held_back.insert(service.id.clone());
                false
            }
            Some(left) => {
                *left -= 1;
                true
            }
        }
    }

    /// Services that still want new slots (the next pass must look at them again).
    pub fn held_back(&self) -> &BTreeSet<String> {
        &self.held_back
    }

    /// A new task for `service`'s current spec.
    pub fn create(&mut self, service: &Service, task: NewTask) {
        self.creates
            .entry((service.id.clone(), service.spec_version))
            .or_default()
            .push(task);
    }

    /// Moves `task`'s desired state forward (no-op if it is there already).
    pub fn desire(&mut self, task: &Task, state: TaskState) {
        if task.desired_state >= state {
            return;
        }
        self.desired
            .entry(task.service_id.clone())
            .or_default()
            .push(TaskUpdate {
                id: task.id.clone(),
                change: TaskChange::Desired(state),
            });
    }

    /// Writes `service` back (its version guards against concurrent API updates).
    pub fn update_service(&mut self, service: Service) {
        self.services.insert(service.id.clone(), service);
    }

    /// Drops the task creations and desired-state changes planned for `service_id`: its spec
    /// is about to change, and tasks of the old spec version would make the store refuse the
    /// whole transaction. The next pass plans them again under the new spec.
    pub fn forget_tasks(&mut self, service_id: &str) {
        self.creates.retain(|(s, _), _| s != service_id);
        self.desired.remove(service_id);
    }

    /// The pending rewrite of a service, if this pass already made one.
    pub fn service(&self, id: &str) -> Option<&Service> {
        self.services.get(id)
    }

    /// Deletes a task.
    pub fn delete(&mut self, task: &Task) {
        self.deletes.push(task.id.clone());
    }

    /// True when there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.creates.is_empty()
            && self.desired.is_empty()
            && self.services.is_empty()
            && self.deletes.is_empty()
    }

    /// Number of tasks to create (tests, metrics).
    pub fn created(&self) -> usize {
        self.creates.values().map(Vec::len).sum()
    }

    /// New tasks planned for `service_id`.
    pub fn creates_for(&self, service_id: &str) -> Vec<&NewTask> {
        self.creates
            .iter()
            .filter(|((s, _), _)| s == service_id)
            .flat_map(|(_, v)| v)
            .collect()
    }

    /// Desired-state changes planned for `service_id`.
    pub fn desired_for(&self, service_id: &str) -> Vec<(&str, TaskState)> {
        self.desired
            .get(service_id)
            .into_iter()
            .flatten()
            .filter_map(|u| match u.change {
                TaskChange::Desired(s) => Some((u.id.as_str(), s)),
                _ => None,
            })
            .collect()
    }

    /// Task IDs planned for deletion.
    pub fn deletes(&self) -> &[String] {
        &self.deletes
    }

    /// The transactions to commit: one per service (service rewrite first, then its tasks),
    /// and one for deletions.
    pub fn into_txns(self) -> Vec<Vec<Op>> {
        let mut by_service: BTreeMap<String, Vec<Op>> = BTreeMap::new();
        for (id, service) in self.services {
            let version = service.meta.version;
            by_service.entry(id).or_default().push(Op::Update {
                object: Object::Service(service),
                expect_version: Some(version),
            });
        }
        for (id, updates) in self.desired {
            by_service.entry(id).or_default().push(Op::UpdateTasks(updates));
        }
        for ((id, spec_version), tasks) in self.creates {
            by_service.entry(id.clone()).or_default().push(Op::CreateTasks {
                service_id: id,
                spec_version,
                tasks,
            });
        }
        let mut txns: Vec<Vec<Op>> = by_service.into_values().collect();
        if !self.deletes.is_empty() {
            txns.push(vec![Op::DeleteTasks(self.deletes)]);
        }
        txns
    }
}
