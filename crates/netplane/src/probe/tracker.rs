//! Which peers answer: a pure record of the probes sent to each peer VTEP and the answers that
//! came back, judging a peer unreachable after [`TrackerConfig::misses`] unanswered probes
//! spanning at least [`TrackerConfig::down_after`], and reachable again at its first answer.
//! Time comes in as arguments; nonces from the caller.
//!
//! Guards against calling a live peer dead:
//! - a peer that never answered is never judged (an agent without a responder, a port blocked
//!   by the operator, the first probes of a peer just listed): the manager's heartbeat verdict
//!   stays the only one for it;
//! - a tick that ran late by more than [`TrackerConfig::max_lag`] means this node itself was
//!   stalled (a loaded machine): the silence it saw is not the peer's, so every count starts
//!   again and nothing is judged on that tick;
//! - an answer counts only from the probed address with the nonce of a probe still
//!   outstanding, each nonce once.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::Ipv4Addr;
use std::time::Duration;

use tokio::time::Instant;

/// How many probes of a peer may await their answer (older ones are forgotten).
const OUTSTANDING: usize = 16;

/// The tracker's timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrackerConfig {
    /// Unanswered probes in a row before a peer is judged unreachable.
    pub misses: u32,
    /// The least time without an answer before a peer is judged unreachable.
    pub down_after: Duration,
    /// A tick later than this says the prober itself stalled.
    pub max_lag: Duration,
}

/// A change of a peer's reachability.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The peer stopped answering: `silent` since its last answer, `misses` probes unanswered.
    Unreachable {
        /// The peer's VTEP.
        peer: Ipv4Addr,
        /// Time since its last answer.
        silent: Duration,
        /// Probes it left unanswered.
        misses: u32,
    },
    /// The peer answered again after being judged unreachable for `after`.
    Reachable {
        /// The peer's VTEP.
        peer: Ipv4Addr,
        /// How long it was judged unreachable.
        after: Duration,
    },
}

#[derive(Debug)]
struct Peer {
    /// Whether it ever answered (only then can it be judged).
    answered: bool,
    /// Its last answer (or when it was listed).
    heard: Instant,
    /// Probes sent since its last answer.
    unanswered: u32,
    /// Nonces of probes still awaiting their answer, oldest first.
    outstanding: VecDeque<u64>,
    /// When it was judged unreachable.
    down_since: Option<Instant>,
}

/// The peers probed and what they answered.
#[derive(Debug)]
pub struct Tracker {
    config: TrackerConfig,
    peers: BTreeMap<Ipv4Addr, Peer>,
}

impl Tracker {
    /// A tracker of no peers yet.
    pub fn new(config: TrackerConfig) -> Tracker {
        Tracker {
            config,
            peers: BTreeMap::new(),
        }
    }

    /// Judges by `config` from now on (the prober's interval grows with its peers).
    pub fn set_config(&mut self, config: TrackerConfig) {
        self.config = config;
    }

    /// Probes exactly `peers` from now on: new ones start unjudged, gone ones are forgotten
    /// (an unreachable peer no longer listed stops being reported as such).
    pub fn set_peers(&mut self, peers: &BTreeSet<Ipv4Addr>, now: Instant) {
        self.peers.retain(|addr, _| peers.contains(addr));
        for addr in peers {
            self.peers.entry(*addr).or_insert_with(|| Peer {
                answered: false,
                heard: now,
                unanswered: 0,
                outstanding: VecDeque::new(),
                down_since: None,
            });
        }
    }

    /// One round, run `lag` after it was due: judges the peers, then returns a probe per peer
    /// (its address and a fresh nonce from `nonce`) with the peers newly judged unreachable.
    pub fn tick(
        &mut self,
        now: Instant,
        lag: Duration,
        mut nonce: impl FnMut() -> u64,
    ) -> (Vec<(Ipv4Addr, u64)>, Vec<Change>) {
        let stalled = lag > self.config.max_lag;
        let mut changes = Vec::new();
        let mut probes = Vec::with_capacity(self.peers.len());
        for (addr, peer) in &mut self.peers {
            if stalled {
                peer.unanswered = 0;
            } else if peer.answered
                && peer.down_since.is_none()
                && peer.unanswered >= self.config.misses
                && now.saturating_duration_since(peer.heard) >= self.config.down_after
            {
                peer.down_since = Some(now);
                changes.push(Change::Unreachable {
                    peer: *addr,
                    silent: now.saturating_duration_since(peer.heard),
                    misses: peer.unanswered,
                });
            }
            let n = nonce();
            if peer.outstanding.len() == OUTSTANDING {
                peer.outstanding.pop_front();
            }
            peer.outstanding.push_back(n);
            peer.unanswered = peer.unanswered.saturating_add(1);
            probes.push((*addr, n));
        }
        (probes, changes)
    }

    /// An answer from `from` echoing `nonce`: the peer is heard (and reachable again if it was
    /// judged otherwise). Answers from unknown addresses, with unknown or used nonces, are none.
    pub fn answer(&mut self, from: Ipv4Addr, nonce: u64, now: Instant) -> Option<Change> {
        let peer = self.peers.get_mut(&from)?;
        let at = peer.outstanding.iter().position(|n| *n == nonce)?;
        peer.outstanding.remove(at);
        peer.answered = true;
        peer.heard = now;
        peer.unanswered = 0;
        let since = peer.down_since.take()?;
        Some(Change::Reachable {
            peer: from,
            after: now.saturating_duration_since(since),
        })
    }

    /// The peers judged unreachable.
    pub fn unreachable(&self) -> BTreeSet<Ipv4Addr> {
        self.peers
            .iter()
            .filter(|(_, p)| p.down_since.is_some())
            .map(|(a, _)| *a)
            .collect()
    }

    /// How many peers are probed.
    pub fn len(&self) -> usize {
        self.peers.len()
    }

    /// Whether no peer is probed.
    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn config() -> TrackerConfig {
        TrackerConfig {
            misses: 4,
            down_after: 400 * MS,
            max_lag: 200 * MS,
        }
    }

    fn ip(last: u8) -> Ipv4Addr {
        Ipv4Addr::new(192, 168, 0, last)
    }

    /// Runs ticks every 100 ms from `t` for `rounds`, answering the peers in `answering`;
    /// returns the changes seen and the time after.
    fn run(
        tracker: &mut Tracker,
        mut t: Instant,
        rounds: usize,
        answering: &[Ipv4Addr],
        next: &mut u64,
    ) -> (Vec<Change>, Instant) {
        let mut changes = Vec::new();
        for _ in 0..rounds {
            let (probes, mut judged) = tracker.tick(t, Duration::ZERO, || {
                *next += 1;
                *next
            });
            changes.append(&mut judged);
            for (peer, nonce) in probes {
                if answering.contains(&peer) {
                    changes.extend(tracker.answer(peer, nonce, t + MS));
                }
            }
            t += 100 * MS;
        }
        (changes, t)
    }

    #[test]
    fn a_silent_peer_is_unreachable_after_its_misses_and_back_at_its_first_answer() {
        let mut tracker = Tracker::new(config());
        let t0 = Instant::now();
        let mut nonce = 0;
        tracker.set_peers(&BTreeSet::from([ip(2), ip(3)]), t0);
        let (changes, t) = run(&mut tracker, t0, 5, &[ip(2), ip(3)], &mut nonce);
        assert!(changes.is_empty());
        // ip(3) goes quiet after answering at +401 ms: probes at +500..+800 go unanswered and
        // the round at +900 finds 4 misses over 499 ms.
        let (changes, t) = run(&mut tracker, t, 4, &[ip(2)], &mut nonce);
        assert!(changes.is_empty(), "3 misses: not yet");
        let (changes, t) = run(&mut tracker, t, 1, &[ip(2)], &mut nonce);
        assert_eq!(
            changes,
            vec![Change::Unreachable {
                peer: ip(3),
                silent: 499 * MS,
                misses: 4
            }]
        );
        assert_eq!(tracker.unreachable(), BTreeSet::from([ip(3)]));
        let (changes, _) = run(&mut tracker, t, 1, &[ip(2), ip(3)], &mut nonce);
        assert!(
            matches!(changes[..], [Change::Reachable { peer, .. }] if peer == ip(3)),
            "{changes:?}"
        );
        assert!(tracker.unreachable().is_empty());
    }

    #[test]
    fn a_peer_that_never_answered_is_never_judged() {
        let mut tracker = Tracker::new(config());
        let t0 = Instant::now();
        tracker.set_peers(&BTreeSet::from([ip(2)]), t0);
        let (changes, _) = run(&mut tracker, t0, 50, &[], &mut 0);
        assert!(changes.is_empty());
    }

    #[test]
    fn a_late_tick_starts_the_counts_again() {
        let mut tracker = Tracker::new(config());
        let t0 = Instant::now();
        let mut nonce = 0;
        tracker.set_peers(&BTreeSet::from([ip(2)]), t0);
        let (_, t) = run(&mut tracker, t0, 1, &[ip(2)], &mut nonce);
        let (_, t) = run(&mut tracker, t, 4, &[], &mut nonce);
        // This node stalled for 600 ms: the peer's answers may be waiting in its socket.
        let t = t + 600 * MS;
        let (probes, changes) = tracker.tick(t, 600 * MS, || 99);
        assert!(changes.is_empty(), "nothing judged on a late tick");
        assert_eq!(probes, vec![(ip(2), 99)]);
        let (changes, t) = run(&mut tracker, t + 100 * MS, 3, &[], &mut nonce);
        assert!(changes.is_empty(), "four misses counted afresh after the stall");
        let (changes, _) = run(&mut tracker, t, 1, &[], &mut nonce);
        assert_eq!(changes.len(), 1);
    }

    #[test]
    fn forged_or_replayed_answers_do_not_count() {
        let mut tracker = Tracker::new(config());
        let t0 = Instant::now();
        tracker.set_peers(&BTreeSet::from([ip(2)]), t0);
        let (probes, _) = tracker.tick(t0, Duration::ZERO, || 42);
        assert_eq!(probes, vec![(ip(2), 42)]);
        assert_eq!(tracker.answer(ip(9), 42, t0), None, "another address");
        assert_eq!(tracker.answer(ip(2), 41, t0), None, "a nonce never sent");
        assert_eq!(tracker.answer(ip(2), 42, t0), None, "heard, no change");
        // The same answer again is not another sign of life.
        assert!(!tracker.peers[&ip(2)].outstanding.contains(&42));
        let mut n = 100;
        let (changes, _) = run(&mut tracker, t0 + 100 * MS, 6, &[], &mut n);
        assert_eq!(changes.len(), 1);
        assert_eq!(tracker.answer(ip(2), 42, t0 + 800 * MS), None, "a replay");
        assert_eq!(tracker.unreachable(), BTreeSet::from([ip(2)]));
    }

    #[test]
    fn peers_no_longer_listed_are_forgotten() {
        let mut tracker = Tracker::new(config());
        let t0 = Instant::now();
        let mut nonce = 0;
        tracker.set_peers(&BTreeSet::from([ip(2), ip(3)]), t0);
        let (_, t) = run(&mut tracker, t0, 1, &[ip(2), ip(3)], &mut nonce);
        let (_, t) = run(&mut tracker, t, 6, &[ip(2)], &mut nonce);
        assert_eq!(tracker.unreachable(), BTreeSet::from([ip(3)]));
        tracker.set_peers(&BTreeSet::from([ip(2)]), t);
        assert!(tracker.unreachable().is_empty());
        assert_eq!(tracker.len(), 1);
    }
}
