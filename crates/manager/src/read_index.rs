//! Reads on a follower: catch up with what the leader has applied first (Swarm proxies reads
//! to the leader for the same effect), and answer from what we have when no leader answers.
//! A replica whose Raft stopped cannot catch up: its store is frozen where the storage
//! failed, which may be before it even applied its own join. It reads a copy of the leader's
//! state instead, fetched again only when the leader's read index moved.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rpc::Pool;
use rpc::calls::{ReadIndex, ReadState};
use store::State;
use store::consensus::Consensus;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::workers::Worker;

/// How long a follower waits for the leader's read index before answering from its own state.
const READ_INDEX_TIMEOUT: Duration = Duration::from_millis(500);

/// How long a replica waits to apply an index it was told about.
const APPLY_WAIT: Duration = Duration::from_secs(2);

/// How often a follower checks that the leader answers.
const LEADER_PROBE_EVERY: Duration = Duration::from_millis(100);

/// When this follower last heard from the leader (a read index answered), so that a manager
/// that lost the leader (or quorum) can say so instead of looking healthy.
#[derive(Debug)]
struct LeaderContact {
    last: Mutex<Instant>,
}

impl LeaderContact {
    /// Counting from `now` (a replica that just started has not lost anything yet).
    fn new(now: Instant) -> LeaderContact {
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

/// Follower reads: catching up with the leader before a read, and when the leader last
/// answered (the `Swarm.Error` of a manager cut off from it).
#[derive(Clone)]
pub struct Reads {
    consensus: Consensus,
    pool: Pool,
    contact: Arc<LeaderContact>,
    election_timeout: Duration,
    /// Set once a read gave up waiting for the replay at open.
    replay_waited: Arc<AtomicBool>,
    /// The leader's state as last fetched, for reads while this replica is stopped.
    leader_copy: Arc<LeaderCopy>,
}

/// The leader's state as a stopped replica last fetched it.
#[derive(Debug, Default)]
struct LeaderCopy {
    state: Mutex<Option<Arc<State>>>,
}

impl LeaderCopy {
    fn get(&self) -> Option<Arc<State>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn set(&self, state: Arc<State>) {
        *self.state.lock().unwrap_or_else(|p| p.into_inner()) = Some(state);
    }
}

impl Reads {
    /// Reads through `consensus`, asking the leader over `pool`; a probe to the leader may take
    /// up to `election_timeout`.
    pub fn new(consensus: Consensus, pool: Pool, election_timeout: Duration) -> Reads {
        Reads {
            consensus,
            pool,
            contact: Arc::new(LeaderContact::new(Instant::now())),
            election_timeout,
            replay_waited: Arc::new(AtomicBool::new(false)),
            leader_copy: Arc::default(),
        }
    }

    /// How long this replica has not heard from a leader; `None` while it leads.
    pub fn leader_silence(&self) -> Option<Duration> {
        if self.consensus.is_leader() {
            return None;
        }
        Some(self.contact.silence(Instant::now()))
    }

    /// Probes the leader's read index every [`LEADER_PROBE_EVERY`] while following, until
    /// `shutdown`. (A probe is a liveness check of the leader, so it is timed, not driven by
    /// events: a silent leader produces none.)
    pub async fn probe_leader(self, worker: Worker, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(LEADER_PROBE_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            worker.busy();
            let result = self.probe().await;
            worker.done(result);
        }
    }

    async fn probe(&self) -> Result<(), String> {
        if self.consensus.is_leader() {
            self.contact.heard(Instant::now());
            return Ok(());
        }
        let Some((_, leader)) = self.consensus.leader() else {
            return Err("no leader known".into());
        };
        self.pool
            .call_within::<ReadIndex>(&leader.addr, &(), self.election_timeout)
            .await
            .map_err(|status| format!("leader {}: {}", leader.addr, status.message()))?;
        self.contact.heard(Instant::now());
        Ok(())
    }

    /// Brings this replica up to what the leader has applied before a read, so a follower
    /// serves the same answers as the leader. Without a reachable leader it answers from
    /// what it has: reads keep working when quorum is lost.
    pub async fn sync_read(&self) {
        self.replayed().await;
        if self.consensus.is_leader() {
            return;
        }
        let Some((_, leader)) = self.consensus.leader() else {
            return;
        };
        if let Ok(index) = self
            .pool
            .call_within::<ReadIndex>(&leader.addr, &(), READ_INDEX_TIMEOUT)
            .await
        {
            wait_applied(&self.consensus, index).await;
        }
    }
}

impl Reads {
    /// The leader's state, for a read on this (stopped) replica: fetched again when the
    /// leader applied more, the last copy when the leader does not answer, `None` when there
    /// is no copy at all.
    pub async fn leader_state(&self) -> Option<Arc<State>> {
        match self.fetch_leader_state().await {
            Ok(state) => Some(state),
            Err(why) => {
                tracing::debug!("reading the leader's state: {why}");
                self.leader_copy.get()
            }
        }
    }

    async fn fetch_leader_state(&self) -> Result<Arc<State>, String> {
        let (_, leader) = self.consensus.leader().ok_or("no known leader")?;
        // Longer than a healthy follower waits (as long as a write waits for a leader): the
        // alternative is a store frozen at the storage failure.
        let wait = self.election_timeout * 2 + Duration::from_millis(500);
        let index = self
            .pool
            .call_within::<ReadIndex>(&leader.addr, &(), wait)
            .await
            .map_err(|s| s.message().to_string())?;
        if let Some(copy) = self.leader_copy.get()
            && copy.index >= index
        {
            return Ok(copy);
        }
        let bytes = self
            .pool
            .call_within::<ReadState>(&leader.addr, &(), wait)
            .await
            .map_err(|s| s.message().to_string())?;
        let state = Arc::new(State::decode(&bytes).map_err(|e| format!("the state does not decode: {e}"))?);
        self.leader_copy.set(state.clone());
        Ok(state)
    }

    /// Waits until this replica has re-applied what its own log held when it opened: after a
    /// restart the store starts from the snapshot, and before the replay a read would miss
    /// writes this replica already acknowledged. Bounded (an uncommitted tail that a new
    /// leader overwrites is never applied), and once it timed out reads stop waiting.
    async fn replayed(&self) {
        let floor = self.consensus.log_end_at_open();
        if self.replay_waited.load(Ordering::Relaxed) || self.consensus.applied_index() >= floor {
            return;
        }
        let wait = self
            .consensus
            .wait_for(|m| m.last_applied.as_ref().is_some_and(|l| l.index() >= floor));
        if tokio::time::timeout(self.election_timeout * REPLAY_WAIT_ELECTIONS, wait)
            .await
            .is_err()
        {
            self.replay_waited.store(true, Ordering::Relaxed);
        }
    }
}

/// How many election timeouts a read waits for the replay at open (a restarted single
/// manager first has to win an election before it applies its log).
const REPLAY_WAIT_ELECTIONS: u32 = 4;

/// Waits (briefly) until this replica has applied `index`, so a caller that wrote through
/// the leader reads its own write here.
pub async fn wait_applied(consensus: &Consensus, index: u64) {
    let wait = consensus.wait_for(|m| m.last_applied.as_ref().is_some_and(|l| l.index() >= index));
    let _ = tokio::time::timeout(APPLY_WAIT, wait).await;
}
