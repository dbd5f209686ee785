//! The tables: an immutable, cheaply cloned value (persistent maps), so a reader holds a
//! consistent snapshot without a lock while writers build the next version.
//!
//! Tasks are indexed by service and by node (ordered sets of `(owner, task)` pairs), the
//! two questions every loop asks; service names are indexed for uniqueness.
//!
//! IDs are kept as shared `Arc<str>` keys: a task's ID is one allocation shared by its table
//! entry and both index entries, and a service's or node's ID is shared by all their tasks'
//! index entries. A persistent map copies whole tree nodes on a write after a reader took a
//! version, so keys that clone by a reference count keep that copy free of allocations.
//! The indexes are not part of a snapshot; they are rebuilt from the tasks.

mod apply;
mod extra;
mod generic;
mod lookup;
mod networks;
mod ports;
mod root_ca;
mod secrets;

use std::sync::Arc;

use imbl::{OrdMap, OrdSet};
use serde::{Deserialize, Serialize};
use types::{Cluster, Config, Kind, Meta, NetAddr, Network, Node, Object, Secret, Service, Task, TaskState};

pub use lookup::LookupError;

use crate::{Owner, TxnResult};

/// One consistent version of every table.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    /// Raft index of the last applied entry.
    pub index: u64,
    nodes: OrdMap<Key, Arc<Node>>,
    clusters: OrdMap<String, Arc<Cluster>>,
    services: OrdMap<Key, Arc<Service>>,
    service_names: OrdMap<String, String>,
    tasks: OrdMap<Key, Arc<Task>>,
    #[serde(skip)]
    tasks_by_service: OrdSet<(Key, Key)>,
    #[serde(skip)]
    tasks_by_node: OrdSet<(Key, Key)>,
    /// Per service, how many of its tasks run and should (what `service ls` shows, asked
    /// for often by progress displays; counting 100k tasks each time would be slow).
    #[serde(skip)]
    running: OrdMap<Key, u64>,
    /// Results of recent proposals by ID, and their order, for de-duplication.
    recent: OrdMap<u128, TxnResult>,
    recent_order: OrdMap<u64, u128>,
    /// The managers' unlock key while autolock is on. Written after the tables above as an
    /// [`extra::Extra`] record, so snapshots from before it still decode (see `extra.rs`).
    #[serde(skip)]
    unlock_key: Option<crate::crypto::UnlockKey>,
    /// Networks by ID, written as [`extra::Extra`] records like the unlock key
    /// (`networks.rs`).
    #[serde(skip)]
    networks: OrdMap<Key, Arc<Network>>,
    /// Network names (unique), rebuilt from the networks.
    #[serde(skip)]
    network_names: OrdMap<String, Key>,
    /// Addresses held by tasks (attachments) and services (VIPs), written as records.
    #[serde(skip)]
    addresses: OrdMap<Owner, Arc<Vec<NetAddr>>>,
    /// Every held address by network, rebuilt from `addresses`.
    #[serde(skip)]
    held: OrdMap<(Key, u32), Owner>,
    /// Secrets by ID, written as [`extra::Extra`] records (`secrets.rs`).
    #[serde(skip)]
    secrets: OrdMap<Key, Arc<Secret>>,
    /// Secret names (unique), rebuilt from the secrets.
    #[serde(skip)]
    secret_names: OrdMap<String, Key>,
    /// Configs by ID, written as records.
    #[serde(skip)]
    configs: OrdMap<Key, Arc<Config>>,
    /// Config names (unique), rebuilt from the configs.
    #[serde(skip)]
    config_names: OrdMap<String, Key>,
    /// Root CA rotation state, written as an [`extra::Extra`] record when not the default.
    #[serde(skip)]
    ca_state: types::CaState,
    /// The generic resources each task was given, written as [`extra::Extra`] records
    /// (`generic.rs`).
    #[serde(skip)]
    generic: OrdMap<Key, Arc<Vec<types::generic::GenericResource>>>,
    /// The cluster spec's external CAs, written as an [`extra::Extra`] record when any.
    #[serde(skip)]
    external_cas: Vec<types::ExternalCa>,
    /// Per node, the index of the write that last changed its spec, written as
    /// [`extra::Extra`] records. A node update from a client that read the current spec is
    /// accepted even if the system's own writes (status, observed role, Raft membership)
    /// moved the version since (see `node_spec_changed_at`).
    #[serde(skip)]
    node_spec_changed: OrdMap<Key, u64>,
}

/// Proposal results remembered for de-duplication. A retry arrives within seconds, so a few
/// thousand entries cover any realistic window.
const RECENT_PROPOSALS: usize = 4096;

/// A shared ID.
type Key = Arc<str>;

/// Task IDs under one owner in an `(owner, task)` index.
fn owned<'a>(index: &'a OrdSet<(Key, Key)>, owner: &str) -> impl Iterator<Item = &'a str> + 'a {
    let owner_key: Key = Arc::from(owner);
    index
        .range((owner_key.clone(), Key::from(""))..)
        .take_while(move |(o, _)| *o == owner_key)
        .map(|(_, t)| &**t)
}

/// `id` as a key, shared with `map`'s entry for it when there is one.
fn key_in<V: Clone>(map: &OrdMap<Key, V>, id: &str) -> Key {
    map.get_key_value(id)
        .map(|(k, _)| k.clone())
        .unwrap_or_else(|| Arc::from(id))
}

impl State {
    /// A node by exact ID.
    pub fn node(&self, id: &str) -> Option<&Arc<Node>> {
        self.nodes.get(id)
    }

    /// The index of the write that last changed `node`'s spec. A state restored from a
    /// snapshot written before these were kept does not know it: the node's own version is
    /// then the bound, which only makes an update from an older read out of sequence.
    pub fn node_spec_changed_at(&self, node: &Node) -> u64 {
        self.node_spec_changed
            .get(node.id.as_str())
            .copied()
            .unwrap_or(node.meta.version)
    }

    /// All nodes, ordered by ID.
    pub fn nodes(&self) -> impl Iterator<Item = &Arc<Node>> {
        self.nodes.values()
    }

    /// Number of nodes.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// The managers' unlock key, while autolock is on.
    pub fn unlock_key(&self) -> Option<&crate::crypto::UnlockKey> {
        self.unlock_key.as_ref()
    }

    /// The root CA rotation state (`ForceRotate` last acted on, the rotation under way).
    pub fn ca_state(&self) -> &types::CaState {
        &self.ca_state
    }

    /// The cluster spec's external CAs (`CAConfig.ExternalCAs`).
    pub fn external_cas(&self) -> &[types::ExternalCa] {
        &self.external_cas
    }

    /// The cluster singleton, once the swarm is initialised.
    pub fn cluster(&self) -> Option<&Arc<Cluster>> {
        self.clusters.values().next()
    }

    /// A service by exact ID.
    pub fn service(&self, id: &str) -> Option<&Arc<Service>> {
        self.services.get(id)
    }

    /// A service by exact name.
    pub fn service_by_name(&self, name: &str) -> Option<&Arc<Service>> {
        self.service_names
            .get(name)
            .and_then(|id| self.services.get(id.as_str()))
    }

    /// All services, ordered by ID.
    pub fn services(&self) -> impl Iterator<Item = &Arc<Service>> {
        self.services.values()
    }

    /// A task by exact ID.
    pub fn task(&self, id: &str) -> Option<&Arc<Task>> {
        self.tasks.get(id)
    }

    /// All tasks, ordered by ID.
    pub fn tasks(&self) -> impl Iterator<Item = &Arc<Task>> {
        self.tasks.values()
    }

    /// Number of tasks.
    pub fn task_count(&self) -> usize {
        self.tasks.len()
    }

    /// Tasks of a service.
    pub fn tasks_of_service<'a>(&'a self, service_id: &str) -> impl Iterator<Item = &'a Arc<Task>> + 'a {
        owned(&self.tasks_by_service, service_id).filter_map(|id| self.tasks.get(id))
    }

    /// The distinct service IDs tasks name, in order — a task may outlive its service, and
    /// tasks with none (attachments) name `""`. One seek per service, so a pass over every
    /// service's tasks needs no lookup of the service for each task.
    pub fn task_service_ids(&self) -> impl Iterator<Item = &str> + '_ {
        let mut next = self.tasks_by_service.get_min().map(|(owner, _)| owner);
        std::iter::from_fn(move || {
            let owner = next?;
            // The least string above `owner` is `owner` + NUL: every task of `owner` sorts below it.
            let after: Key = Arc::from(format!("{owner}\0"));
            next = self
                .tasks_by_service
                .range((after, Key::from(""))..)
                .next()
                .map(|(o, _)| o);
            Some(&**owner)
        })
    }

    /// How many of a service's tasks are running with a desired state that keeps them so.
    pub fn running_tasks(&self, service_id: &str) -> u64 {
        self.running.get(service_id).copied().unwrap_or(0)
    }

    /// Tasks assigned to a node.
    pub fn tasks_on_node<'a>(&'a self, node_id: &str) -> impl Iterator<Item = &'a Arc<Task>> + 'a {
        owned(&self.tasks_by_node, node_id).filter_map(|id| self.tasks.get(id))
    }

    /// Every stored object (disaster recovery re-seeds a new cluster with them).
    pub fn objects(&self) -> Vec<Object> {
        let mut out: Vec<Object> = Vec::new();
        out.extend(self.clusters.values().map(|c| Object::Cluster((**c).clone())));
        out.extend(self.nodes.values().map(|n| Object::Node((**n).clone())));
        out.extend(self.services.values().map(|s| Object::Service((**s).clone())));
        out.extend(self.tasks.values().map(|t| Object::Task((**t).clone())));
        out.extend(self.networks.values().map(|n| Object::Network((**n).clone())));
        out.extend(self.secrets.values().map(|s| Object::Secret((**s).clone())));
        out.extend(self.configs.values().map(|c| Object::Config((**c).clone())));
        out
    }

    /// The remembered result of proposal `id`, if it was applied recently.
    pub fn recent_result(&self, id: u128) -> Option<TxnResult> {
        if id == 0 {
            None
        } else {
            self.recent.get(&id).cloned()
        }
    }

    /// Remembers the result of proposal `id`, applied as entry `index`.
    pub fn remember(&mut self, id: u128, index: u64, result: TxnResult) {
        if id == 0 {
            return;
        }
        self.recent.insert(id, result);
        self.recent_order.insert(index, id);
        while self.recent_order.len() > RECENT_PROPOSALS {
            let Some((first, oldest)) = self.recent_order.get_min().cloned() else {
                break;
            };
            self.recent_order.remove(&first);
            self.recent.remove(&oldest);
        }
    }

    fn get(&self, kind: Kind, id: &str) -> Option<Object> {
        match kind {
            Kind::Node => self.nodes.get(id).map(|n| Object::Node((**n).clone())),
            Kind::Cluster => self.clusters.get(id).map(|c| Object::Cluster((**c).clone())),
            Kind::Service => self.services.get(id).map(|s| Object::Service((**s).clone())),
            Kind::Task => self.tasks.get(id).map(|t| Object::Task((**t).clone())),
            Kind::Network => self.networks.get(id).map(|n| Object::Network((**n).clone())),
            Kind::Secret => self.secrets.get(id).map(|s| Object::Secret((**s).clone())),
            Kind::Config => self.configs.get(id).map(|c| Object::Config((**c).clone())),
        }
    }

    fn meta_of(&self, kind: Kind, id: &str) -> Option<&Meta> {
        match kind {
            Kind::Node => self.nodes.get(id).map(|n| &n.meta),
            Kind::Cluster => self.clusters.get(id).map(|c| &c.meta),
            Kind::Service => self.services.get(id).map(|s| &s.meta),
            Kind::Task => self.tasks.get(id).map(|t| &t.meta),
            Kind::Network => self.networks.get(id).map(|n| &n.meta),
            Kind::Secret => self.secrets.get(id).map(|s| &s.meta),
            Kind::Config => self.configs.get(id).map(|c| &c.meta),
        }
    }

    /// Inserts or replaces an object, keeping the indexes in step.
    fn put(&mut self, object: Object) {
        match object {
            Object::Node(n) => {
                let key = key_in(&self.nodes, &n.id);
                if self.nodes.get(&key).is_none_or(|old| old.spec != n.spec) {
                    // Stamped with its entry's index before it is put.
                    self.node_spec_changed.insert(key.clone(), n.meta.version);
                }
                self.nodes.insert(key, Arc::new(n));
            }
            Object::Cluster(c) => {
                self.clusters.insert(c.id.clone(), Arc::new(c));
            }
            Object::Service(s) => {
                if let Some(old) = self.services.get(s.id.as_str())
                    && old.spec.name != s.spec.name
                {
                    self.service_names.remove(&old.spec.name);
                }
                self.service_names.insert(s.spec.name.clone(), s.id.clone());
                self.services.insert(key_in(&self.services, &s.id), Arc::new(s));
            }
            Object::Task(t) => self.put_task(Arc::new(t)),
            Object::Network(n) => self.put_network(Arc::new(n)),
            Object::Secret(s) => self.put_secret(Arc::new(s)),
            Object::Config(c) => self.put_config(Arc::new(c)),
        }
    }

    fn put_task(&mut self, task: Arc<Task>) {
        let (id, old) = match self.tasks.get_key_value(task.id.as_str()) {
            Some((k, old)) => (k.clone(), Some(old.clone())),
            None => (Key::from(task.id.as_str()), None),
        };
        let service_changed = old.as_ref().is_none_or(|o| o.service_id != task.service_id);
        let node_changed = old.as_ref().is_none_or(|o| o.node_id != task.node_id);
        if let Some(old) = &old {
            if service_changed {
                self.tasks_by_service
                    .remove(&(Key::from(old.service_id.as_str()), id.clone()));
            }
            if node_changed && !old.node_id.is_empty() {
                self.tasks_by_node
                    .remove(&(Key::from(old.node_id.as_str()), id.clone()));
            }
        }
        if service_changed {
            let service = key_in(&self.services, &task.service_id);
            self.tasks_by_service.insert((service, id.clone()));
        }
        if let Some(old) = &old {
            self.count_running(old, false);
        }
        self.count_running(&task, true);
        if node_changed && !task.node_id.is_empty() {
            let node = key_in(&self.nodes, &task.node_id);
            self.tasks_by_node.insert((node, id.clone()));
        }
        self.tasks.insert(id, task);
    }

    /// Adds (or with `add` false, removes) `task`'s part of the running counts.
    fn count_running(&mut self, task: &Task, add: bool) {
        if task.status.state != TaskState::Running || task.desired_state > TaskState::Complete {
            return;
        }
        let service = task.service_id.as_str();
        let now = self.running_tasks(service);
        let next = if add { now + 1 } else { now.saturating_sub(1) };
        if next == 0 {
            self.running.remove(service);
        } else {
            self.running.insert(key_in(&self.services, service), next);
        }
    }

    /// A state from its serialised tables (an older format's, converted by the store), with
    /// its indexes rebuilt.
    #[allow(clippy::too_many_arguments)]
    pub fn from_parts(
        index: u64,
        nodes: OrdMap<Key, Arc<Node>>,
        clusters: OrdMap<String, Arc<Cluster>>,
        services: OrdMap<Key, Arc<Service>>,
        service_names: OrdMap<String, String>,
        tasks: OrdMap<Key, Arc<Task>>,
        recent: OrdMap<u128, TxnResult>,
        recent_order: OrdMap<u64, u128>,
    ) -> State {
        let mut state = State {
            index,
            nodes,
            clusters,
            services,
            service_names,
            tasks,
            recent,
            recent_order,
            ..State::default()
        };
        state.index_tasks();
        state
    }

    /// Rebuilds the task indexes from the task table (after loading a snapshot).
    fn index_tasks(&mut self) {
        self.tasks_by_service = OrdSet::new();
        self.tasks_by_node = OrdSet::new();
        self.running = OrdMap::new();
        for (id, task) in self.tasks.clone().iter() {
            self.count_running(task, true);
            self.tasks_by_service
                .insert((key_in(&self.services, &task.service_id), id.clone()));
            if !task.node_id.is_empty() {
                self.tasks_by_node
                    .insert((key_in(&self.nodes, &task.node_id), id.clone()));
            }
        }
    }

    /// Decodes a snapshot made by [`State::encode`] (or by a version before the extra
    /// records, which has none).
    pub fn decode(bytes: &[u8]) -> Result<State, postcard::Error> {
        let (mut state, rest): (State, &[u8]) = postcard::take_from_bytes(bytes)?;
        for record in extra::decode(rest)? {
            state.restore(record);
        }
        state.index_tasks();
        state.index_networks();
        state.index_secrets();
        Ok(state)
    }

    /// Encodes the tables for a snapshot, then the extra records.
    pub fn encode(&self) -> Result<Vec<u8>, postcard::Error> {
        let mut out = postcard::to_stdvec(self)?;
        extra::encode(self.extras(), &mut out)?;
        Ok(out)
    }

    fn remove(&mut self, kind: Kind, id: &str) {
        match kind {
            Kind::Node => {
                self.nodes.remove(id);
                self.node_spec_changed.remove(id);
                self.drop_addresses(&Owner::Node(id.to_string()));
            }
            Kind::Cluster => {
                self.clusters.remove(id);
            }
            Kind::Service => {
                if let Some(old) = self.services.remove(id) {
                    self.service_names.remove(&old.spec.name);
                }
                self.drop_addresses(&Owner::Service(id.to_string()));
            }
            Kind::Network => self.remove_network(id),
            Kind::Secret => self.remove_secret(id),
            Kind::Config => self.remove_config(id),
            Kind::Task => {
                if let Some(old) = self.tasks.remove(id) {
                    self.count_running(&old, false);
                    let id = Key::from(id);
                    self.tasks_by_service
                        .remove(&(Key::from(old.service_id.as_str()), id.clone()));
                    if !old.node_id.is_empty() {
                        self.tasks_by_node.remove(&(Key::from(old.node_id.as_str()), id));
                    }
                }
                self.drop_addresses(&Owner::Task(id.to_string()));
                self.generic.remove(id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Change, Op, Txn, TxnError};
    use types::Timestamp;

    fn node(id: &str, hostname: &str) -> Object {
        Object::Node(
            types::testing::node(id)
                .hostname(hostname)
                .state(types::NodeState::Unknown)
                .build(),
        )
    }

    fn txn(ops: Vec<Op>) -> Txn {
        Txn {
            id: 0,
            ops,
            now: Timestamp(1_000),
        }
    }

    #[test]
    fn create_stamps_version_and_time() {
        let (s, changes) = State::default()
            .apply(&txn(vec![Op::Create(node("a", "h1"))]), 7)
            .unwrap();
        let n = s.node("a").unwrap();
        assert_eq!(n.meta.version, 7);
        assert_eq!(n.meta.created_at, Timestamp(1_000));
        assert_eq!(s.index, 7);
        assert!(matches!(&changes[..], [Change::Created(_)]));
    }

    #[test]
    fn stale_update_is_refused_and_nothing_changes() {
        let (s, _) = State::default()
            .apply(&txn(vec![Op::Create(node("a", "h1"))]), 3)
            .unwrap();
        let stale = Op::Update {
            object: node("a", "h2"),
            expect_version: Some(2),
        };
        assert_eq!(
            s.apply(&txn(vec![stale]), 4).unwrap_err(),
            TxnError::OutOfSequence {
                kind: Kind::Node,
                id: "a".into()
            }
        );
        assert_eq!(s.node("a").unwrap().description.hostname, "h1");
        let fresh = Op::Update {
            object: node("a", "h2"),
            expect_version: Some(3),
        };
        let (s2, _) = s.apply(&txn(vec![fresh]), 4).unwrap();
        assert_eq!(s2.node("a").unwrap().description.hostname, "h2");
        assert_eq!(s2.node("a").unwrap().meta.created_at, Timestamp(1_000));
    }

    #[test]
    fn a_failing_op_discards_the_whole_transaction() {
        let ops = vec![
            Op::Create(node("a", "h1")),
            Op::Delete {
                kind: Kind::Node,
                id: "zz".into(),
                expect_version: None,
            },
        ];
        assert!(State::default().apply(&txn(ops), 1).is_err());
        let ops = vec![Op::Create(node("a", "h1")), Op::Create(node("a", "h1"))];
        assert_eq!(
            State::default().apply(&txn(ops), 1).unwrap_err(),
            TxnError::Exists {
                kind: Kind::Node,
                id: "a".into()
            }
        );
    }

    #[test]
    fn lookup_by_id_hostname_and_prefix() {
        let ops = vec![
            Op::Create(node("abc1", "alpha")),
            Op::Create(node("abd2", "beta")),
        ];
        let (s, _) = State::default().apply(&txn(ops), 1).unwrap();
        assert_eq!(s.lookup_node("abc1").unwrap().id, "abc1");
        assert_eq!(s.lookup_node("beta").unwrap().id, "abd2");
        assert_eq!(s.lookup_node("abd").unwrap().id, "abd2");
        assert_eq!(
            s.lookup_node("ab").unwrap_err(),
            LookupError::Ambiguous {
                kind: "node",
                key: "ab".into()
            }
        );
        assert_eq!(
            s.lookup_node("x").unwrap_err(),
            LookupError::NotFound {
                kind: "node",
                key: "x".into()
            }
        );
    }
}
