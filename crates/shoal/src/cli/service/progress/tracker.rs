//! The docker CLI's convergence wait as a pure state machine: fed one poll at a time (the
//! service, its up-to-date tasks, the nodes that are up, and a monotonic clock), it answers
//! with the lines to show and whether to keep waiting.
//!
//! ```text
//!            all tasks where they should be
//! waiting ───────────────────────────────────► stable-for-Monitor ──(Monitor elapsed)──► done
//!    ▲                                               │
//!    └──────────── a task left its state ◄───────────┘  ("Detected task failure")
//! UpdateStatus paused / rollback_paused at any time ──► failed with the daemon's message
//! UpdateStatus completed before convergence ─────────► done (the daemon says so)
//! ```

use std::collections::HashSet;
use std::time::Duration;

use api::model::{Service, Task};

use super::summary::summarise;

/// What to show: a key (`overall`, `verify`, `rollback`, or a slot label) and its text.
pub type Line = (String, String);

/// What the wait does after a poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Keep polling.
    Waiting,
    /// The service converged (and stayed so for the monitor period).
    Done,
    /// The update or rollback paused; the message is the command's error.
    Failed(String),
}

/// The state kept between polls.
#[derive(Debug, Clone)]
pub struct Tracker {
    service_id: String,
    /// When the tasks were last seen converged (None: not converged now).
    converged_at: Option<Duration>,
    /// Converged at the previous poll.
    converged: bool,
    /// The daemon is rolling back.
    rollback: bool,
    /// Shown after "converged" (a completed rollback's message).
    closing: Option<String>,
}

/// Docker's stability window when the spec sets none.
const DEFAULT_MONITOR: Duration = Duration::from_nanos(types::service::DEFAULT_MONITOR_NANOS as u64);

impl Tracker {
    /// A tracker for the service with this ID (shown in the final line).
    pub fn new(service_id: &str) -> Tracker {
        Tracker {
            service_id: service_id.to_string(),
            converged_at: None,
            converged: false,
            rollback: false,
            closing: None,
        }
    }

    /// One poll: `now` is any monotonic clock (time since the wait began, in tests made up).
    pub fn observe(
        &mut self,
        now: Duration,
        service: &Service,
        tasks: &[Task],
        active: &HashSet<String>,
    ) -> (Step, Vec<Line>) {
        let mut lines = Vec::new();
        let monitor = service
            .spec
            .update_config
            .as_ref()
            .filter(|c| c.monitor > 0)
            .map_or(DEFAULT_MONITOR, |c| {
                Duration::from_nanos(c.monitor.unsigned_abs())
            });
        if let Some(status) = &service.update_status {
            match status.state.as_str() {
                "updating" => self.rollback = false,
                // The daemon finished the update before the tasks looked converged to us.
                "completed" if !self.converged => return (Step::Done, lines),
                "paused" => {
                    return (
                        Step::Failed(format!("service update paused: {}", status.message)),
                        lines,
                    );
                }
                "rollback_started" => {
                    if !self.rollback && !status.message.is_empty() {
                        lines.push(line("rollback", &status.message));
                    }
                    self.rollback = true;
                }
                "rollback_paused" => {
                    return (
                        Step::Failed(format!("service rollback paused: {}", status.message)),
                        lines,
                    );
                }
                "rollback_completed" => {
                    if !self.converged {
                        self.closing = Some(status.message.clone());
                    }
                    self.rollback = true;
                }
                _ => {}
            }
        }
        if let Some(since) = self.converged_at.filter(|_| self.converged)
            && now.saturating_sub(since) >= monitor
        {
            lines.push(line("verify", &format!("Service {} converged", self.service_id)));
            if let Some(message) = self.closing.take().filter(|m| !m.is_empty()) {
                lines.push(line("rollback", &message));
            }
            return (Step::Done, lines);
        }
        let summary = summarise(service, tasks, active, self.rollback);
        lines.push(line("overall", &summary.overall));
        lines.extend(summary.slots);
        self.converged = summary.converged;
        if summary.converged && summary.job {
            // A finished job has nothing left to watch for.
            lines.push(line("verify", "job complete"));
            return (Step::Done, lines);
        }
        if summary.converged {
            let since = *self.converged_at.get_or_insert(now);
            let left = monitor.saturating_sub(now.saturating_sub(since));
            lines.push(line(
                "verify",
                &format!(
                    "Waiting {} seconds to verify that tasks are stable...",
                    left.as_secs() + 1
                ),
            ));
        } else if self.converged_at.take().is_some() {
            lines.push(line("verify", "Detected task failure"));
        }
        (Step::Waiting, lines)
    }
}

fn line(key: &str, text: &str) -> Line {
    (key.to_string(), text.to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use api::model::{ReplicatedService, TaskStatus, UpdateConfig, UpdateStatus};

    use super::*;

    fn task(slot: u64, state: &str) -> Task {
        Task {
            slot,
            node_id: "n1".into(),
            desired_state: "running".into(),
            status: TaskStatus {
                state: state.into(),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn service(replicas: u64, monitor_secs: i64) -> Service {
        let mut service = Service::default();
        service.spec.mode.replicated = Some(ReplicatedService {
            replicas: Some(replicas),
        });
        service.spec.update_config = Some(UpdateConfig {
            monitor: monitor_secs * 1_000_000_000,
            ..Default::default()
        });
        service
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn text(lines: &[Line], key: &str) -> Option<String> {
        lines.iter().find(|(k, _)| k == key).map(|(_, t)| t.clone())
    }

    /// A recorded sequence: starting, running, a crash during the window, running again,
    /// then stable for the whole window.
    #[test]
    fn waits_for_the_monitor_period_and_restarts_on_failure() {
        let active = HashSet::from(["n1".to_string()]);
        let svc = service(2, 2);
        let mut tracker = Tracker::new("svc1");
        let (step, lines) =
            tracker.observe(secs(0), &svc, &[task(1, "running"), task(2, "starting")], &active);
        assert_eq!(step, Step::Waiting);
        assert_eq!(
            text(&lines, "overall").unwrap(),
            "overall progress: 1 out of 2 tasks"
        );
        assert_eq!(text(&lines, "verify"), None);

        let running = [task(1, "running"), task(2, "running")];
        let (step, lines) = tracker.observe(secs(1), &svc, &running, &active);
        assert_eq!(step, Step::Waiting);
        assert_eq!(
            text(&lines, "verify").unwrap(),
            "Waiting 3 seconds to verify that tasks are stable..."
        );
        // Slot 2 crashed and its replacement is starting: the window starts over.
        let (step, lines) =
            tracker.observe(secs(2), &svc, &[task(1, "running"), task(2, "starting")], &active);
        assert_eq!(step, Step::Waiting);
        assert_eq!(text(&lines, "verify").unwrap(), "Detected task failure");
        let (_, lines) = tracker.observe(secs(3), &svc, &running, &active);
        assert_eq!(
            text(&lines, "verify").unwrap(),
            "Waiting 3 seconds to verify that tasks are stable..."
        );
        let (step, _) = tracker.observe(secs(4), &svc, &running, &active);
        assert_eq!(step, Step::Waiting, "only 1 s of the 2 s window has passed");
        let (step, lines) = tracker.observe(secs(5), &svc, &running, &active);
        assert_eq!(step, Step::Done);
        assert_eq!(text(&lines, "verify").unwrap(), "Service svc1 converged");
    }

    #[test]
    fn zero_replicas_converge_after_the_window() {
        let active = HashSet::new();
        let svc = service(0, 0);
        let mut tracker = Tracker::new("z");
        let (step, lines) = tracker.observe(secs(0), &svc, &[], &active);
        assert_eq!(step, Step::Waiting);
        assert_eq!(
            text(&lines, "overall").unwrap(),
            "overall progress: 0 out of 0 tasks"
        );
        // Monitor 0 in the spec means docker's default of 5 s.
        assert_eq!(tracker.observe(secs(4), &svc, &[], &active).0, Step::Waiting);
        assert_eq!(tracker.observe(secs(5), &svc, &[], &active).0, Step::Done);
    }

    #[test]
    fn paused_updates_fail_with_the_daemons_message() {
        let active = HashSet::from(["n1".to_string()]);
        let mut svc = service(1, 1);
        svc.update_status = Some(UpdateStatus {
            state: "paused".into(),
            message: "update paused due to failure or early termination of task abc".into(),
            ..Default::default()
        });
        let (step, _) = Tracker::new("p").observe(secs(0), &svc, &[task(1, "failed")], &active);
        assert_eq!(
            step,
            Step::Failed(
                "service update paused: update paused due to failure or early termination of task abc".into()
            )
        );
        svc.update_status.as_mut().unwrap().state = "rollback_paused".into();
        let (step, _) = Tracker::new("p").observe(secs(0), &svc, &[], &active);
        assert!(matches!(step, Step::Failed(m) if m.starts_with("service rollback paused: ")));
    }

    #[test]
    fn rollbacks_are_announced_and_completed_updates_end_the_wait() {
        let active = HashSet::from(["n1".to_string()]);
        let mut svc = service(1, 1);
        svc.update_status = Some(UpdateStatus {
            state: "rollback_started".into(),
            message: "update rolled back due to failure".into(),
            ..Default::default()
        });
        let mut tracker = Tracker::new("r");
        let (_, lines) = tracker.observe(secs(0), &svc, &[task(1, "starting")], &active);
        assert_eq!(
            text(&lines, "rollback").unwrap(),
            "update rolled back due to failure"
        );
        assert!(text(&lines, "overall").unwrap().contains("rolling back update"));
        // Announced once.
        let (_, lines) = tracker.observe(secs(1), &svc, &[task(1, "starting")], &active);
        assert_eq!(text(&lines, "rollback"), None);

        svc.update_status.as_mut().unwrap().state = "completed".into();
        let (step, _) = Tracker::new("c").observe(secs(0), &svc, &[task(1, "starting")], &active);
        assert_eq!(step, Step::Done);
    }
}
