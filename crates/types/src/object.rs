//! The closed set of stored object kinds, so the store and the raft log can carry any of them.

use serde::{Deserialize, Serialize};

use crate::{Cluster, Meta, Node};

/// Kinds of stored objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Kind {
    /// [`Node`]
    Node,
    /// [`Cluster`]
    Cluster,
}

impl Kind {
    /// Lower-case name for messages (`node 3k2x… not found`).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Node => "node",
            Kind::Cluster => "cluster",
        }
    }
}

/// Any stored object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Object {
    /// A node.
    Node(Node),
    /// The cluster singleton.
    Cluster(Cluster),
}

impl Object {
    /// The object's kind.
    pub fn kind(&self) -> Kind {
        match self {
            Object::Node(_) => Kind::Node,
            Object::Cluster(_) => Kind::Cluster,
        }
    }

    /// The object's ID.
    pub fn id(&self) -> &str {
        match self {
            Object::Node(n) => &n.id,
            Object::Cluster(c) => &c.id,
        }
    }

    /// The object's version and timestamps.
    pub fn meta(&self) -> &Meta {
        match self {
            Object::Node(n) => &n.meta,
            Object::Cluster(c) => &c.meta,
        }
    }

    /// Mutable access to the version and timestamps (the store stamps them on commit).
    pub fn meta_mut(&mut self) -> &mut Meta {
        match self {
            Object::Node(n) => &mut n.meta,
            Object::Cluster(c) => &mut c.meta,
        }
    }
}
