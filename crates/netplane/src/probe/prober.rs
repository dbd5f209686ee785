//! The prober: one thread of its own per node that pings every peer VTEP it is given each
//! interval, answers the peers' pings, and publishes the set of peers judged unreachable.
//! A thread, not a task on the agent's runtime, so a busy runtime neither delays the answers
//! peers judge this node by nor makes this node misjudge its peers.
//!
//! The interval grows with the number of peers so a node never sends more than
//! [`ProberConfig::max_rate`] probes a second: 100 ms up to 200 peers, 500 ms at 1000.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::ProbeSocket;
use super::tracker::{Change, Tracker, TrackerConfig};
use crate::error::{Error, Result};

/// How the prober paces and judges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProberConfig {
    /// Time between two probes of a peer, at most [`ProberConfig::max_rate`] allowing.
    pub interval: Duration,
    /// Unanswered probes in a row (spanning as many intervals) before a peer is unreachable.
    pub misses: u32,
    /// The most probes a second the node sends, over all its peers.
    pub max_rate: u32,
}

impl Default for ProberConfig {
    fn default() -> Self {
        ProberConfig {
            interval: Duration::from_millis(100),
            misses: 4,
            max_rate: 2000,
        }
    }
}

impl ProberConfig {
    /// The interval with `peers` peers.
    pub fn interval_for(&self, peers: usize) -> Duration {
        let paced = Duration::from_secs_f64(peers as f64 / f64::from(self.max_rate.max(1)));
        self.interval.max(paced)
    }

    fn tracker(&self, interval: Duration) -> TrackerConfig {
        TrackerConfig {
            misses: self.misses,
            down_after: interval * self.misses,
            // A tick a whole interval late: this node stalled, not its peers.
            max_lag: interval,
        }
    }
}

/// Handle of a running prober.
pub struct Prober;

impl Prober {
    /// Starts probing the peers `peers` holds over `socket`; the returned receiver holds the
    /// peers judged unreachable. The thread ends when `peers`' sender is dropped.
    pub fn spawn(
        socket: ProbeSocket,
        config: ProberConfig,
        peers: watch::Receiver<BTreeSet<Ipv4Addr>>,
    ) -> Result<watch::Receiver<BTreeSet<Ipv4Addr>>> {
        let (tx, rx) = watch::channel(BTreeSet::new());
        std::thread::Builder::new()
            .name("shoal-probe".into())
            .spawn(move || run(&socket, config, peers, &tx))
            .map_err(|e| Error::Invalid(format!("starting the prober thread: {e}")))?;
        Ok(rx)
    }
}

/// How often a stalled prober says so, at most.
const STALL_LOG_EVERY: Duration = Duration::from_secs(10);

fn run(
    socket: &ProbeSocket,
    config: ProberConfig,
    mut peers: watch::Receiver<BTreeSet<Ipv4Addr>>,
    out: &watch::Sender<BTreeSet<Ipv4Addr>>,
) {
    let mut tracker = Tracker::new(config.tracker(config.interval));
    tracker.set_peers(&peers.borrow_and_update().clone(), Instant::now());
    let mut due = Instant::now();
    let mut stall_logged: Option<Instant> = None;
    let publish = |tracker: &Tracker| {
        let now = tracker.unreachable();
        out.send_if_modified(|set| {
            let changed = *set != now;
            *set = now.clone();
            changed
        });
    };
    loop {
        match peers.has_changed() {
            Err(_) => return,
            Ok(true) => {
                let set = peers.borrow_and_update().clone();
                tracker.set_peers(&set, Instant::now());
                publish(&tracker);
            }
            Ok(false) => {}
        }
        let now = Instant::now();
        if now >= due {
            let interval = config.interval_for(tracker.len());
            tracker.set_config(config.tracker(interval));
            let lag = now - due;
            let (probes, changes) = tracker.tick(now, lag, || socket.nonce());
            for (peer, nonce) in probes {
                socket.ping(peer, nonce);
            }
            if lag > interval {
                if stall_logged.is_none_or(|at| now - at >= STALL_LOG_EVERY) {
                    tracing::info!(
                        lag_ms = lag.as_millis() as u64,
                        "the prober ran late (a loaded host?): its peers' silence is not counted across the stall"
                    );
                    stall_logged = Some(now);
                }
                due = now + interval;
            } else {
                due += interval;
            }
            for change in &changes {
                log(change);
            }
            if !changes.is_empty() {
                publish(&tracker);
            }
            continue;
        }
        match socket.next_pong(due - now) {
            Ok(Some((from, nonce))) => {
                if let Some(change) = tracker.answer(from, nonce, Instant::now()) {
                    log(&change);
                    publish(&tracker);
                }
            }
            Ok(None) => {}
            Err(error) => {
                // Not expected on a bound UDP socket; paced so it cannot spin.
                tracing::debug!(%error, "probe socket");
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

fn log(change: &Change) {
    match change {
        Change::Unreachable { peer, silent, misses } => tracing::warn!(
            %peer,
            silent_ms = silent.as_millis() as u64,
            misses,
            "peer stopped answering probes: its endpoints leave this node's balancers and DNS answers until it answers again"
        ),
        Change::Reachable { peer, after } => tracing::warn!(
            %peer,
            after_ms = after.as_millis() as u64,
            "peer answers probes again: its endpoints are back; unless its host was lost, that was a false removal (a stalled agent or a loaded host)"
        ),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_interval_grows_with_the_peers() {
        let c = ProberConfig::default();
        assert_eq!(c.interval_for(0), Duration::from_millis(100));
        assert_eq!(c.interval_for(200), Duration::from_millis(100));
        assert_eq!(c.interval_for(1000), Duration::from_millis(500));
        assert_eq!(
            c.tracker(Duration::from_millis(500)).down_after,
            Duration::from_secs(2)
        );
    }

    /// A prober on a loopback address and a peer played by hand: the peer answers one probe,
    /// goes silent (judged unreachable after its misses), then answers again (reachable).
    #[test]
    fn a_prober_judges_a_silent_peer_and_takes_it_back() {
        use super::super::wire::Message;
        let a_ip = Ipv4Addr::new(127, 0, 0, 3);
        let b_ip = Ipv4Addr::new(127, 0, 0, 4);
        let b = std::net::UdpSocket::bind((b_ip, 0)).unwrap();
        let port = b.local_addr().unwrap().port();
        b.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        // Answers every probe waiting (at least one): the latest nonces are the outstanding ones.
        let answer = || {
            let mut buf = [0u8; 32];
            b.set_nonblocking(false).unwrap();
            loop {
                let (len, from) = match b.recv_from(&mut buf) {
                    Ok(got) => got,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                    Err(e) => panic!("no probe within 10 s: {e}"),
                };
                let Some(Message::Ping(nonce)) = Message::decode(&buf[..len]) else {
                    panic!("not a ping: {:?}", &buf[..len]);
                };
                b.send_to(&Message::Pong(nonce).encode(), from).unwrap();
                b.set_nonblocking(true).unwrap();
            }
        };
        let config = ProberConfig {
            interval: Duration::from_millis(20),
            misses: 4,
            max_rate: 2000,
        };
        let (peers, rx) = watch::channel(BTreeSet::from([b_ip]));
        let mut a = Prober::spawn(ProbeSocket::bind(a_ip, port).unwrap(), config, rx).unwrap();
        answer();
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut wait = |want: BTreeSet<Ipv4Addr>| {
            while *a.borrow_and_update() != want {
                assert!(Instant::now() < deadline, "never saw {want:?}");
                // Polls the published set (a watch has no blocking wait outside a runtime).
                std::thread::yield_now();
            }
        };
        wait(BTreeSet::from([b_ip]));
        // Probes kept coming while silent; the next answered one brings the peer back
        // (a's outstanding nonces include the latest ones). Answered until the test has seen
        // it back: a single answer would let it be judged again 80 ms later, before a test
        // thread the machine is slow to schedule looks.
        let seen = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                // The deadline too: a failed wait must not leave this thread answering forever.
                while !seen.load(std::sync::atomic::Ordering::Acquire) && Instant::now() < deadline {
                    answer();
                }
            });
            wait(BTreeSet::new());
            seen.store(true, std::sync::atomic::Ordering::Release);
        });
        drop(peers);
    }
}
