//! What a task runner does next, as pure functions (SwarmKit's `exec.Do`): [`next_step`] of
//! the task's observed and desired states, and [`settle`] of what the executor reported for
//! the operation. The runner (`mod.rs`) only performs the I/O they name.
//!
//! ```text
//!  (observed, desired) ──next_step──► Action ──runner: executor call──► Report
//!        ▲                                                                 │
//!        └───────────── settle(observed, action, report) ─► new state ◄────┘
//! ```

use types::TaskState;

/// The runner's next move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Nothing to do until the desired state changes.
    Pause,
    /// Record this state without calling the executor.
    Advance(TaskState),
    /// `Executor::prepare`.
    Prepare,
    /// `Executor::start`.
    Start,
    /// `Executor::wait` for the task to exit.
    Wait,
    /// `Executor::shutdown`.
    Shutdown,
    /// `Executor::remove`; the runner ends.
    Remove,
}

/// What the executor reported for an [`Action`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    /// It did it (for [`Action::Wait`]: the task exited cleanly).
    Done,
    /// It failed (for [`Action::Wait`]: the task exited non-zero, unhealthy or lost).
    Failed,
    /// It has no such task.
    NotFound,
}

/// The state a report leads to, and the status message: `None` keeps the previous message
/// (a failure, whose error then says why; Swarm's fatal path does the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settled {
    /// The new observed state.
    pub state: TaskState,
    /// The new status message, or `None` to keep the old one and record the error.
    pub message: Option<&'static str>,
}

/// The next move for a task observed in `observed` that the manager wants in `desired`.
///
/// States only move forward. A desired state of SHUTDOWN or later stops a task that has not
/// finished and, at REMOVE, removes it; otherwise the task steps towards `desired` and holds
/// there (desired READY keeps a restarted task at READY through its restart delay). The
/// executor's own steps (prepare, start, wait) run even when `observed` equals `desired`: a
/// task observed PREPARING is mid-prepare, whatever the manager last asked.
pub fn next_step(observed: TaskState, desired: TaskState) -> Action {
    use TaskState::*;
    if desired >= Shutdown {
        return if observed < Complete {
            Action::Shutdown
        } else if desired >= Remove {
            Action::Remove
        } else {
            Action::Pause
        };
    }
    if observed > desired {
        return Action::Pause;
    }
    match observed {
        Preparing => Action::Prepare,
        Starting => Action::Start,
        Running => Action::Wait,
        _ if observed >= desired => Action::Pause,
        New | Pending | Assigned => Action::Advance(Accepted),
        Accepted => Action::Advance(Preparing),
        Ready => Action::Advance(Starting),
        _ => Action::Pause,
    }
}

/// Where `action`, taken in `observed`, leads once the executor reported `report`.
///
/// A failure is REJECTED before STARTING and FAILED from STARTING on (Swarm's rule); a
/// shutdown of a task the executor never had is a shutdown all the same.
pub fn settle(observed: TaskState, action: Action, report: Report) -> Settled {
    use TaskState::*;
    let to = |state, message| Settled {
        state,
        message: Some(message),
    };
    match (action, report) {
        (Action::Advance(state), _) => to(state, advance_message(state)),
        (Action::Prepare, Report::Done) => to(Ready, "prepared"),
        (Action::Start, Report::Done) => to(Running, "started"),
        (Action::Wait, Report::Done) => to(Complete, "finished"),
        (Action::Shutdown, Report::Done | Report::NotFound) => to(Shutdown, "shutdown"),
        // A task that exited on its own failed, whenever it started.
        (Action::Wait, Report::Failed | Report::NotFound) => Settled {
            state: Failed,
            message: None,
        },
        _ => Settled {
            state: if observed < Starting { Rejected } else { Failed },
            message: None,
        },
    }
}

fn advance_message(state: TaskState) -> &'static str {
    match state {
        TaskState::Accepted => "accepted",
        TaskState::Preparing => "preparing",
        TaskState::Starting => "starting",
        other => other.as_str(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TaskState::*;

    const ALL: [TaskState; 14] = [
        New, Pending, Assigned, Accepted, Preparing, Ready, Starting, Running, Complete, Shutdown, Failed,
        Rejected, Remove, Orphaned,
    ];

    fn short(action: Action) -> String {
        match action {
            Action::Pause => ".".into(),
            Action::Advance(s) => format!(">{}", &s.as_str()[..3]),
            Action::Prepare => "prep".into(),
            Action::Start => "start".into(),
            Action::Wait => "wait".into(),
            Action::Shutdown => "stop".into(),
            Action::Remove => "rm".into(),
        }
    }

    /// Every (observed, desired) pair: one row per observed state, one column per desired
    /// state in `ALL`'s order (new … orphaned). `.` pauses, `>acc` records ACCEPTED, `prep`,
    /// `start`, `wait`, `stop`, `rm` call the executor. A task not yet finished is stopped
    /// before it is removed (`stop` under REMOVE; the step after is `rm`).
    const TABLE: &str = "
new        .     >acc  >acc  >acc  >acc  >acc  >acc  >acc  >acc  stop  stop  stop  stop  stop
pending    .     .     >acc  >acc  >acc  >acc  >acc  >acc  >acc  stop  stop  stop  stop  stop
assigned   .     .     .     >acc  >acc  >acc  >acc  >acc  >acc  stop  stop  stop  stop  stop
accepted   .     .     .     .     >pre  >pre  >pre  >pre  >pre  stop  stop  stop  stop  stop
preparing  .     .     .     .     prep  prep  prep  prep  prep  stop  stop  stop  stop  stop
ready      .     .     .     .     .     .     >sta  >sta  >sta  stop  stop  stop  stop  stop
starting   .     .     .     .     .     .     start start start stop  stop  stop  stop  stop
running    .     .     .     .     .     .     .     wait  wait  stop  stop  stop  stop  stop
complete   .     .     .     .     .     .     .     .     .     .     .     .     rm    rm
shutdown   .     .     .     .     .     .     .     .     .     .     .     .     rm    rm
failed     .     .     .     .     .     .     .     .     .     .     .     .     rm    rm
rejected   .     .     .     .     .     .     .     .     .     .     .     .     rm    rm
remove     .     .     .     .     .     .     .     .     .     .     .     .     rm    rm
orphaned   .     .     .     .     .     .     .     .     .     .     .     .     rm    rm
";

    #[test]
    fn next_step_over_every_observed_and_desired_state() {
        let rows: Vec<&str> = TABLE.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(rows.len(), ALL.len());
        for (row, observed) in rows.iter().zip(ALL) {
            let cells: Vec<&str> = row.split_whitespace().collect();
            assert_eq!(cells[0], observed.as_str());
            assert_eq!(cells.len(), ALL.len() + 1, "row {}", observed.as_str());
            for (cell, desired) in cells[1..].iter().zip(ALL) {
                let got = short(next_step(observed, desired));
                assert_eq!(got, *cell, "observed {observed:?}, desired {desired:?}");
            }
        }
    }

    #[test]
    fn steps_only_move_forward() {
        for observed in ALL {
            for desired in ALL {
                let action = next_step(observed, desired);
                if let Action::Advance(to) = action {
                    assert!(to > observed, "{observed:?} -> {to:?} for {desired:?}");
                }
                for report in [Report::Done, Report::Failed, Report::NotFound] {
                    if matches!(action, Action::Pause | Action::Remove) {
                        continue;
                    }
                    let settled = settle(observed, action, report);
                    assert!(
                        settled.state > observed,
                        "{observed:?} {action:?} {report:?} -> {settled:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn what_the_executor_reported_decides_the_state() {
        let cases = [
            (Preparing, Action::Prepare, Report::Done, Ready, Some("prepared")),
            (Preparing, Action::Prepare, Report::Failed, Rejected, None),
            (Starting, Action::Start, Report::Done, Running, Some("started")),
            (Starting, Action::Start, Report::Failed, Failed, None),
            (Running, Action::Wait, Report::Done, Complete, Some("finished")),
            (Running, Action::Wait, Report::Failed, Failed, None),
            (
                Accepted,
                Action::Shutdown,
                Report::Done,
                Shutdown,
                Some("shutdown"),
            ),
            (
                Running,
                Action::Shutdown,
                Report::NotFound,
                Shutdown,
                Some("shutdown"),
            ),
            (Ready, Action::Shutdown, Report::Failed, Rejected, None),
            (Starting, Action::Shutdown, Report::Failed, Failed, None),
            (
                New,
                Action::Advance(Accepted),
                Report::Done,
                Accepted,
                Some("accepted"),
            ),
            (
                Accepted,
                Action::Advance(Preparing),
                Report::Done,
                Preparing,
                Some("preparing"),
            ),
            (
                Ready,
                Action::Advance(Starting),
                Report::Done,
                Starting,
                Some("starting"),
            ),
        ];
        for (observed, action, report, state, message) in cases {
            assert_eq!(
                settle(observed, action, report),
                Settled { state, message },
                "{observed:?} {action:?} {report:?}"
            );
        }
    }
}
