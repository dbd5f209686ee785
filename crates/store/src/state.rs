//! The tables: an immutable, cheaply cloned value (persistent maps), so a reader holds a
//! consistent snapshot without a lock while writers build the next version.

use std::sync::Arc;

use imbl::OrdMap;
use serde::{Deserialize, Serialize};
use types::{Cluster, Kind, Meta, Node, Object};

use crate::{Change, Op, Txn, TxnError, TxnResult};

/// One consistent version of every table.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    /// Raft index of the last applied entry.
    pub index: u64,
    nodes: OrdMap<String, Arc<Node>>,
    clusters: OrdMap<String, Arc<Cluster>>,
    /// Results of recent proposals by ID, and their order, for de-duplication.
    recent: OrdMap<u128, TxnResult>,
    recent_order: OrdMap<u64, u128>,
}

/// Proposal results remembered for de-duplication. A retry arrives within seconds, so a few
/// thousand entries cover any realistic window.
const RECENT_PROPOSALS: usize = 4096;

impl State {
    /// A node by exact ID.
    pub fn node(&self, id: &str) -> Option<&Arc<Node>> {
        self.nodes.get(id)
    }

    /// All nodes, ordered by ID.
    pub fn nodes(&self) -> impl Iterator<Item = &Arc<Node>> {
        self.nodes.values()
    }

    /// Number of nodes.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// The cluster singleton, once the swarm is initialised.
    pub fn cluster(&self) -> Option<&Arc<Cluster>> {
        self.clusters.values().next()
    }

    /// Finds a node the way `docker node inspect` does: exact ID, then exact name or
    /// hostname, then unique ID prefix. `Err` carries a ready-to-show message.
    pub fn lookup_node(&self, key: &str) -> Result<Arc<Node>, LookupError> {
        if let Some(node) = self.nodes.get(key) {
            return Ok(node.clone());
        }
        let by_name: Vec<_> = self
            .nodes
            .values()
            .filter(|n| n.spec.name == key || (n.spec.name.is_empty() && n.description.hostname == key))
            .collect();
        match by_name.len() {
            1 => return Ok(by_name[0].clone()),
            n if n > 1 => return Err(LookupError::Ambiguous(key.to_string())),
            _ => {}
        }
        if !key.is_empty() {
            let by_prefix: Vec<_> = self.nodes.range(key.to_string()..).take_while(|(id, _)| id.starts_with(key)).collect();
            match by_prefix.len() {
                1 => return Ok(by_prefix[0].1.clone()),
                n if n > 1 => return Err(LookupError::Ambiguous(key.to_string())),
                _ => {}
            }
        }
        Err(LookupError::NotFound(key.to_string()))
    }

    fn get(&self, kind: Kind, id: &str) -> Option<Object> {
        match kind {
            Kind::Node => self.nodes.get(id).map(|n| Object::Node((**n).clone())),
            Kind::Cluster => self.clusters.get(id).map(|c| Object::Cluster((**c).clone())),
        }
    }

    fn meta_of(&self, kind: Kind, id: &str) -> Option<&Meta> {
        match kind {
            Kind::Node => self.nodes.get(id).map(|n| &n.meta),
            Kind::Cluster => self.clusters.get(id).map(|c| &c.meta),
        }
    }

    fn put(&mut self, object: Object) {
        match object {
            Object::Node(n) => {
                self.nodes.insert(n.id.clone(), Arc::new(n));
            }
            Object::Cluster(c) => {
                self.clusters.insert(c.id.clone(), Arc::new(c));
            }
        }
    }

    fn remove(&mut self, kind: Kind, id: &str) {
        match kind {
            Kind::Node => {
                self.nodes.remove(id);
            }
            Kind::Cluster => {
                self.clusters.remove(id);
            }
        }
    }

    /// The remembered result of proposal `id`, if it was applied recently.
    pub fn recent_result(&self, id: u128) -> Option<TxnResult> {
        if id == 0 { None } else { self.recent.get(&id).cloned() }
    }

    /// Remembers the result of proposal `id`, applied as entry `index`.
    pub fn remember(&mut self, id: u128, index: u64, result: TxnResult) {
        if id == 0 {
            return;
        }
        self.recent.insert(id, result);
        self.recent_order.insert(index, id);
        while self.recent_order.len() > RECENT_PROPOSALS {
            let Some((first, oldest)) = self.recent_order.get_min().cloned() else { break };
            self.recent_order.remove(&first);
            self.recent.remove(&oldest);
        }
    }

    /// Applies `txn` as Raft entry `index`: checks every precondition against this state,
    /// then returns the next state and the changes. Pure: the same inputs give the same output
    /// on every replica.
    pub fn apply(&self, txn: &Txn, index: u64) -> Result<(State, Vec<Change>), TxnError> {
        let mut next = self.clone();
        let mut changes = Vec::with_capacity(txn.ops.len());
        for op in &txn.ops {
            match op {
                Op::Create(object) => {
                    let (kind, id) = (object.kind(), object.id().to_string());
                    if next.meta_of(kind, &id).is_some() {
                        return Err(TxnError::Exists { kind, id });
                    }
                    let mut object = object.clone();
                    *object.meta_mut() = Meta { version: index, created_at: txn.now, updated_at: txn.now };
                    next.put(object.clone());
                    changes.push(Change::Created(object));
                }
                Op::Update { object, expect_version } => {
                    let (kind, id) = (object.kind(), object.id().to_string());
                    let Some(old) = next.get(kind, &id) else {
                        return Err(TxnError::NotFound { kind, id });
                    };
                    if expect_version.is_some_and(|v| v != old.meta().version) {
                        return Err(TxnError::OutOfSequence { kind, id });
                    }
                    let mut object = object.clone();
                    *object.meta_mut() =
                        Meta { version: index, created_at: old.meta().created_at, updated_at: txn.now };
                    next.put(object.clone());
                    changes.push(Change::Updated { old, new: object });
                }
                Op::Delete { kind, id, expect_version } => {
                    let Some(old) = next.get(*kind, id) else {
                        return Err(TxnError::NotFound { kind: *kind, id: id.clone() });
                    };
                    if expect_version.is_some_and(|v| v != old.meta().version) {
                        return Err(TxnError::OutOfSequence { kind: *kind, id: id.clone() });
                    }
                    next.remove(*kind, id);
                    changes.push(Change::Deleted(old));
                }
            }
        }
        next.index = index;
        Ok((next, changes))
    }
}

/// Why a lookup by ID, name or prefix found no single object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    /// Nothing matched.
    #[error("node {0} not found")]
    NotFound(String),
    /// More than one object matched.
    #[error("node {0} is ambiguous (multiple matches)")]
    Ambiguous(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use types::{NodeDescription, NodeSpec, NodeStatus, Role, Timestamp};

    fn node(id: &str, hostname: &str) -> Object {
        Object::Node(Node {
            id: id.to_string(),
            meta: Meta::default(),
            spec: NodeSpec::default(),
            description: NodeDescription { hostname: hostname.to_string(), ..Default::default() },
            status: NodeStatus::default(),
            manager_status: None,
            role: Role::Worker,
        })
    }

    fn txn(ops: Vec<Op>) -> Txn {
        Txn { id: 0, ops, now: Timestamp(1_000) }
    }

    #[test]
    fn create_stamps_version_and_time() {
        let (s, changes) = State::default().apply(&txn(vec![Op::Create(node("a", "h1"))]), 7).unwrap();
        let n = s.node("a").unwrap();
        assert_eq!(n.meta.version, 7);
        assert_eq!(n.meta.created_at, Timestamp(1_000));
        assert_eq!(s.index, 7);
        assert!(matches!(&changes[..], [Change::Created(_)]));
    }

    #[test]
    fn stale_update_is_refused_and_nothing_changes() {
        let (s, _) = State::default().apply(&txn(vec![Op::Create(node("a", "h1"))]), 3).unwrap();
        let stale = Op::Update { object: node("a", "h2"), expect_version: Some(2) };
        assert_eq!(
            s.apply(&txn(vec![stale]), 4).unwrap_err(),
            TxnError::OutOfSequence { kind: Kind::Node, id: "a".into() }
        );
        assert_eq!(s.node("a").unwrap().description.hostname, "h1");
        let fresh = Op::Update { object: node("a", "h2"), expect_version: Some(3) };
        let (s2, _) = s.apply(&txn(vec![fresh]), 4).unwrap();
        assert_eq!(s2.node("a").unwrap().description.hostname, "h2");
        assert_eq!(s2.node("a").unwrap().meta.created_at, Timestamp(1_000));
    }

    #[test]
    fn a_failing_op_discards_the_whole_transaction() {
        let ops = vec![Op::Create(node("a", "h1")), Op::Delete { kind: Kind::Node, id: "zz".into(), expect_version: None }];
        assert!(State::default().apply(&txn(ops), 1).is_err());
        let ops = vec![Op::Create(node("a", "h1")), Op::Create(node("a", "h1"))];
        assert_eq!(
            State::default().apply(&txn(ops), 1).unwrap_err(),
            TxnError::Exists { kind: Kind::Node, id: "a".into() }
        );
    }

    #[test]
    fn lookup_by_id_hostname_and_prefix() {
        let ops = vec![Op::Create(node("abc1", "alpha")), Op::Create(node("abd2", "beta"))];
        let (s, _) = State::default().apply(&txn(ops), 1).unwrap();
        assert_eq!(s.lookup_node("abc1").unwrap().id, "abc1");
        assert_eq!(s.lookup_node("beta").unwrap().id, "abd2");
        assert_eq!(s.lookup_node("abd").unwrap().id, "abd2");
        assert_eq!(s.lookup_node("ab").unwrap_err(), LookupError::Ambiguous("ab".into()));
        assert_eq!(s.lookup_node("x").unwrap_err(), LookupError::NotFound("x".into()));
    }
}
