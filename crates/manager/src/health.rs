//! Whether this manager's replica works, as `docker info` reports it (`Swarm.Error`).
//!
//! A replica whose storage failed (disk full, read-only, I/O error) has its Raft stopped:
//! it can no longer vote, append or apply. It still serves reads (from the leader's state, see
//! read_index.rs) and forwards writes to the leader (see propose.rs), so the node stays
//! useful, but it must not look healthy: an operator has to learn that its disk needs
//! attention.

use std::fmt;
use std::time::Duration;

use types::Reachability;

/// Health of the local replica.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Raft runs.
    Healthy,
    /// Raft stopped; the reason as the storage reported it.
    Stopped(String),
    /// Following, but the leader has not answered for longer than [`silence_limit`]: the
    /// swarm lost its leader or this manager is cut off (no quorum). Reads still answer, from
    /// local state that may be stale.
    LeaderUnreachable(Duration),
}

/// How long a silent peer still counts as reachable: two election timeouts, so a loaded
/// machine that misses one beat does not flap (≤ 1 s with the default timings).
pub fn silence_limit(election_timeout: Duration) -> Duration {
    election_timeout * 2
}

impl Health {
    /// From Raft's running state: `Err(reason)` once it stopped on a fatal error.
    pub fn from_running(running: Result<(), String>, shutting_down: bool) -> Health {
        match running {
            // A stop we asked for (leave, shutdown) is not a failure.
            Err(_) if shutting_down => Health::Healthy,
            Ok(()) => Health::Healthy,
            Err(reason) => Health::Stopped(reason),
        }
    }

    /// From Raft's running state and, when following, how long the leader has been silent.
    pub fn assess(
        running: Result<(), String>,
        shutting_down: bool,
        leader_silence: Option<Duration>,
        election_timeout: Duration,
    ) -> Health {
        match Health::from_running(running, shutting_down) {
            Health::Healthy => match leader_silence {
                Some(s) if !shutting_down && s > silence_limit(election_timeout) => {
                    Health::LeaderUnreachable(s)
                }
                _ => Health::Healthy,
            },
            stopped => stopped,
        }
    }

    /// The `Swarm.Error` text; empty when healthy.
    pub fn error(&self) -> String {
        match self {
            Health::Healthy => String::new(),
            Health::Stopped(reason) => self.to_string_with(reason),
            Health::LeaderUnreachable(silence) => format!(
                "no contact with the swarm leader for {:.1}s: the swarm may have lost quorum; reads are served from this manager's local state and may be stale",
                silence.as_secs_f64()
            ),
        }
    }

    fn to_string_with(&self, reason: &str) -> String {
        // Storage errors can be long (a chain of causes); `docker info` shows one line.
        let reason: String = reason
            .lines()
            .next()
            .unwrap_or_default()
            .chars()
            .take(200)
            .collect();
        format!(
            "raft replica stopped (storage failure: {reason}); reads and writes go through the leader (local state, possibly stale, only when no leader answers)"
        )
    }
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Health::Healthy => f.write_str("healthy"),
            Health::Stopped(_) | Health::LeaderUnreachable(_) => f.write_str(&self.error()),
        }
    }
}

/// Reachability of a manager in `node ls`.
///
/// `heartbeat`: on the leader, how long ago the manager last acknowledged a Raft heartbeat
/// (`Some(None)`: never). A manager whose Raft stopped still heartbeats the dispatcher (its
/// node looks Ready) but no longer answers Raft, so once its last acknowledgement is older
/// than [`silence_limit`] it is Unreachable, as Swarm shows a manager it cannot reach.
/// `None` when this replica does not lead and so cannot tell; the node's status decides then.
pub fn manager_reachability(
    node_ready: Reachability,
    heartbeat: Option<Option<Duration>>,
    election_timeout: Duration,
) -> Reachability {
    match heartbeat {
        Some(Some(age)) if age <= silence_limit(election_timeout) => node_ready,
        Some(_) => Reachability::Unreachable,
        None => node_ready,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manager_that_stopped_acknowledging_raft_is_unreachable() {
        let t = Duration::from_millis(500);
        let r = Reachability::Reachable;
        assert_eq!(
            manager_reachability(r, Some(Some(Duration::from_millis(100))), t),
            r
        );
        assert_eq!(manager_reachability(r, Some(Some(2 * t)), t), r);
        assert_eq!(
            manager_reachability(r, Some(Some(2 * t + Duration::from_millis(1))), t),
            Reachability::Unreachable
        );
        assert_eq!(manager_reachability(r, Some(None), t), Reachability::Unreachable);
        // Not the leader: no Raft view, the node status decides.
        assert_eq!(manager_reachability(r, None, t), r);
        assert_eq!(
            manager_reachability(Reachability::Unreachable, Some(Some(Duration::ZERO)), t),
            Reachability::Unreachable
        );
    }

    #[test]
    fn a_fatal_stop_is_an_error_unless_we_asked_for_it() {
        assert_eq!(Health::from_running(Ok(()), false), Health::Healthy);
        assert_eq!(Health::from_running(Err("x".into()), true), Health::Healthy);
        let h = Health::from_running(
            Err("No space left on device (os error 28)\ncaused by …".into()),
            false,
        );
        let e = h.error();
        assert!(
            e.contains("No space left on device") && !e.contains("caused by"),
            "{e}"
        );
        assert_eq!(Health::Healthy.error(), "");
        let long = Health::Stopped("y".repeat(10_000)).error();
        assert!(long.len() < 400, "{}", long.len());
    }

    #[test]
    fn a_follower_that_lost_its_leader_says_so() {
        let t = Duration::from_millis(500);
        let ok = |silence| Health::assess(Ok(()), false, silence, t);
        assert_eq!(ok(None), Health::Healthy);
        assert_eq!(ok(Some(2 * t)), Health::Healthy);
        let lost = ok(Some(Duration::from_millis(3200)));
        assert_eq!(lost, Health::LeaderUnreachable(Duration::from_millis(3200)));
        assert!(
            lost.error().contains("3.2s") && lost.error().contains("quorum"),
            "{}",
            lost.error()
        );
        // A stopped replica reports its storage, whatever the leader does.
        assert!(matches!(
            Health::assess(Err("disk".into()), false, Some(10 * t), t),
            Health::Stopped(_)
        ));
        assert_eq!(Health::assess(Ok(()), true, Some(10 * t), t), Health::Healthy);
    }
}
