//! Routing task changes to nodes: one watcher on the leader groups each commit's task
//! changes by node and hands them to that node's assignment streams, so a thousand sessions
//! cost one pass over the changes, not a thousand.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use store::{Change, Store, WatchEvent};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use types::{Object, Task, TaskState};

/// What a node's assignment stream is told.
#[derive(Debug, Clone)]
pub enum NodeDelta {
    /// A task of this node was added or changed.
    Changed(Arc<Task>),
    /// A task left this node (deleted or moved).
    Removed(String),
    /// Changes were lost (lag or snapshot install): resend the full set.
    Resync,
}

/// True if `task` belongs in `node`'s assignment set.
pub fn assigned_to(task: &Task, node: &str) -> bool {
    task.node_id == node && task.status.state >= TaskState::Assigned
}

/// Subscribers per node.
#[derive(Default)]
pub struct Router {
    subscribers: Mutex<HashMap<String, Vec<mpsc::Sender<NodeDelta>>>>,
}

impl Router {
    /// A new subscription for `node`'s changes (subscribe before reading the full set, so
    /// nothing falls between; duplicates are harmless).
    pub fn subscribe(&self, node: &str) -> mpsc::Receiver<NodeDelta> {
        let (tx, rx) = mpsc::channel(4096);
        self.subscribers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(node.to_string())
            .or_default()
            .push(tx);
        rx
    }

    fn send(&self, node: &str, delta: NodeDelta) {
        let mut subs = self.subscribers.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(list) = subs.get_mut(node) {
            // A full queue means the stream is far behind: ask it to resync instead of
            // blocking the router for everyone.
            list.retain(|tx| match tx.try_send(delta.clone()) {
                Ok(()) => true,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    tx.try_send(NodeDelta::Resync).is_ok() || !tx.is_closed()
                }
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            });
        }
    }

    fn resync_all(&self) {
        let nodes: Vec<String> = self
            .subscribers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .cloned()
            .collect();
        for n in nodes {
            self.send(&n, NodeDelta::Resync);
        }
    }

    /// Routes `store`'s task changes until `token` is cancelled.
    pub async fn run(self: Arc<Self>, store: Store, token: CancellationToken) {
        let (_, mut watch) = store.view_and_watch();
        loop {
            let event = tokio::select! {
                _ = token.cancelled() => return,
                e = watch.next() => match e { Some(e) => e, None => return },
            };
            match event {
                WatchEvent::Reset => self.resync_all(),
                WatchEvent::Commit(commit) => {
                    for change in &commit.changes {
                        self.route(change);
                    }
                }
            }
        }
    }

    fn route(&self, change: &Change) {
        let task = |o: &Object| match o {
            Object::Task(t) => Some(t.clone()),
            _ => None,
        };
        match change {
            Change::Created(o) => {
                if let Some(t) = task(o)
                    && t.status.state >= TaskState::Assigned
                {
                    let node = t.node_id.clone();
                    self.send(&node, NodeDelta::Changed(Arc::new(t)));
                }
            }
            Change::Updated { old, new } => {
                let (Some(old), Some(new)) = (task(old), task(new)) else {
                    return;
                };
                if !old.node_id.is_empty() && old.node_id != new.node_id && assigned_to(&old, &old.node_id) {
                    self.send(&old.node_id, NodeDelta::Removed(old.id.clone()));
                }
                if new.status.state >= TaskState::Assigned {
                    let node = new.node_id.clone();
                    self.send(&node, NodeDelta::Changed(Arc::new(new)));
                }
            }
            Change::Deleted(o) => {
                if let Some(t) = task(o)
                    && !t.node_id.is_empty()
                {
                    self.send(&t.node_id, NodeDelta::Removed(t.id.clone()));
                }
            }
        }
    }
}
