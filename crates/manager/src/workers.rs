//! Named background workers and their state, so an operator (or a test) can list what the
//! manager runs and how each loop fares: idle, busy, failing, or stopped (a leader-only loop
//! on a follower).
//!
//! ```text
//! loop ─ register("control-loop") ─► Worker ─ busy() … done(result) ─► Workers::list()
//!                                        └─ dropped ─► Stopped
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};

/// What a worker is doing now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerState {
    /// Waiting for its next event.
    Idle,
    /// In an iteration.
    Busy,
    /// Its last iteration failed (it keeps running; see `last_error`).
    Error,
    /// Not running: ended, or a leader-only worker on a replica that does not lead.
    Stopped,
}

impl fmt::Display for WorkerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WorkerState::Idle => "idle",
            WorkerState::Busy => "busy",
            WorkerState::Error => "error",
            WorkerState::Stopped => "stopped",
        })
    }
}

/// One worker's row in the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerStatus {
    /// Its name, unique within a manager.
    pub name: String,
    /// What it is doing.
    pub state: WorkerState,
    /// Iterations finished since the manager started (over every leadership term).
    pub iterations: u64,
    /// Iterations that failed.
    pub errors: u64,
    /// The last failure's message, kept after the worker recovers.
    pub last_error: Option<String>,
}

/// A row and the generation of the worker that owns it now.
struct Row {
    status: WorkerStatus,
    /// Bumped by every `register`, so a worker of an ended term that is still winding down
    /// cannot overwrite the row of its successor.
    generation: u64,
}

/// The registry of a manager's workers.
#[derive(Clone, Default)]
pub struct Workers {
    rows: Arc<Mutex<BTreeMap<String, Row>>>,
}

impl Workers {
    /// Registers (or, for a new leadership term, restarts) the worker `name`, idle.
    pub fn register(&self, name: &str) -> Worker {
        let mut rows = self.lock();
        let row = rows.entry(name.to_string()).or_insert_with(|| Row {
            status: WorkerStatus {
                name: name.to_string(),
                state: WorkerState::Idle,
                iterations: 0,
                errors: 0,
                last_error: None,
            },
            generation: 0,
        });
        row.status.state = WorkerState::Idle;
        row.generation += 1;
        Worker {
            name: name.to_string(),
            generation: row.generation,
            workers: self.clone(),
        }
    }

    /// Every worker registered so far, by name.
    pub fn list(&self) -> Vec<WorkerStatus> {
        self.lock().values().map(|r| r.status.clone()).collect()
    }

    /// One worker's row.
    pub fn get(&self, name: &str) -> Option<WorkerStatus> {
        self.lock().get(name).map(|r| r.status.clone())
    }

    fn update(&self, name: &str, generation: u64, f: impl FnOnce(&mut WorkerStatus)) {
        if let Some(row) = self.lock().get_mut(name)
            && row.generation == generation
        {
            f(&mut row.status);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Row>> {
        self.rows.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A running worker's handle on its row; dropping it marks the worker stopped.
pub struct Worker {
    name: String,
    generation: u64,
    workers: Workers,
}

impl Worker {
    /// An iteration starts.
    pub fn busy(&self) {
        self.workers
            .update(&self.name, self.generation, |r| r.state = WorkerState::Busy);
    }

    /// An iteration ended with `result`.
    pub fn done<E: fmt::Display>(&self, result: Result<(), E>) {
        self.workers.update(&self.name, self.generation, |r| {
            r.iterations += 1;
            match result {
                Ok(()) => r.state = WorkerState::Idle,
                Err(e) => {
                    r.state = WorkerState::Error;
                    r.errors += 1;
                    r.last_error = Some(e.to_string());
                }
            }
        });
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.workers
            .update(&self.name, self.generation, |r| r.state = WorkerState::Stopped);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_worker_reports_iterations_errors_and_stops_when_dropped() {
        let workers = Workers::default();
        let w = workers.register("control-loop");
        assert_eq!(workers.get("control-loop").unwrap().state, WorkerState::Idle);
        w.busy();
        assert_eq!(workers.get("control-loop").unwrap().state, WorkerState::Busy);
        w.done(Err("no leader"));
        let row = workers.get("control-loop").unwrap();
        assert_eq!(
            (row.state, row.iterations, row.errors, row.last_error.as_deref()),
            (WorkerState::Error, 1, 1, Some("no leader"))
        );
        w.done(Ok::<(), String>(()));
        let row = workers.get("control-loop").unwrap();
        assert_eq!((row.state, row.iterations, row.errors), (WorkerState::Idle, 2, 1));
        assert_eq!(
            row.last_error.as_deref(),
            Some("no leader"),
            "kept after recovery"
        );
        drop(w);
        assert_eq!(workers.get("control-loop").unwrap().state, WorkerState::Stopped);
        // A new term restarts the row and keeps its counts; the last term's worker, still
        // winding down, no longer writes it.
        let old = workers.register("control-loop");
        let new = workers.register("control-loop");
        old.busy();
        drop(old);
        let row = workers.get("control-loop").unwrap();
        assert_eq!((row.state, row.iterations), (WorkerState::Idle, 2));
        new.busy();
        assert_eq!(workers.get("control-loop").unwrap().state, WorkerState::Busy);
        let names: Vec<String> = workers.list().into_iter().map(|r| r.name).collect();
        assert_eq!(names, ["control-loop"]);
    }
}
