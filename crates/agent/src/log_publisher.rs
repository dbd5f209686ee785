//! Serving log subscriptions: the leader names them in the session; for each, this node
//! reads its tasks' logs and streams them back with `PublishLogs`, then says it is done
//! (unless following, which lasts until the subscription disappears from the session).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use rpc::Pool;
use rpc::calls::PublishLogs;
use rpc::messages::{LogBatch, LogRecord, LogSubscription};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::logs::{LogOptions, LogStream};
use crate::tasks::Tasks;

/// Lines per batch and the longest a batch waits to fill.
const BATCH_LINES: usize = 256;
const BATCH_WAIT: Duration = Duration::from_millis(50);

/// The node's running log streams, by subscription ID.
pub struct LogPublisher {
    tasks: Arc<dyn Tasks>,
    pool: Pool,
    active: Mutex<HashMap<u64, CancellationToken>>,
}

impl LogPublisher {
    /// A publisher reading logs from `tasks`.
    pub fn new(tasks: Arc<dyn Tasks>, pool: Pool) -> LogPublisher {
        LogPublisher {
            tasks,
            pool,
            active: Mutex::default(),
        }
    }

    /// Starts streams for new subscriptions and stops those the leader no longer lists.
    pub fn apply(&self, leader: &str, subs: &[LogSubscription]) {
        let mut active = self.active.lock().unwrap_or_else(|e| e.into_inner());
        active.retain(|id, token| {
            let keep = subs.iter().any(|s| s.id == *id);
            if !keep {
                token.cancel();
            }
            keep
        });
        for sub in subs {
            if active.contains_key(&sub.id) {
                continue;
            }
            let token = CancellationToken::new();
            active.insert(sub.id, token.clone());
            tokio::spawn(publish(
                self.tasks.clone(),
                self.pool.clone(),
                leader.to_string(),
                sub.clone(),
                token,
            ));
        }
    }

    /// Stops every stream (session lost).
    pub fn stop_all(&self) {
        for (_, token) in self.active.lock().unwrap_or_else(|e| e.into_inner()).drain() {
            token.cancel();
        }
    }
}

async fn publish(
    tasks: Arc<dyn Tasks>,
    pool: Pool,
    leader: String,
    sub: LogSubscription,
    token: CancellationToken,
) {
    let o = &sub.options;
    let options = LogOptions {
        tail: o.tail.map(|n| n as usize),
        since: o.since,
        until: o.until,
        follow: o.follow,
        stdout: o.stdout,
        stderr: o.stderr,
    };
    let mut streams = Vec::new();
    for task_id in &sub.tasks {
        if let Some(lines) = tasks.logs(task_id, options.clone()).await {
            let id = task_id.clone();
            streams.push(lines.map(move |line| (id.clone(), line)).boxed());
        }
    }
    let mut lines = futures::stream::select_all(streams);
    let (tx, rx) = mpsc::channel::<LogBatch>(16);
    let producer = async move {
        let mut batch = Vec::new();
        loop {
            let next = if batch.is_empty() {
                Some(lines.next().await)
            } else {
                tokio::time::timeout(BATCH_WAIT, lines.next()).await.ok()
            };
            match next {
                Some(Some((task_id, Ok(m)))) => {
                    batch.push(LogRecord {
                        task_id,
                        stderr: m.stream == LogStream::Stderr,
                        timestamp: m.timestamp,
                        line: m.line,
                    });
                    if batch.len() < BATCH_LINES {
                        continue;
                    }
                }
                Some(Some((_, Err(e)))) => tracing::debug!("reading logs: {e}"),
                Some(None) => break,
                None => {}
            }
            if !batch.is_empty() {
                let msg = LogBatch {
                    subscription: sub.id,
                    records: std::mem::take(&mut batch),
                    done: false,
                };
                if tx.send(msg).await.is_err() {
                    return;
                }
            }
        }
        if !batch.is_empty() {
            let _ = tx
                .send(LogBatch {
                    subscription: sub.id,
                    records: batch,
                    done: false,
                })
                .await;
        }
        let _ = tx
            .send(LogBatch {
                subscription: sub.id,
                records: Vec::new(),
                done: true,
            })
            .await;
    };
    let call =
        pool.send_stream::<PublishLogs, _>(&leader, tokio_stream::wrappers::ReceiverStream::new(rx), None);
    tokio::select! {
        _ = token.cancelled() => {}
        _ = async { tokio::join!(producer, call) } => {}
    }
}
