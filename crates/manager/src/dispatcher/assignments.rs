//! Routing task changes to nodes: one watcher on the leader notes, per node, which tasks a
//! commit touched; each node's assignment stream wakes, takes the touched IDs and reads their
//! current values from the store. Nothing queues per change, so a busy node cannot overflow
//! (and lose) anything, and repeated changes to a task coalesce into one message.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use store::{Change, Owner, State, Store, WatchEvent};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use types::{Object, Task, TaskState};

pub use super::feed::{Feed, Touched};
use super::netfeed::{COALESCE, NetFeed};
use super::tunnel_keys::TunnelKeys;
use crate::workers::Worker;

/// True if `task` belongs in `node`'s assignment set (the rule the network views use too).
pub fn assigned_to(task: &Task, node: &str) -> bool {
    rules::netview::assigned_to(task, node)
}

/// True when a task change is its node's own report of progress towards running, which is
/// not sent back to the node (SwarmKit skips status-only changes too): in a 100k-task rollout
/// that was a message to a node for every status it reported. A report of a task that ended
/// is still sent, so the stream's index sees the task stop needing its secrets and configs.
fn own_progress_report(old: Option<&Task>, new: Option<&Task>, reported: bool) -> bool {
    reported && old.is_none() && new.is_some_and(|t| t.status.state <= TaskState::Running)
}

/// Feeds per node, the network views they are sent and the nodes' tunnel keys.
#[derive(Default)]
pub struct Router {
    feeds: Mutex<HashMap<String, Vec<std::sync::Weak<Feed>>>>,
    nets: Arc<NetFeed>,
    keys: TunnelKeys,
}

impl Router {
    /// A router whose nodes renew their tunnel keys every `rotation` (zero: never).
    pub fn with_key_rotation(rotation: std::time::Duration) -> Router {
        Router {
            keys: TunnelKeys::new(rotation),
            ..Router::default()
        }
    }

    /// The nodes' tunnel keys.
    pub fn keys(&self) -> &TunnelKeys {
        &self.keys
    }

    /// Records `node`'s tunnel key; a new or changed key wakes the streams of the nodes
    /// sharing an encrypted network with it.
    pub fn set_key(&self, node: &str, key: [u8; 32]) {
        if self.keys.set(node, key) {
            self.nets.wake_sharing(node);
        }
    }

    /// The published network views.
    pub fn nets(&self) -> &Arc<NetFeed> {
        &self.nets
    }

    /// A feed of `node`'s changes; it ends when the returned `Arc` is dropped. Subscribe before
    /// reading the full set, so nothing falls between.
    pub fn subscribe(&self, node: &str) -> Arc<Feed> {
        let feed = Arc::new(Feed::default());
        let mut feeds = self.feeds.lock().unwrap_or_else(|e| e.into_inner());
        let list = feeds.entry(node.to_string()).or_default();
        list.retain(|w| w.strong_count() > 0);
        list.push(Arc::downgrade(&feed));
        feed
    }

    fn touch(&self, node: &str, id: Option<&str>) {
        let feeds = self.feeds.lock().unwrap_or_else(|e| e.into_inner());
        for feed in feeds.get(node).into_iter().flatten().filter_map(|w| w.upgrade()) {
            feed.touch(id);
        }
    }

    fn resync_all(&self) {
        let nodes: Vec<String> = self
            .feeds
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .keys()
            .cloned()
            .collect();
        for n in nodes {
            self.touch(&n, None);
        }
    }

    /// Routes `store`'s task changes until `token` is cancelled, reporting as `worker`.
    pub async fn run(self: Arc<Self>, store: Store, worker: Worker, token: CancellationToken) {
        let (_, mut watch) = store.view_and_watch();
        // Views of an earlier term may be stale: rebuilt on demand.
        self.nets.reset();
        let mut flush_at: Option<Instant> = None;
        let mut last_flush: Option<Instant> = None;
        loop {
            let flush_due = async {
                match flush_at {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            let event = tokio::select! {
                _ = token.cancelled() => {
                    self.nets.reset();
                    return;
                }
                _ = flush_due => None,
                e = watch.next() => match e { Some(e) => Some(e), None => return },
            };
            worker.busy();
            match event {
                None => {
                    flush_at = None;
                    last_flush = Some(Instant::now());
                    self.nets.flush(&store.view());
                }
                Some(WatchEvent::Reset) => {
                    self.nets.reset();
                    self.resync_all();
                }
                Some(WatchEvent::Commit(commit)) => {
                    // The state after the commit (or later): where addresses are read.
                    let state = store.view();
                    for change in &commit.changes {
                        self.route(&state, change);
                        self.nets.note(&state, change);
                    }
                }
            }
            if flush_at.is_none() && self.nets.is_dirty() {
                // At once after a quiet spell, else COALESCE after the last rebuild.
                let now = Instant::now();
                flush_at = Some(last_flush.map_or(now, |at| (at + COALESCE).max(now)));
            }
            worker.done(Ok::<(), String>(()));
        }
    }

    fn route(&self, state: &State, change: &Change) {
        let touch = |t: &Task| {
            if !t.node_id.is_empty() {
                self.touch(&t.node_id, Some(&t.id));
            }
        };
        match change {
            Change::Task { old, new, reported } => {
                if own_progress_report(old.as_deref(), new.as_deref(), *reported) {
                    return;
                }
                for t in old.iter().chain(new.iter()) {
                    touch(t);
                }
            }
            Change::Created(o) | Change::Deleted(o) => {
                if let Object::Task(t) = o.as_ref() {
                    touch(t);
                }
            }
            Change::Updated { old, new } => {
                for o in [old, new] {
                    if let Object::Task(t) = o.as_ref() {
                        touch(t);
                    }
                }
            }
            // The allocator sets addresses before the scheduler assigns the task, and frees
            // them after it ended: no assignment set changes, but the node's networks may.
            Change::Addresses(Owner::Task(id)) => {
                if let Some(t) = state.task(id).filter(|t| !t.node_id.is_empty()) {
                    let feeds = self.feeds.lock().unwrap_or_else(|e| e.into_inner());
                    for feed in feeds
                        .get(&t.node_id)
                        .into_iter()
                        .flatten()
                        .filter_map(|w| w.upgrade())
                    {
                        feed.touch_addresses(id);
                    }
                }
            }
            Change::Addresses(Owner::Service(_)) => {}
            // A node's ingress sandbox address rides the ingress view (netfeed), not tasks.
            Change::Addresses(Owner::Node(_)) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(state: TaskState) -> Task {
        (*rules::orchestrator::fixtures::task_in_slot("t1", 1, state, Default::default(), 1)).clone()
    }

    #[test]
    fn a_nodes_own_progress_is_not_sent_back() {
        for state in [
            TaskState::Accepted,
            TaskState::Preparing,
            TaskState::Starting,
            TaskState::Running,
        ] {
            assert!(own_progress_report(None, Some(&task(state)), true), "{state:?}");
        }
        // An ended task, a change the node did not report, a task leaving: sent.
        for state in [TaskState::Complete, TaskState::Failed, TaskState::Rejected] {
            assert!(!own_progress_report(None, Some(&task(state)), true), "{state:?}");
        }
        assert!(!own_progress_report(None, Some(&task(TaskState::Running)), false));
        let old = task(TaskState::Running);
        assert!(!own_progress_report(
            Some(&old),
            Some(&task(TaskState::Running)),
            true
        ));
    }
}
