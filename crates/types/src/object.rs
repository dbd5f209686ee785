//! The closed set of stored object kinds, so the store and the raft log can carry any of them.

use serde::{Deserialize, Serialize};

use crate::{Cluster, Config, Meta, Network, Node, Secret, Service, Task};

/// Kinds of stored objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Kind {
    /// [`Node`]
    Node,
    /// [`Cluster`]
    Cluster,
    /// [`Service`]
    Service,
    /// [`Task`]
    Task,
    /// [`Network`] (appended last: the tags of the kinds before it did not move, so stored
    /// entries still decode).
    Network,
    /// [`Secret`] (appended after `Network`, for the same reason).
    Secret,
    /// [`Config`] (appended last).
    Config,
}

impl Kind {
    /// Lower-case name for messages (`node 3k2x… not found`).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Node => "node",
            Kind::Cluster => "cluster",
            Kind::Service => "service",
            Kind::Task => "task",
            Kind::Network => "network",
            Kind::Secret => "secret",
            Kind::Config => "config",
        }
    }
}

/// Any stored object.
// Objects are built once per write and moved, not copied around in bulk; boxing the larger
// variants would buy little and cost a box per object in every transaction.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Object {
    /// A node.
    Node(Node),
    /// The cluster singleton.
    Cluster(Cluster),
    /// A service.
    Service(Service),
    /// A task.
    Task(Task),
    /// An overlay network (last, for the same reason as [`Kind::Network`]).
    Network(Network),
    /// A secret (appended after `Network`).
    Secret(Secret),
    /// A config (appended last).
    Config(Config),
}

impl Object {
    /// The object's kind.
    pub fn kind(&self) -> Kind {
        match self {
            Object::Node(_) => Kind::Node,
            Object::Cluster(_) => Kind::Cluster,
            Object::Service(_) => Kind::Service,
            Object::Task(_) => Kind::Task,
            Object::Network(_) => Kind::Network,
            Object::Secret(_) => Kind::Secret,
            Object::Config(_) => Kind::Config,
        }
    }

    /// The object's ID.
    pub fn id(&self) -> &str {
        match self {
            Object::Node(n) => &n.id,
            Object::Cluster(c) => &c.id,
            Object::Service(s) => &s.id,
            Object::Task(t) => &t.id,
            Object::Network(n) => &n.id,
            Object::Secret(s) => &s.id,
            Object::Config(c) => &c.id,
        }
    }

    /// The object's version and timestamps.
    pub fn meta(&self) -> &Meta {
        match self {
            Object::Node(n) => &n.meta,
            Object::Cluster(c) => &c.meta,
            Object::Service(s) => &s.meta,
            Object::Task(t) => &t.meta,
            Object::Network(n) => &n.meta,
            Object::Secret(s) => &s.meta,
            Object::Config(c) => &c.meta,
        }
    }

    /// Mutable access to the version and timestamps (the store stamps them on commit).
    pub fn meta_mut(&mut self) -> &mut Meta {
        match self {
            Object::Node(n) => &mut n.meta,
            Object::Cluster(c) => &mut c.meta,
            Object::Service(s) => &mut s.meta,
            Object::Task(t) => &mut t.meta,
            Object::Network(n) => &mut n.meta,
            Object::Secret(s) => &mut s.meta,
            Object::Config(c) => &mut c.meta,
        }
    }
}
