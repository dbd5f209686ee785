//! The session's view of the node's task side: assignments go in, observed statuses come out.
//! The worker (task runners over an executor) implements [`Tasks`]; the session only moves
//! messages.

use std::collections::HashMap;
use std::time::Duration;

use rpc::messages::TaskStatusBatch;
use rpc::{Pool, encode};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use types::{Task, TaskStatus};

/// What the session needs from the node's task side.
#[async_trait::async_trait]
pub trait Tasks: Send + Sync + 'static {
    /// Applies an assignment message: the full set (`full`), or changed tasks and removals.
    async fn assign(&self, full: bool, tasks: Vec<Task>, removed: Vec<String>);
}

/// How often collected statuses are sent (Swarm batches agent reports similarly).
const REPORT_EVERY: Duration = Duration::from_millis(100);

/// Sends the latest status of each task to the leader, batched; keeps what it could not send
/// and resends everything it knows after a reconnect.
pub async fn report_statuses(
    pool: Pool,
    leader: watch::Receiver<Option<String>>,
    mut statuses: mpsc::Receiver<(String, TaskStatus)>,
    shutdown: CancellationToken,
) {
    let mut pending: HashMap<String, TaskStatus> = HashMap::new();
    let mut known: HashMap<String, TaskStatus> = HashMap::new();
    let mut leader = leader;
    let mut tick = tokio::time::interval(REPORT_EVERY);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            s = statuses.recv() => match s {
                Some((id, status)) => {
                    known.insert(id.clone(), status.clone());
                    pending.insert(id, status);
                }
                None => return,
            },
            changed = leader.changed() => {
                if changed.is_err() {
                    return;
                }
                // A new leader may have missed reports the old one never committed.
                pending.extend(known.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
            _ = tick.tick() => {
                if pending.is_empty() {
                    continue;
                }
                let Some(addr) = leader.borrow().clone() else { continue };
                let updates: Vec<(String, TaskStatus)> = pending.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                let Ok(mut client) = pool.dispatcher(&addr) else { continue };
                let mut request = tonic::Request::new(encode(&TaskStatusBatch { updates: updates.clone() }));
                request.set_timeout(Duration::from_secs(5));
                if client.update_task_status(request).await.is_ok() {
                    for (id, status) in updates {
                        if pending.get(&id) == Some(&status) {
                            pending.remove(&id);
                        }
                    }
                    // Forget finished tasks we reported; the store has them now.
                    known.retain(|_, s| !s.state.is_terminal());
                }
            }
        }
    }
}
