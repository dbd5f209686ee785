//! Whether this manager's replica works, as `docker info` reports it (`Swarm.Error`).
//!
//! A replica whose storage failed (disk full, read-only, I/O error) has its Raft stopped:
//! it can no longer vote, append or apply. It still serves reads from what it holds and
//! forwards writes to the leader (see propose.rs), so the node stays useful, but it must not
//! look healthy: an operator has to learn that its disk needs attention.

use std::fmt;

/// Health of the local replica.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Raft runs.
    Healthy,
    /// Raft stopped; the reason as the storage reported it.
    Stopped(String),
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

    /// The `Swarm.Error` text; empty when healthy.
    pub fn error(&self) -> String {
        match self {
            Health::Healthy => String::new(),
            Health::Stopped(reason) => self.to_string_with(reason),
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
            "raft replica stopped (storage failure: {reason}); reads are served from local state and writes are forwarded to the leader"
        )
    }
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Health::Healthy => f.write_str("healthy"),
            Health::Stopped(_) => f.write_str(&self.error()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
