//! Reads on a follower: catch up with what the leader has applied first (Swarm proxies reads
//! to the leader for the same effect), and answer from what we have when no leader answers.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rpc::{decode, encode};
use tokio::time::Instant;

use crate::manager::Inner;

/// How long a follower waits for the leader's read index before answering from its own state.
const READ_INDEX_TIMEOUT: Duration = Duration::from_millis(500);

/// How long a replica waits to apply an index it was told about.
const APPLY_WAIT: Duration = Duration::from_secs(2);

/// How often a follower checks that the leader answers.
const LEADER_PROBE_EVERY: Duration = Duration::from_millis(100);

/// When this follower last heard from the leader (a read index answered), so that a manager
/// that lost the leader (or quorum) can say so instead of looking healthy.
#[derive(Debug)]
pub(crate) struct LeaderContact {
    last: Mutex<Instant>,
}

impl LeaderContact {
    /// Counting from `now` (a replica that just started has not lost anything yet).
    pub(crate) fn new(now: Instant) -> LeaderContact {
        LeaderContact {
            last: Mutex::new(now),
        }
    }

    fn heard(&self, now: Instant) {
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = now;
    }

    fn silence(&self, now: Instant) -> Duration {
        now.saturating_duration_since(*self.last.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl Inner {
    /// How long this replica has not heard from a leader; `None` while it leads.
    pub(crate) fn leader_silence(&self) -> Option<Duration> {
        if self.consensus.is_leader() {
            return None;
        }
        Some(self.leader_contact.silence(Instant::now()))
    }

    /// Probes the leader's read index every [`LEADER_PROBE_EVERY`] while following.
    pub(crate) async fn watch_leader(self: Arc<Self>) {
        let mut tick = tokio::time::interval(LEADER_PROBE_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = self.shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            if self.consensus.is_leader() {
                self.leader_contact.heard(Instant::now());
                continue;
            }
            let Some((_, leader)) = self.consensus.leader() else {
                continue;
            };
            let Ok(mut client) = self.pool.control(&leader.addr) else {
                continue;
            };
            let mut request = tonic::Request::new(encode(&()));
            request.set_timeout(self.election_timeout);
            if client.read_index(request).await.is_ok() {
                self.leader_contact.heard(Instant::now());
            }
        }
    }

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
