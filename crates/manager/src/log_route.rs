//! Where an API caller's log request goes: to this replica's broker while it leads, else to
//! the leader's over the cluster port (Control/SubscribeLogs), batches relayed as they come.

use std::sync::Arc;

use rpc::messages::{LogBatch, LogRequest, LogSelection};
use rpc::{Pool, decode, encode};
use store::consensus::Consensus;
use tokio::sync::mpsc;

use crate::error::{from_rpc, from_status};
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
            .control(&leader.addr)
            .map_err(from_rpc)?
            .subscribe_logs(encode(&request))
            .await
            .map_err(from_status)?
            .into_inner();
        tokio::spawn(async move {
            while let Ok(Some(msg)) = stream.message().await {
                let Ok(batch) = decode::<LogBatch>(&msg) else {
                    return;
                };
                if tx.send(batch).await.is_err() {
                    return;
                }
            }
        });
        Ok(rx)
    }
}
