//! Transactions: the only way the store changes, and the payload of every Raft entry.

use std::fmt;

use serde::{Deserialize, Serialize};
use std::sync::Arc;

use types::{Kind, NetAddr, Object, Task, TaskState, TaskStatus, Timestamp};

/// One store write: all ops apply or none do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Txn {
    /// Proposal ID for de-duplication (0: none). A proposer that cannot tell whether its
    /// entry committed (the leader died mid-call) resends the same ID; the store then answers
    /// with the first result instead of applying twice.
    pub id: u128,
    /// The changes, applied in order.
    pub ops: Vec<Op>,
    /// Wall-clock time at the proposer, stamped into `created_at`/`updated_at` so that every
    /// replica applies the entry identically.
    pub now: Timestamp,
}

impl fmt::Display for Txn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "txn({} ops)", self.ops.len())
    }
}

/// One change inside a transaction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Op {
    /// Insert a new object; fails if the ID exists.
    Create(Object),
    /// Replace an object. With `expect_version`, fails unless the stored version matches
    /// (optimistic concurrency); without it the write is unconditional (control loops that
    /// own the field being written).
    Update {
        /// The new value; its `meta` is restamped by the store.
        object: Object,
        /// Version the writer read.
        expect_version: Option<u64>,
    },
    /// Remove an object; fails if it is missing or, with `expect_version`, changed.
    Delete {
        /// Kind of the object.
        kind: Kind,
        /// Its ID.
        id: String,
        /// Version the writer read.
        expect_version: Option<u64>,
    },
    /// New tasks of one service at one spec version. Compact on purpose: the spec is taken
    /// from the service, not repeated per task. Fails if the service is gone or its spec
    /// moved on (the orchestrator then reconciles again).
    CreateTasks {
        /// Owning service.
        service_id: String,
        /// Spec version the tasks run.
        spec_version: u64,
        /// The tasks.
        tasks: Vec<NewTask>,
    },
    /// Places tasks on one node (scheduler): they become ASSIGNED.
    AssignTasks {
        /// The node.
        node_id: String,
        /// Task IDs.
        task_ids: Vec<String>,
    },
    /// Monotonic task changes (allocator, scheduler, agents, orchestrators). Tasks that are
    /// gone are skipped and a change that would move a state backwards is ignored, as Swarm's
    /// dispatcher drops such updates; so batches from different sources never conflict.
    UpdateTasks(Vec<TaskUpdate>),
    /// Removes tasks (reaper); missing ones are skipped.
    DeleteTasks(Vec<String>),
    /// Sets (or, with `None`, clears) the managers' unlock key, proposed together with the
    /// cluster update that turns autolock on, off or rotates the key. Kept beside the cluster
    /// object rather than in it: appending this variant keeps every stored entry decodable,
    /// where a new field in `Cluster` would not (postcard is not self-describing).
    SetUnlockKey(Option<crate::crypto::UnlockKey>),
    /// Sets the addresses tasks and services hold on networks (allocator), each list
    /// replacing the owner's previous one (empty: all freed). Fails when an address is not
    /// assignable on its network or another owner holds it; owners that are gone are
    /// skipped. Its own op and table rather than fields of `Task` and `Service`, whose
    /// stored encoding must not change.
    SetAddresses(Vec<AddressUpdate>),
    /// Root CA rotation state (`types::CaState`), beside the cluster object for the same
    /// reason as the unlock key; appended last so every older entry still decodes. Each one
    /// also bumps the cluster's version, so watchers of the cluster hear of it.
    RootCa(RootCaOp),
    /// Records the generic resources each task was given (scheduler, in the transaction
    /// that assigns it): named units or counts, replacing what the task held (empty: none).
    /// Tasks that are gone are skipped. Its own op and table, as the addresses, since
    /// `Task`'s stored encoding must not change; appended last so older entries decode.
    SetGenericResources(Vec<(String, Vec<types::generic::GenericResource>)>),
    /// Replaces the cluster spec's external CAs (`CAConfig.ExternalCAs`). Beside the cluster
    /// object for the same reason as the unlock key; appended last so older entries decode.
    SetExternalCas(Vec<types::ExternalCa>),
}

/// A change to the root CA rotation state inside [`Op::RootCa`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum RootCaOp {
    /// Replaces the state: a rotation starts, is replaced or ends (with the cluster update
    /// that installs the new root, in the same transaction).
    Set(types::CaState),
    /// `node_id` received a certificate from the new root `ca_cert_pem`; ignored unless a
    /// rotation to that root is under way (a late report of a replaced rotation).
    Renewed {
        /// The node.
        node_id: String,
        /// PEM of the root that issued its certificate.
        ca_cert_pem: String,
    },
}

/// Who holds addresses on networks.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Owner {
    /// A task's attachments (one address per network).
    Task(String),
    /// A service's virtual IPs (one per network).
    Service(String),
    /// A node's ingress sandbox address (on the ingress network only).
    Node(String),
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Owner::Task(id) => write!(f, "task {id}"),
            Owner::Service(id) => write!(f, "service {id}"),
            Owner::Node(id) => write!(f, "node {id}"),
        }
    }
}

/// One owner's new address list inside [`Op::SetAddresses`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressUpdate {
    /// The task or service.
    pub owner: Owner,
    /// Its addresses from now on (empty: none).
    pub addresses: Vec<NetAddr>,
}

/// A task to create inside [`Op::CreateTasks`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewTask {
    /// New task ID.
    pub id: String,
    /// Slot (replicated) or 0 (global).
    pub slot: u64,
    /// Node, preset for global tasks, else empty.
    pub node_id: String,
    /// Desired state (RUNNING, or READY while a restart delay runs).
    pub desired_state: TaskState,
    /// Job iteration for job services.
    pub job_iteration: Option<u64>,
}

/// One change to one task inside [`Op::UpdateTasks`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskUpdate {
    /// Task ID.
    pub id: String,
    /// What changes.
    pub change: TaskChange,
}

/// The kinds of task changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TaskChange {
    /// Allocator: resources ready, NEW → PENDING.
    Pending,
    /// Scheduler: no node fits; the task stays PENDING with this reason.
    Unplaceable(String),
    /// Agent: observed status.
    Status(TaskStatus),
    /// Orchestrator: where the task should go.
    Desired(TaskState),
    /// Allocator: the task stays NEW for this reason (a network full or gone), shown in its
    /// status rather than only in a log. Appended last: stored entries keep their tags.
    Unallocated(String),
}

/// Why a transaction was refused. Carried back through Raft to the proposer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum TxnError {
    /// The object does not exist.
    #[error("{} {id} not found", kind.as_str())]
    NotFound {
        /// Kind of the object.
        kind: Kind,
        /// Its ID.
        id: String,
    },
    /// An object with this ID exists already.
    #[error("{} {id} already exists", kind.as_str())]
    Exists {
        /// Kind of the object.
        kind: Kind,
        /// Its ID.
        id: String,
    },
    /// Another object of this kind already has the name.
    #[error("name conflicts with an existing object")]
    NameConflict {
        /// Kind of the object.
        kind: Kind,
        /// The name.
        name: String,
    },
    /// The object changed since the writer read it (Swarm's wording).
    #[error("update out of sequence")]
    OutOfSequence {
        /// Kind of the object.
        kind: Kind,
        /// Its ID.
        id: String,
    },
    /// The object is still used (a network holding addresses).
    #[error("{} {id} is in use by {by}", kind.as_str())]
    InUse {
        /// Kind of the object.
        kind: Kind,
        /// Its ID.
        id: String,
        /// Who uses it.
        by: String,
    },
    /// An address, subnet or VNI is taken or outside what may be handed out.
    #[error("{0}")]
    Unavailable(String),
}

/// What applying an entry returns to the proposer: the index it committed at, or why not.
pub type TxnResult = std::result::Result<u64, TxnError>;

/// One applied change, as watchers see it.
// Objects are boxed: a commit holds one change per touched object and the watch queue holds
// recent commits, so the enum's size multiplies by thousands (inline, a task batch of 10k
// changes took 20 MB).
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// A new object.
    Created(Box<Object>),
    /// An object replaced; `old` is the value before.
    Updated {
        /// Value before the change.
        old: Box<Object>,
        /// Value after the change.
        new: Box<Object>,
    },
    /// A removed object (its last value).
    Deleted(Box<Object>),
    /// A task created, changed, or deleted (`new` none) by the task ops. These share the
    /// stored values instead of copying them: a batch touches thousands of tasks.
    Task {
        /// The value before, kept only when the task was deleted or left its node or service
        /// (who must hear of it). Status changes leave it out, so that the watch queue's
        /// recent commits do not hold a second version of every task.
        old: Option<Arc<Task>>,
        /// The value after.
        new: Option<Arc<Task>>,
        /// The change is the task's node reporting its status (`TaskChange::Status`): the
        /// node knows it already, so its assignment stream need not send it back.
        reported: bool,
    },
    /// The addresses of a task or service changed (read the new ones from the state).
    Addresses(Owner),
}

impl Change {
    /// The kind of object that changed.
    pub fn kind(&self) -> Kind {
        match self {
            Change::Created(o) | Change::Deleted(o) | Change::Updated { new: o, .. } => o.kind(),
            Change::Task { .. } => Kind::Task,
            Change::Addresses(Owner::Task(_)) => Kind::Task,
            Change::Addresses(Owner::Service(_)) => Kind::Service,
            Change::Addresses(Owner::Node(_)) => Kind::Node,
        }
    }
}

/// All changes of one applied entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Commit {
    /// Raft index of the entry.
    pub index: u64,
    /// What changed.
    pub changes: Vec<Change>,
}
