//! Reading what format `shoal-raft-1` stored: plain postcard of the types as they were then.
//!
//! postcard is not self-describing, so a field added to a stored type changes how every old
//! entry and snapshot must be read. This module keeps the shapes of format 1 that differ from
//! today's (`Service` without `spec_changed_at`, `ClusterSpec` without `max_tasks`, and the
//! containers that hold them) and converts them; every other type is read as it is today,
//! because its encoding did not change. Used only when a plain log or snapshot is sealed
//! (`log_migration.rs`, `state_machine.rs`); the next change to a stored type adds its own
//! module beside this one.
//!
//! ```text
//! shoal-raft-1 bytes ─► v1::{Entry, State} ─► into today's Entry / State ─► sealed (format 2)
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use imbl::OrdMap;
use openraft::EntryPayload;
use serde::Deserialize;
use types::cluster::RaftSettings;
use types::{Endpoint, JobStatus, Kind, Meta, Node, RootCa, ServiceSpec, Task, Timestamp, UpdateStatus};

use super::types::{Entry, LogId, Peer};
use crate::{NewTask, State, TaskUpdate, Txn, TxnResult};

/// A log entry of format 1.
#[derive(Deserialize)]
pub(super) struct V1Entry {
    log_id: LogId,
    payload: EntryPayload<V1Txn, u64, Peer>,
}

impl V1Entry {
    /// Today's entry with the same meaning.
    pub(super) fn upgrade(self) -> Entry {
        let payload = match self.payload {
            EntryPayload::Blank => EntryPayload::Blank,
            EntryPayload::Normal(txn) => EntryPayload::Normal(Arc::new(txn.upgrade())),
            EntryPayload::Membership(m) => EntryPayload::Membership(m),
        };
        Entry {
            log_id: self.log_id,
            payload,
        }
    }
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
struct V1Txn {
    id: u128,
    ops: Vec<V1Op>,
    now: Timestamp,
}

// openraft's `AppData` asks for it.
impl std::fmt::Display for V1Txn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "v1 txn({} ops)", self.ops.len())
    }
}

impl V1Txn {
    fn upgrade(self) -> Txn {
        Txn {
            id: self.id,
            ops: self.ops.into_iter().map(V1Op::upgrade).collect(),
            now: self.now,
        }
    }
}

// `Serialize` only because openraft's `AppData` asks for it; nothing writes format 1.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
enum V1Op {
    Create(V1Object),
    Update {
        object: V1Object,
        expect_version: Option<u64>,
    },
    Delete {
        kind: Kind,
        id: String,
        expect_version: Option<u64>,
    },
    CreateTasks {
        service_id: String,
        spec_version: u64,
        tasks: Vec<NewTask>,
    },
    AssignTasks {
        node_id: String,
        task_ids: Vec<String>,
    },
    UpdateTasks(Vec<TaskUpdate>),
    DeleteTasks(Vec<String>),
}

impl V1Op {
    fn upgrade(self) -> crate::Op {
        use crate::Op;
        match self {
            V1Op::Create(o) => Op::Create(o.upgrade()),
            V1Op::Update {
                object,
                expect_version,
            } => Op::Update {
                object: object.upgrade(),
                expect_version,
            },
            V1Op::Delete {
                kind,
                id,
                expect_version,
            } => Op::Delete {
                kind,
                id,
                expect_version,
            },
            V1Op::CreateTasks {
                service_id,
                spec_version,
                tasks,
            } => Op::CreateTasks {
                service_id,
                spec_version,
                tasks,
            },
            V1Op::AssignTasks { node_id, task_ids } => Op::AssignTasks { node_id, task_ids },
            V1Op::UpdateTasks(u) => Op::UpdateTasks(u),
            V1Op::DeleteTasks(d) => Op::DeleteTasks(d),
        }
    }
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
// Boxed for clippy's enum-size rule; a `Box` encodes as what it holds.
enum V1Object {
    Node(Box<Node>),
    Cluster(Box<V1Cluster>),
    Service(Box<V1Service>),
    Task(Box<Task>),
}

impl V1Object {
    fn upgrade(self) -> types::Object {
        use types::Object;
        match self {
            V1Object::Node(n) => Object::Node(*n),
            V1Object::Cluster(c) => Object::Cluster(c.upgrade()),
            V1Object::Service(s) => Object::Service(s.upgrade()),
            V1Object::Task(t) => Object::Task(*t),
        }
    }
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
struct V1Cluster {
    id: String,
    meta: Meta,
    spec: V1ClusterSpec,
    root_ca: RootCa,
    default_addr_pool: Vec<String>,
    subnet_size: u32,
    data_path_port: u32,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
struct V1ClusterSpec {
    name: String,
    labels: BTreeMap<String, String>,
    task_history_retention_limit: i64,
    raft: RaftSettings,
    dispatcher_heartbeat_period: i64,
    node_cert_expiry: i64,
    auto_lock_managers: bool,
}

impl V1Cluster {
    fn upgrade(self) -> types::Cluster {
        let s = self.spec;
        types::Cluster {
            id: self.id,
            meta: self.meta,
            spec: types::ClusterSpec {
                name: s.name,
                labels: s.labels,
                task_history_retention_limit: s.task_history_retention_limit,
                raft: s.raft,
                dispatcher_heartbeat_period: s.dispatcher_heartbeat_period,
                node_cert_expiry: s.node_cert_expiry,
                auto_lock_managers: s.auto_lock_managers,
                // Not set: the cluster gets the fixed fallback limit (the same on every
                // replica, whatever its memory) until an operator sets one.
                max_tasks: 0,
            },
            root_ca: self.root_ca,
            default_addr_pool: self.default_addr_pool,
            subnet_size: self.subnet_size,
            data_path_port: self.data_path_port,
        }
    }
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
struct V1Service {
    id: String,
    meta: Meta,
    spec: ServiceSpec,
    spec_version: u64,
    previous_spec: Option<ServiceSpec>,
    endpoint: Endpoint,
    update_status: Option<UpdateStatus>,
    job_status: Option<JobStatus>,
}

impl V1Service {
    fn upgrade(self) -> types::Service {
        types::Service {
            // The spec last changed at or before the write that stored this object, so its
            // version is a safe lower bound: a client that read it may update.
            spec_changed_at: self.meta.version,
            id: self.id,
            meta: self.meta,
            spec: self.spec,
            spec_version: self.spec_version,
            previous_spec: self.previous_spec,
            endpoint: self.endpoint,
            update_status: self.update_status,
            job_status: self.job_status,
        }
    }
}

type Key = Arc<str>;

/// A snapshot's tables in format 1 (the fields `State` serialises, in its order).
#[derive(Deserialize)]
pub(super) struct V1State {
    index: u64,
    nodes: OrdMap<Key, Arc<Node>>,
    clusters: OrdMap<String, Arc<V1Cluster>>,
    services: OrdMap<Key, Arc<V1Service>>,
    service_names: OrdMap<String, String>,
    tasks: OrdMap<Key, Arc<Task>>,
    recent: OrdMap<u128, TxnResult>,
    recent_order: OrdMap<u64, u128>,
}

impl V1State {
    /// Decodes format-1 snapshot bytes.
    pub(super) fn decode(bytes: &[u8]) -> Result<V1State, postcard::Error> {
        postcard::from_bytes(bytes)
    }

    /// Today's state with the same contents.
    pub(super) fn upgrade(self) -> State {
        let clusters = self
            .clusters
            .into_iter()
            .map(|(k, c)| (k, Arc::new(Arc::unwrap_or_clone(c).upgrade())))
            .collect();
        let services = self
            .services
            .into_iter()
            .map(|(k, s)| (k, Arc::new(Arc::unwrap_or_clone(s).upgrade())))
            .collect();
        State::from_parts(
            self.index,
            self.nodes,
            clusters,
            services,
            self.service_names,
            self.tasks,
            self.recent,
            self.recent_order,
        )
    }
}
