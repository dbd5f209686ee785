//! Batching task status reports into few Raft writes: reports from every node are collected
//! for a short window (or until the batch is large), committed as one entry, and each
//! reporter is answered with the result.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use store::{Op, TaskChange, TaskUpdate};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::propose::Proposer;
use crate::workers::Worker;
use crate::{Error, Result};

/// Longest wait for more reports before committing (Swarm: 100 ms).
const WINDOW: Duration = Duration::from_millis(50);
/// Most updates in one entry (Swarm: 10,000).
const MAX_BATCH: usize = 10_000;

type Waiter = oneshot::Sender<Result<()>>;

/// Handle for submitting status updates.
#[derive(Clone)]
pub struct StatusBatcher {
    tx: mpsc::Sender<(Vec<TaskUpdate>, Waiter)>,
}

impl StatusBatcher {
    /// Starts a batcher committing through `proposer`, reporting as `worker`; it stops with
    /// `token`.
    pub fn start(proposer: Proposer, worker: Worker, token: CancellationToken) -> StatusBatcher {
        let (tx, rx) = mpsc::channel(1024);
        tokio::spawn(run(proposer, worker, rx, token));
        StatusBatcher { tx }
    }

    /// Submits updates and waits until they are committed.
    pub async fn submit(&self, updates: Vec<TaskUpdate>) -> Result<()> {
        if updates.is_empty() {
            return Ok(());
        }
        let (done, wait) = oneshot::channel();
        self.tx
            .send((updates, done))
            .await
            .map_err(|_| Error::Unavailable("dispatcher is shutting down".into()))?;
        wait.await
            .map_err(|_| Error::Unavailable("dispatcher is shutting down".into()))?
    }
}

/// The batcher of the current leadership term; empty while this replica does not lead.
#[derive(Clone, Default)]
pub struct CurrentBatcher(Arc<Mutex<Option<StatusBatcher>>>);

impl CurrentBatcher {
    /// Installs the batcher of a new term.
    pub fn set(&self, batcher: StatusBatcher) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(batcher);
    }

    /// Clears `ended` (its term is over) unless a later term already installed its own.
    pub fn clear(&self, ended: &StatusBatcher) {
        let mut current = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if current.as_ref().is_some_and(|b| b.tx.same_channel(&ended.tx)) {
            *current = None;
        }
    }

    /// The batcher, if this replica leads.
    pub fn get(&self) -> Option<StatusBatcher> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

async fn run(
    proposer: Proposer,
    worker: Worker,
    mut rx: mpsc::Receiver<(Vec<TaskUpdate>, Waiter)>,
    token: CancellationToken,
) {
    loop {
        let first = tokio::select! {
            _ = token.cancelled() => return,
            m = rx.recv() => match m { Some(m) => m, None => return },
        };
        worker.busy();
        let mut updates = first.0;
        let mut waiters = vec![first.1];
        let deadline = tokio::time::Instant::now() + WINDOW;
        while updates.len() < MAX_BATCH {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some((more, w))) => {
                    updates.extend(more);
                    waiters.push(w);
                }
                _ => break,
            }
        }
        let (count, reporters, started) = (updates.len(), waiters.len(), tokio::time::Instant::now());
        let result = proposer.propose(vec![Op::UpdateTasks(updates)]).await.map(|_| ());
        // Batch sizes and commit times say where status reports wait (e2e benchmark).
        tracing::debug!(
            updates = count,
            reporters,
            queued = rx.len(),
            commit_ms = started.elapsed().as_millis() as u64,
            ok = result.is_ok(),
            "status batch"
        );
        worker.done(result.clone());
        for w in waiters {
            let _ = w.send(result.clone());
        }
    }
}

/// The store change for one reported status.
pub fn status_update(id: String, status: types::TaskStatus) -> TaskUpdate {
    TaskUpdate {
        id,
        change: TaskChange::Status(status),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batcher() -> StatusBatcher {
        StatusBatcher {
            tx: mpsc::channel(1).0,
        }
    }

    #[test]
    fn an_ended_term_clears_only_its_own_batcher() {
        let current = CurrentBatcher::default();
        let (first, second) = (batcher(), batcher());
        current.set(first.clone());
        // Re-elected before the first term's clean-up ran.
        current.set(second.clone());
        current.clear(&first);
        assert!(current.get().is_some_and(|b| b.tx.same_channel(&second.tx)));
        current.clear(&second);
        assert!(current.get().is_none());
    }
}
