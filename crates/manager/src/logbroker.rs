//! The log broker (leader only): an API caller subscribes to tasks' logs; the nodes running
//! those tasks learn of the subscription through their session and publish lines back; the
//! broker forwards them to the caller and ends the stream once every node said it is done.
//!
//! ```text
//! API ─subscribe─► broker ─(SessionMessage.log_subscriptions)─► agents
//!  ▲                 │  ◄── PublishLogs(LogBatch…, done) ──────────┘
//!  └── LogBatch ─────┘
//! ```

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rpc::messages::{LogBatch, LogSelection, LogSubscription};
use tokio::sync::{mpsc, watch};

struct Subscription {
    by_node: BTreeMap<String, Vec<String>>,
    options: LogSelection,
    tx: mpsc::Sender<LogBatch>,
    waiting: BTreeSet<String>,
}

/// Subscriptions by ID.
pub struct LogBroker {
    next_id: AtomicU64,
    subs: Mutex<HashMap<u64, Subscription>>,
    version: watch::Sender<u64>,
}

impl Default for LogBroker {
    fn default() -> Self {
        LogBroker {
            next_id: AtomicU64::new(1),
            subs: Mutex::default(),
            version: watch::channel(0).0,
        }
    }
}

/// A caller's end of a subscription; dropping it cancels the subscription.
pub struct LogReceiver {
    broker: Arc<LogBroker>,
    id: u64,
    rx: mpsc::Receiver<LogBatch>,
}

impl LogReceiver {
    /// The next batch; `None` when every node is done.
    pub async fn recv(&mut self) -> Option<LogBatch> {
        self.rx.recv().await
    }
}

impl Drop for LogReceiver {
    fn drop(&mut self) {
        self.broker.unsubscribe(self.id);
    }
}

impl LogBroker {
    fn bump(&self) {
        self.version.send_modify(|v| *v += 1);
    }

    /// Subscribes to the logs of `tasks_by_node`; nodes in `reachable` are waited for.
    pub fn subscribe(
        self: &Arc<Self>,
        tasks_by_node: Vec<(String, Vec<String>)>,
        options: LogSelection,
        reachable: impl Fn(&str) -> bool,
    ) -> LogReceiver {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(256);
        let waiting: BTreeSet<String> = tasks_by_node
            .iter()
            .map(|(n, _)| n.clone())
            .filter(|n| reachable(n))
            .collect();
        let by_node: BTreeMap<String, Vec<String>> = tasks_by_node
            .into_iter()
            .filter(|(n, _)| waiting.contains(n))
            .collect();
        if !waiting.is_empty() {
            self.subs.lock().unwrap_or_else(|e| e.into_inner()).insert(
                id,
                Subscription {
                    by_node,
                    options,
                    tx,
                    waiting,
                },
            );
            self.bump();
        }
        // With nobody to wait for, the sender is dropped here and the stream ends at once.
        LogReceiver {
            broker: self.clone(),
            id,
            rx,
        }
    }

    /// Drops a subscription; nodes stop streaming when their session says so.
    pub fn unsubscribe(&self, id: u64) {
        if self
            .subs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&id)
            .is_some()
        {
            self.bump();
        }
    }

    /// Subscriptions a node should serve.
    pub fn for_node(&self, node: &str) -> Vec<LogSubscription> {
        let subs = self.subs.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<LogSubscription> = subs
            .iter()
            .filter(|(_, s)| s.waiting.contains(node))
            .filter_map(|(id, s)| {
                s.by_node.get(node).map(|tasks| LogSubscription {
                    id: *id,
                    tasks: tasks.clone(),
                    options: s.options.clone(),
                })
            })
            .collect();
        out.sort_by_key(|s| s.id);
        out
    }

    /// Changes whenever the set of subscriptions changes.
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.version.subscribe()
    }

    /// Delivers a batch from `node`. Returns false when the subscription is gone (the node
    /// should stop).
    pub async fn publish(&self, node: &str, mut batch: LogBatch) -> bool {
        let tx = {
            let subs = self.subs.lock().unwrap_or_else(|e| e.into_inner());
            match subs.get(&batch.subscription) {
                Some(s) if s.waiting.contains(node) => {
                    // A node speaks only for the tasks it was asked about: a line claiming
                    // another node's task (or one outside the subscription) is dropped.
                    let asked = s.by_node.get(node).map(Vec::as_slice).unwrap_or_default();
                    batch.records.retain(|r| asked.contains(&r.task_id));
                    s.tx.clone()
                }
                _ => return false,
            }
        };
        let done = batch.done;
        let id = batch.subscription;
        if !batch.records.is_empty() && tx.send(LogBatch { done: false, ..batch }).await.is_err() {
            self.unsubscribe(id);
            return false;
        }
        if done {
            let mut subs = self.subs.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(s) = subs.get_mut(&id) {
                s.waiting.remove(node);
                if s.waiting.is_empty() {
                    subs.remove(&id);
                    drop(subs);
                    self.bump();
                }
            }
        }
        true
    }

    /// Marks `node` done everywhere (it went down), so non-following streams can end.
    pub fn node_gone(&self, node: &str) {
        let mut subs = self.subs.lock().unwrap_or_else(|e| e.into_inner());
        subs.retain(|_, s| {
            s.waiting.remove(node);
            !s.waiting.is_empty()
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rpc::messages::LogRecord;

    fn record(task: &str, line: &str) -> LogRecord {
        LogRecord {
            task_id: task.into(),
            stderr: false,
            timestamp: types::Timestamp(0),
            line: line.as_bytes().to_vec(),
        }
    }

    #[tokio::test]
    async fn lines_flow_until_every_node_is_done() {
        let broker = Arc::new(LogBroker::default());
        let mut rx = broker.subscribe(
            vec![
                ("n1".into(), vec!["t1".into()]),
                ("n2".into(), vec!["t2".into()]),
                ("down".into(), vec!["t3".into()]),
            ],
            LogSelection::default(),
            |n| n != "down",
        );
        let subs = broker.for_node("n1");
        assert_eq!(subs.len(), 1);
        assert!(broker.for_node("down").is_empty());
        let id = subs[0].id;
        assert!(
            broker
                .publish(
                    "n1",
                    LogBatch {
                        subscription: id,
                        records: vec![record("t1", "a")],
                        done: true
                    }
                )
                .await
        );
        assert_eq!(rx.recv().await.unwrap().records[0].line, b"a");
        assert!(
            broker
                .publish(
                    "n2",
                    LogBatch {
                        subscription: id,
                        records: vec![record("t2", "b")],
                        done: true
                    }
                )
                .await
        );
        assert_eq!(rx.recv().await.unwrap().records[0].task_id, "t2");
        assert!(rx.recv().await.is_none(), "all nodes done");
        assert!(broker.for_node("n1").is_empty());
    }

    #[tokio::test]
    async fn a_node_cannot_publish_lines_for_tasks_it_was_not_asked_about() {
        let broker = Arc::new(LogBroker::default());
        let mut rx = broker.subscribe(
            vec![("n1".into(), vec!["t1".into()]), ("n2".into(), vec!["t2".into()])],
            LogSelection::default(),
            |_| true,
        );
        let id = broker.for_node("n1")[0].id;
        let forged = LogBatch {
            subscription: id,
            records: vec![record("t2", "forged"), record("t9", "stray"), record("t1", "own")],
            done: false,
        };
        assert!(broker.publish("n1", forged).await);
        let got = rx.recv().await.unwrap();
        assert_eq!(got.records, vec![record("t1", "own")]);
        // A batch with nothing left after the filter is not forwarded at all.
        let only_forged = LogBatch {
            subscription: id,
            records: vec![record("t2", "forged")],
            done: true,
        };
        assert!(broker.publish("n1", only_forged).await);
        let done = LogBatch {
            subscription: id,
            records: vec![record("t2", "real")],
            done: true,
        };
        assert!(broker.publish("n2", done).await);
        assert_eq!(rx.recv().await.unwrap().records, vec![record("t2", "real")]);
        assert!(rx.recv().await.is_none(), "all nodes done");
    }

    #[tokio::test]
    async fn dropping_the_receiver_cancels() {
        let broker = Arc::new(LogBroker::default());
        let rx = broker.subscribe(
            vec![("n1".into(), vec!["t1".into()])],
            LogSelection {
                follow: true,
                ..Default::default()
            },
            |_| true,
        );
        let id = broker.for_node("n1")[0].id;
        drop(rx);
        assert!(broker.for_node("n1").is_empty());
        assert!(
            !broker
                .publish(
                    "n1",
                    LogBatch {
                        subscription: id,
                        records: vec![],
                        done: false
                    }
                )
                .await
        );
    }
}
