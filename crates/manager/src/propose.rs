//! Writes: commit through Raft here when leading, else forward to the leader, and retry
//! across a leader change inside the one request.
//!
//! ```text
//!  propose(ops) ─► Txn{id} ─► consensus.write ─┬─ Ok / Txn error ───────────────► done
//!                                               ├─ ForwardToLeader(addr) ─► forward ─┐
//!                                               └─ NoLeader ──────────────► retry   │
//!  forward: Control/Propose to addr, abandoned as soon as this replica sees another │
//!           leader (or none): a stopped leader never answers, and the call would    │
//!           otherwise hang until its own timeout ─────────────────────────► retry ◄─┘
//!  retry: wait for a leader (≤ leader_wait in all), same Txn ID, so a proposal that did
//!         reach the old leader cannot apply twice
//! ```

use std::sync::Arc;
use std::time::Duration;

use rpc::Pool;
use rpc::calls::Propose;
use store::consensus::Consensus;
use store::{Op, Txn};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use types::{Clock, Node, Object};

use crate::error::{from_status, from_store, from_txn};
use crate::ids::Ids;
use crate::read_index::wait_applied;
use crate::{Error, Result};

/// Tries of a system node write that keeps losing to concurrent writes.
const NODE_WRITE_ATTEMPTS: usize = 16;

/// Longest a forwarded call may take when the leader stays the same (a big transaction on a
/// loaded leader); a leader change ends it much sooner.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(10);

/// What a propose attempt came to.
enum Attempt {
    Done(Result<u64>),
    /// Nothing was written, or a retry is harmless (same proposal ID); worth retrying once a
    /// leader is known.
    Retry(Error),
    /// The manager called is not the leader and named the one that is.
    Redirect(String),
}

/// The write path: everything that commits goes through a clone of this.
#[derive(Clone)]
pub struct Proposer {
    consensus: Consensus,
    pool: Pool,
    clock: Arc<dyn Clock>,
    ids: Arc<Ids>,
    /// How long a write waits for a leader (about two election timeouts).
    leader_wait: Duration,
    shutdown: CancellationToken,
}

impl Proposer {
    /// Writes through `consensus`, forwarding over `pool`, stamped with `clock`'s time and
    /// `ids`' proposal IDs; waits up to `leader_wait` for a leader; gives up at `shutdown`.
    pub fn new(
        consensus: Consensus,
        pool: Pool,
        clock: Arc<dyn Clock>,
        ids: Arc<Ids>,
        leader_wait: Duration,
        shutdown: CancellationToken,
    ) -> Proposer {
        Proposer {
            consensus,
            pool,
            clock,
            ids,
            leader_wait,
            shutdown,
        }
    }

    /// Changes node `id` by applying `f` to its current value, committed only if nothing
    /// wrote the node in between (else read again and retry). The system's own node writes
    /// (session status, description, observed role) go through here so that they can never
    /// undo an operator's concurrent change, such as a drain.
    pub async fn update_node(&self, id: &str, f: impl Fn(&mut Node)) -> Result<()> {
        for _ in 0..NODE_WRITE_ATTEMPTS {
            let node = self
                .consensus
                .store()
                .view()
                .node(id)
                .cloned()
                .ok_or_else(|| Error::NotFound(format!("node {id} not found")))?;
            let mut next = (*node).clone();
            f(&mut next);
            if next == *node {
                return Ok(());
            }
            let op = Op::Update {
                object: Object::Node(next),
                expect_version: Some(node.meta.version),
            };
            match self.propose(vec![op]).await {
                Err(Error::OutOfSequence) => continue,
                other => return other.map(|_| ()),
            }
        }
        Err(Error::OutOfSequence)
    }

    /// A new object ID from the manager's seeded source.
    pub fn new_id(&self) -> String {
        self.ids.new_id()
    }

    /// The time proposals are stamped with.
    pub fn now(&self) -> types::Timestamp {
        self.clock.now()
    }

    /// Commits `ops` through Raft, forwarding to the leader when this replica follows. While
    /// an election is under way it waits up to about two election timeouts for a leader, then
    /// fails with Swarm's "does not have a leader" error. Every attempt carries the same
    /// proposal ID, so a retry after an ambiguous failure (the leader died mid-call) cannot
    /// apply twice.
    pub async fn propose(&self, ops: Vec<Op>) -> Result<u64> {
        let id = self.ids.proposal_id();
        let txn = Txn {
            id,
            ops,
            now: self.clock.now(),
        };
        let mut deadline = Instant::now() + self.leader_wait;
        // Where to forward while our own Raft is stopped: the leader another manager named,
        // else the members in turn.
        let mut hint: Option<String> = None;
        let mut tried = 0usize;
        loop {
            let attempt = match self.consensus.write(txn.clone()).await {
                Ok(index) => Attempt::Done(Ok(index)),
                Err(store::Error::Txn(e)) => Attempt::Done(Err(from_txn(e))),
                Err(store::Error::ForwardToLeader { leader_id, addr }) => {
                    let (attempt, changed) = self.forward_while_leading(leader_id, &addr, &txn).await;
                    if changed {
                        // The wait so far went to a leader that is gone; the new one gets the
                        // full election allowance.
                        deadline = deadline.max(Instant::now() + self.leader_wait);
                    }
                    attempt
                }
                Err(store::Error::NoLeader) => Attempt::Retry(from_store(store::Error::NoLeader)),
                // Our own replica cannot write (its storage failed and Raft stopped): the
                // rest of the cluster may be fine, so hand the write to whoever leads.
                Err(store::Error::Raft(why)) => match self.leader_hint(&mut hint, &mut tried) {
                    Some(addr) => match self.forward(&addr, &txn).await {
                        Attempt::Redirect(next) => {
                            hint = Some(next);
                            Attempt::Retry(Error::Unavailable(why))
                        }
                        other => other,
                    },
                    None => Attempt::Done(Err(from_store(store::Error::Raft(why)))),
                },
                Err(e) => Attempt::Done(Err(from_store(e))),
            };
            match attempt {
                Attempt::Done(result) => return result,
                Attempt::Redirect(next) => {
                    hint = Some(next);
                    if Instant::now() >= deadline {
                        return Err(Error::Unavailable(store::Error::NoLeader.to_string()));
                    }
                    // Our view of the leader lags the one who redirected us; not a busy loop.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Attempt::Retry(err) if Instant::now() >= deadline || self.shutdown.is_cancelled() => {
                    return Err(err);
                }
                Attempt::Retry(_) => {
                    let _ = tokio::time::timeout(
                        Duration::from_millis(100),
                        self.consensus.wait_for(|m| m.current_leader.is_some()),
                    )
                    .await;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    }

    /// Forwards `txn` to leader `leader_id` at `addr`, giving up as soon as this replica
    /// learns of a different leader (or of none). Returns the attempt and whether the leader
    /// changed under it.
    async fn forward_while_leading(&self, leader_id: u64, addr: &str, txn: &Txn) -> (Attempt, bool) {
        let changed = async {
            if self
                .consensus
                .wait_for(|m| m.current_leader != Some(leader_id))
                .await
                .is_err()
            {
                // Our own Raft stopped: it will report no change, but the leader may be fine.
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            attempt = self.forward(addr, txn) => (attempt, false),
            _ = changed => {
                tracing::debug!(%addr, "leader changed during a forwarded proposal: retrying");
                self.pool.forget(addr);
                (Attempt::Retry(Error::Unavailable(store::Error::NoLeader.to_string())), true)
            }
        }
    }

    /// A manager to forward to while our own Raft is stopped: the last leader named to us,
    /// else the leader we knew when it stopped, else the other members in turn.
    fn leader_hint(&self, hint: &mut Option<String>, tried: &mut usize) -> Option<String> {
        if let Some(addr) = hint.take() {
            return Some(addr);
        }
        let me = self.consensus.id();
        if *tried == 0
            && let Some((id, peer)) = self.consensus.leader()
            && id != me
        {
            *tried += 1;
            return Some(peer.addr);
        }
        let others: Vec<String> = self
            .consensus
            .members()
            .into_iter()
            .filter(|(id, _)| *id != me)
            .map(|(_, p)| p.addr)
            .collect();
        if others.is_empty() {
            return None;
        }
        let addr = others[*tried % others.len()].clone();
        *tried += 1;
        Some(addr)
    }

    async fn forward(&self, addr: &str, txn: &Txn) -> Attempt {
        match self.pool.call_within::<Propose>(addr, txn, FORWARD_TIMEOUT).await {
            Ok(Ok(index)) => {
                wait_applied(&self.consensus, index).await;
                Attempt::Done(Ok(index))
            }
            Ok(Err(e)) => Attempt::Done(Err(from_txn(e))),
            // A refused certificate or a malformed message will not get better by retrying.
            Err(status)
                if matches!(
                    status.code(),
                    tonic::Code::PermissionDenied
                        | tonic::Code::Unauthenticated
                        | tonic::Code::InvalidArgument
                ) =>
            {
                Attempt::Done(Err(from_status(status)))
            }
            // Refused connections, "not the leader", and calls cut off with the leader: retry;
            // the proposal ID makes a second apply impossible.
            Err(status) => {
                tracing::debug!(%addr, "forwarded proposal failed: {}", status.message());
                if let Some(leader) = status.metadata().get("x-leader").and_then(|v| v.to_str().ok())
                    && leader != addr
                {
                    return Attempt::Redirect(leader.to_string());
                }
                self.pool.forget(addr);
                Attempt::Retry(Error::Unavailable(store::Error::NoLeader.to_string()))
            }
        }
    }
}
