//! Reads on a follower: catch up with what the leader has applied first (Swarm proxies reads
//! to the leader for the same effect), and answer from what we have when no leader answers.

use std::time::Duration;

use rpc::{decode, encode};

use crate::manager::Inner;

/// How long a follower waits for the leader's read index before answering from its own state.
const READ_INDEX_TIMEOUT: Duration = Duration::from_millis(500);

/// How long a replica waits to apply an index it was told about.
const APPLY_WAIT: Duration = Duration::from_secs(2);

impl Inner {
    /// Waits (briefly) until this replica has applied `index`, so a caller that wrote through
    /// the leader reads its own write here.
    pub(crate) async fn wait_applied(&self, index: u64) {
        let wait = self
            .consensus
            .wait_for(|m| m.last_applied.as_ref().is_some_and(|l| l.index() >= index));
        let _ = tokio::time::timeout(APPLY_WAIT, wait).await;
    }

    /// Brings this replica up to what the leader has applied before a read, so a follower
    /// serves the same answers as the leader. Without a reachable leader it answers from
    /// what it has: reads keep working when quorum is lost.
    pub(crate) async fn sync_read(&self) {
        if self.consensus.is_leader() {
            return;
        }
        let Some((_, leader)) = self.consensus.leader() else {
            return;
        };
        let Ok(mut client) = self.pool.control(&leader.addr) else {
            return;
        };
        let mut request = tonic::Request::new(encode(&()));
        request.set_timeout(READ_INDEX_TIMEOUT);
        if let Ok(reply) = client.read_index(request).await
            && let Ok(index) = decode::<u64>(reply.get_ref())
        {
            self.wait_applied(index).await;
        }
    }
}
