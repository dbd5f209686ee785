//! Raft calls from a manager this replica has not heard of. A replica that is behind (it
//! joined last, or was slow) may not have the log entry that made a new leader a member yet;
//! refusing that leader would keep it behind for good. So before refusing, it asks the
//! members it does know whether the caller is in their membership: the leader's word counts,
//! as the replicated log would have told it had it been current.
//!
//! ```text
//! Raft call from X ─► X in my membership? ── yes ─► serve
//!                          │ no
//!                          ▼
//!          cached answer? ─► ask my other members (Control/RaftMembers, in parallel)
//!                          ─► any names X ─► serve (remember 10 s) · none ─► refuse (remember 1 s)
//! ```
//! A removed node is refused by every member that applied its removal, so asking cannot
//! readmit it; the short memory of refusals keeps a removed node that keeps calling from
//! turning each call into a round of questions.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use rpc::Pool;
use rpc::calls::RaftMembers;
use store::consensus::Consensus;
use tokio::time::Instant;

/// How long a member's word that the caller is a member is trusted.
const VOUCHED_FOR: Duration = Duration::from_secs(10);
/// How long a refusal is remembered before members are asked again.
const REFUSED_FOR: Duration = Duration::from_secs(1);
/// How long each member has to answer.
const ASK_TIMEOUT: Duration = Duration::from_millis(500);
/// Callers remembered at most (a bound against many distinct certificates).
const MAX_REMEMBERED: usize = 1024;

/// Answers of other members about callers this replica did not know.
pub struct Vouches {
    consensus: Consensus,
    pool: Pool,
    /// This replica's node, never asked about itself.
    me: String,
    known: Mutex<HashMap<String, (bool, Instant)>>,
}

impl Vouches {
    /// Asks the members of `consensus` over `pool`; `me` is this replica's node ID.
    pub fn new(consensus: Consensus, pool: Pool, me: String) -> Vouches {
        Vouches {
            consensus,
            pool,
            me,
            known: Mutex::default(),
        }
    }

    /// True if another member of this replica's Raft group names `node_id` as a member.
    pub async fn confirmed(&self, node_id: &str) -> bool {
        let now = Instant::now();
        if let Some((answer, until)) = self.lock().get(node_id)
            && now < *until
        {
            return *answer;
        }
        let peers: Vec<String> = self
            .consensus
            .members()
            .into_values()
            .filter(|p| p.node_id != node_id && p.node_id != self.me)
            .map(|p| p.addr)
            .collect();
        let asks = peers.iter().map(|addr| ask(&self.pool, addr, node_id));
        let answer = futures::future::join_all(asks).await.into_iter().any(|yes| yes);
        tracing::debug!(
            node_id,
            answer,
            "asked other members about an unknown raft caller"
        );
        let mut known = self.lock();
        if known.len() >= MAX_REMEMBERED {
            known.retain(|_, (_, until)| now < *until);
            if known.len() >= MAX_REMEMBERED {
                known.clear();
            }
        }
        let keep = if answer { VOUCHED_FOR } else { REFUSED_FOR };
        known.insert(node_id.to_string(), (answer, now + keep));
        answer
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (bool, Instant)>> {
        self.known.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Does the member at `addr` have `node_id` in its Raft membership? (No answer: no.)
async fn ask(pool: &Pool, addr: &str, node_id: &str) -> bool {
    match pool.call_within::<RaftMembers>(addr, &(), ASK_TIMEOUT).await {
        Ok(ids) => ids.iter().any(|id| id == node_id),
        Err(status) => {
            tracing::debug!(%addr, "raft members: {}", status.message());
            false
        }
    }
}
