//! Where an API caller's log request goes: to this replica's broker while it leads, else to
//! the leader's over the cluster port (Control/SubscribeLogs), batches relayed as they come.

use std::sync::Arc;

use rpc::Pool;
use rpc::calls::SubscribeLogs;
use rpc::messages::{LogBatch, LogRequest, LogSelection};
use store::consensus::Consensus;
use tokio::sync::mpsc;

use crate::error::from_status;
use crate::logbroker::LogBroker;
use crate::{Error, Result};

/// Batches buffered between the broker (or the leader's stream) and the caller.
const RELAY_BUFFER: usize = 64;

/// Routes log subscriptions to the leader's broker.
#[derive(Clone)]
pub struct LogRoute {
    consensus: Consensus,
    pool: Pool,
    broker: Arc<LogBroker>,
}

impl LogRoute {
    /// Subscribes at `broker` while `consensus` leads, else at the leader over `pool`.
    pub fn new(consensus: Consensus, pool: Pool, broker: Arc<LogBroker>) -> LogRoute {
        LogRoute {
            consensus,
            pool,
            broker,
        }
    }

    /// Log lines of `tasks_by_node`. The receiver ends when every node finished (or,
    /// following, when dropped).
    pub async fn subscribe(
        &self,
        tasks_by_node: Vec<(String, Vec<String>)>,
        options: LogSelection,
    ) -> Result<mpsc::Receiver<LogBatch>> {
        let (tx, rx) = mpsc::channel(RELAY_BUFFER);
        if self.consensus.is_leader() {
            let view = self.consensus.store().view();
            let reachable = |n: &str| {
                view.node(n)
                    .is_some_and(|n| n.status.state == types::NodeState::Ready)
            };
            let mut sub = self.broker.subscribe(tasks_by_node, options, reachable);
            tokio::spawn(async move {
                while let Some(batch) = sub.recv().await {
                    if tx.send(batch).await.is_err() {
                        return;
                    }
                }
            });
            return Ok(rx);
        }
        let (_, leader) = self
            .consensus
            .leader()
            .ok_or_else(|| Error::Unavailable(store::Error::NoLeader.to_string()))?;
        let request = LogRequest {
            tasks_by_node,
            options,
        };
        let mut stream = self
            .pool
            .open::<SubscribeLogs>(&leader.addr, &request)
            .await
            .map_err(from_status)?;
        tokio::spawn(async move {
            // A malformed batch ends the stream like a transport error.
            while let Ok(Some(batch)) = stream.message().await {
                if tx.send(batch).await.is_err() {
                    return;
                }
            }
        });
        Ok(rx)
    }
}
