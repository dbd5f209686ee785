//! Test support: the leader's reconcilers run to a fixed point over an in-memory state, with
//! agents that do at once what they are told. Tests of the layers above the rules (the API
//! edge with a fake daemon) converge through the real orchestrator, allocator and scheduler
//! instead of a simulation of their own.
//!
//! ```text
//! repeat until a round changes nothing (at most MAX_ROUNDS):
//!   orchestrator ─► allocator ─► scheduler ─► agents (assigned → running → complete for
//!                                                    jobs; told to stop → shutdown)
//!   nothing changed, but a rolling update waits on its clock (delay, monitor)?
//!     → the clock moves one second and the rounds go on (at most MAX_WAIT_SECS)
//! ```

use state::{Op, State, TaskChange, TaskUpdate, Txn};
use types::{ContainerStatus, Task, TaskState, TaskStatus, Timestamp, UpdateState};

use crate::{allocator, orchestrator, scheduler};

/// Rounds before giving up: a state that still changes after this many is a reconciler that
/// never settles, which is what the caller's test should see.
pub const MAX_ROUNDS: usize = 50;

/// Simulated seconds the clock may move while rolling updates wait (update delay, monitor
/// period); an update still running after that is stuck, not waiting.
pub const MAX_WAIT_SECS: i64 = 3600;

/// An in-memory store the reconcilers settle.
pub struct Settler<'a> {
    /// The state; replaced by every commit.
    pub state: &'a mut State,
    /// Time stamped on every transaction and status; moved on while updates wait.
    pub now: Timestamp,
    /// New task IDs.
    pub ids: &'a mut dyn FnMut() -> String,
}

impl Settler<'_> {
    fn commit(&mut self, ops: Vec<Op>) -> Result<bool, String> {
        if ops.is_empty() {
            return Ok(false);
        }
        let txn = Txn {
            id: 0,
            ops,
            now: self.now,
        };
        let (next, _) = self
            .state
            .apply(&txn, self.state.index + 1)
            .map_err(|e| format!("store refused a reconciler's transaction: {e}"))?;
        *self.state = next;
        Ok(true)
    }

    /// One pass of each reconciler and of the agents; true if anything changed.
    fn round(&mut self) -> Result<bool, String> {
        let mut changed = false;
        let plan = {
            let mut inputs = orchestrator::Inputs {
                now: self.now,
                ids: &mut *self.ids,
                parsed: Default::default(),
            };
            orchestrator::reconcile(self.state, None, &mut inputs)
        };
        for ops in plan.into_txns() {
            changed |= self.commit(ops)?;
        }
        let allocation = allocator::allocate(self.state);
        changed |= self.commit(allocation)?;
        let decisions = scheduler::schedule_with(self.state, &scheduler::Inputs::default());
        changed |= self.commit(scheduler::to_ops(&decisions))?;
        let agents = self.agents();
        changed |= self.commit(agents)?;
        Ok(changed)
    }

    /// What agents report: each task one step towards what it is told.
    fn agents(&self) -> Vec<Op> {
        let updates: Vec<TaskUpdate> = self
            .state
            .tasks()
            .filter_map(|t| {
                let next = agent_step(t)?;
                Some(TaskUpdate {
                    id: t.id.clone(),
                    change: TaskChange::Status(TaskStatus {
                        timestamp: self.now,
                        state: next,
                        message: message(next).into(),
                        err: String::new(),
                        container: Some(container(t, next)),
                    }),
                })
            })
            .collect();
        if updates.is_empty() {
            Vec::new()
        } else {
            vec![Op::UpdateTasks(updates)]
        }
    }

    /// Runs rounds until one changes nothing and no update waits on the clock.
    pub fn settle(&mut self) -> Result<(), String> {
        let mut waited = 0;
        loop {
            let mut settled = false;
            for _ in 0..MAX_ROUNDS {
                if !self.round()? {
                    settled = true;
                    break;
                }
            }
            if !settled {
                return Err(format!("the reconcilers did not settle in {MAX_ROUNDS} rounds"));
            }
            if !self.updating() {
                return Ok(());
            }
            if waited >= MAX_WAIT_SECS {
                return Err(format!(
                    "a rolling update still runs after {MAX_WAIT_SECS} simulated seconds"
                ));
            }
            waited += 1;
            self.now = self.now.plus_nanos(1_000_000_000);
        }
    }

    /// A service's rolling update (or rollback) is under way and waits on the clock. One with
    /// a task still pending once the rounds settled waits for a node that fits it (resources,
    /// constraints): the clock cannot move that on, and a real cluster stays so too. One whose
    /// delay or monitor period is longer than the clock may move waits longer than any test:
    /// a real cluster would still be waiting, so it is left under way, not called stuck.
    fn updating(&self) -> bool {
        self.state.services().any(|s| {
            let rolling_back = match s.update_status.as_ref().map(|u| u.state) {
                Some(UpdateState::Updating) => false,
                Some(UpdateState::RollbackStarted) => true,
                _ => return false,
            };
            let config = if rolling_back {
                s.spec.rollback
            } else {
                s.spec.update
            }
            .unwrap_or_default();
            let longest_wait = config.delay.max(config.monitor);
            longest_wait <= MAX_WAIT_SECS.saturating_mul(1_000_000_000)
                && !self
                    .state
                    .tasks_of_service(&s.id)
                    .any(|t| t.status.state == TaskState::Pending && t.desired_state == TaskState::Running)
        })
    }
}

/// The state an instant agent reports next for `task`, if any.
fn agent_step(task: &Task) -> Option<TaskState> {
    let observed = task.status.state;
    if observed.is_terminal() || observed < TaskState::Assigned {
        return None;
    }
    match task.desired_state {
        d if d >= TaskState::Shutdown => Some(TaskState::Shutdown),
        TaskState::Running if observed < TaskState::Running => Some(TaskState::Running),
        // A job's task runs, then finishes with exit code 0.
        TaskState::Complete if observed < TaskState::Running => Some(TaskState::Running),
        TaskState::Complete => Some(TaskState::Complete),
        _ => None,
    }
}

fn message(state: TaskState) -> &'static str {
    match state {
        TaskState::Running => "started",
        TaskState::Complete => "finished",
        _ => "shutdown",
    }
}

/// A container status derived from the task ID, so the same task always shows the same one.
fn container(task: &Task, state: TaskState) -> ContainerStatus {
    let id: String = task.id.bytes().map(|b| format!("{b:02x}")).collect();
    ContainerStatus {
        container_id: format!("{id:0<64.64}"),
        pid: if state == TaskState::Running { 4242 } else { 0 },
        exit_code: (state == TaskState::Complete).then_some(0),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::orchestrator::fixtures::World;

    fn settle(w: &mut World) {
        let mut n = 0;
        let mut ids = || {
            n += 1;
            format!("t{n:04}")
        };
        Settler {
            state: &mut w.state,
            now: w.now,
            ids: &mut ids,
        }
        .settle()
        .unwrap();
    }

    fn running(w: &World) -> Vec<Arc<Task>> {
        w.state
            .tasks()
            .filter(|t| t.status.state == TaskState::Running)
            .cloned()
            .collect()
    }

    #[test]
    fn a_service_settles_running_on_ready_nodes_then_scales_down() {
        let mut w = World::new().nodes(&["n1", "n2"]).created("web", 3);
        settle(&mut w);
        let up = running(&w);
        assert_eq!(up.len(), 3);
        assert!(up.iter().all(|t| t.node_id == "n1" || t.node_id == "n2"));

        w.set_replicas("web", 1);
        settle(&mut w);
        assert_eq!(running(&w).len(), 1);
        assert!(
            w.state
                .tasks()
                .all(|t| t.status.state == TaskState::Running || t.status.state == TaskState::Shutdown)
        );
    }
}
