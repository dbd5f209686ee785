//! The live store: the current [`State`], the apply path and bounded watches.

use std::sync::{Arc, Mutex, RwLock};

use tokio::sync::broadcast;

use crate::{Commit, State, Txn, TxnResult};

/// Capacity of the watch queue, in commits. A watcher that falls further behind is told it
/// lagged and re-reads a snapshot instead of stalling the writer. Kept small because the
/// queue holds on to every queued commit (and the task versions it names) until overwritten.
const WATCH_CAPACITY: usize = 256;

/// What a watcher receives.
#[derive(Debug, Clone)]
pub enum WatchEvent {
    /// One applied entry.
    Commit(Arc<Commit>),
    /// The whole state was replaced (snapshot installed); re-read it.
    Reset,
}

/// Shared handle to the in-memory store.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    current: RwLock<Arc<State>>,
    // Serialises writers and lets `view_and_watch` subscribe with no commit in between.
    apply_lock: Mutex<()>,
    events: broadcast::Sender<WatchEvent>,
}

/// A subscription to store changes.
pub struct Watch {
    rx: broadcast::Receiver<WatchEvent>,
}

impl Watch {
    /// Next event. A lagging watcher gets [`WatchEvent::Reset`] and must re-read the state.
    pub async fn next(&mut self) -> Option<WatchEvent> {
        match self.rx.recv().await {
            Ok(event) => Some(event),
            Err(broadcast::error::RecvError::Lagged(_)) => Some(WatchEvent::Reset),
            Err(broadcast::error::RecvError::Closed) => None,
        }
    }
}

impl Default for Store {
    fn default() -> Self {
        Store::new(State::default())
    }
}

impl Store {
    /// A store holding `state`.
    pub fn new(state: State) -> Store {
        let (events, _) = broadcast::channel(WATCH_CAPACITY);
        Store {
            inner: Arc::new(Inner {
                current: RwLock::new(Arc::new(state)),
                apply_lock: Mutex::new(()),
                events,
            }),
        }
    }

    /// The current state; a consistent snapshot that never changes under the reader.
    pub fn view(&self) -> Arc<State> {
        // A poisoned lock only means a panic elsewhere while swapping an Arc; the Arc inside
        // is still whole, so reading it is safe.
        self.inner
            .current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The current state and a watch that starts exactly after it.
    pub fn view_and_watch(&self) -> (Arc<State>, Watch) {
        let _guard = self.inner.apply_lock.lock().unwrap_or_else(|e| e.into_inner());
        (
            self.view(),
            Watch {
                rx: self.inner.events.subscribe(),
            },
        )
    }

    /// Applies a committed entry. Called by the Raft state machine only.
    pub fn apply(&self, txn: &Txn, index: u64) -> TxnResult {
        let _guard = self.inner.apply_lock.lock().unwrap_or_else(|e| e.into_inner());
        let current = self.view();
        if let Some(result) = current.recent_result(txn.id) {
            // A resent proposal: answer as the first time, change nothing.
            self.advance(index);
            return result;
        }
        match current.apply(txn, index) {
            Ok((mut next, changes)) => {
                next.remember(txn.id, index, Ok(index));
                self.swap(next);
                let _ = self
                    .inner
                    .events
                    .send(WatchEvent::Commit(Arc::new(Commit { index, changes })));
                Ok(index)
            }
            Err(err) => {
                // A refused entry still advances the applied index.
                let mut next = (*current).clone();
                next.index = next.index.max(index);
                next.remember(txn.id, index, Err(err.clone()));
                self.swap(next);
                Err(err)
            }
        }
    }

    /// Records that entry `index` (blank or membership) was applied without data changes.
    pub fn advance(&self, index: u64) {
        let current = self.view();
        if current.index < index {
            let mut next = (*current).clone();
            next.index = index;
            self.swap(next);
        }
    }

    /// Replaces the whole state (snapshot install or restart) and tells watchers.
    pub fn reset(&self, state: State) {
        let _guard = self.inner.apply_lock.lock().unwrap_or_else(|e| e.into_inner());
        self.swap(state);
        let _ = self.inner.events.send(WatchEvent::Reset);
    }

    fn swap(&self, state: State) {
        *self.inner.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Change, Op};
    use types::{Cluster, ClusterSpec, JoinTokens, Meta, Object, RootCa, Timestamp};

    fn cluster(id: &str) -> Object {
        Object::Cluster(Cluster {
            id: id.into(),
            meta: Meta::default(),
            spec: ClusterSpec::default(),
            root_ca: RootCa {
                ca_cert_pem: String::new(),
                ca_key_pem: String::new(),
                join_tokens: JoinTokens::default(),
            },
            default_addr_pool: vec![],
            subnet_size: 24,
            data_path_port: 4789,
        })
    }

    #[tokio::test]
    async fn watch_sees_commits_after_the_view() {
        let store = Store::default();
        store
            .apply(
                &Txn {
                    id: 0,
                    ops: vec![Op::Create(cluster("c1"))],
                    now: Timestamp(0),
                },
                1,
            )
            .unwrap();
        let (view, mut watch) = store.view_and_watch();
        assert_eq!(view.index, 1);
        let mut c = cluster("c1");
        c.meta_mut().version = 1;
        store
            .apply(
                &Txn {
                    id: 0,
                    ops: vec![Op::Update {
                        object: c,
                        expect_version: Some(1),
                    }],
                    now: Timestamp(5),
                },
                2,
            )
            .unwrap();
        match watch.next().await {
            Some(WatchEvent::Commit(commit)) => {
                assert_eq!(commit.index, 2);
                assert!(matches!(&commit.changes[..], [Change::Updated { .. }]));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(view.index, 1, "an old view never changes");
        assert_eq!(store.view().index, 2);
    }

    #[tokio::test]
    async fn a_resent_proposal_is_answered_not_applied_again() {
        let store = Store::default();
        let txn = Txn {
            id: 42,
            ops: vec![Op::Create(cluster("c"))],
            now: Timestamp(0),
        };
        assert_eq!(store.apply(&txn, 1), Ok(1));
        assert_eq!(store.apply(&txn, 2), Ok(1), "same answer as the first time");
        assert_eq!(store.view().index, 2);
        assert_eq!(store.view().cluster().unwrap().meta.version, 1);
    }

    #[tokio::test]
    async fn refused_entries_advance_the_index_but_change_nothing() {
        let store = Store::default();
        let bad = Txn {
            id: 0,
            ops: vec![Op::Delete {
                kind: types::Kind::Node,
                id: "x".into(),
                expect_version: None,
            }],
            now: Timestamp(0),
        };
        assert!(store.apply(&bad, 4).is_err());
        assert_eq!(store.view().index, 4);
        assert_eq!(store.view().node_count(), 0);
    }

    #[tokio::test]
    async fn a_lagging_watcher_is_told_to_reread() {
        let store = Store::default();
        let (_, mut watch) = store.view_and_watch();
        store
            .apply(
                &Txn {
                    id: 0,
                    ops: vec![Op::Create(cluster("c"))],
                    now: Timestamp(0),
                },
                1,
            )
            .unwrap();
        for i in 2..(WATCH_CAPACITY as u64 + 10) {
            store.advance(i);
            let _ = store.apply(
                &Txn {
                    id: 0,
                    ops: vec![],
                    now: Timestamp(0),
                },
                i,
            );
        }
        assert!(matches!(watch.next().await, Some(WatchEvent::Reset)));
    }
}
