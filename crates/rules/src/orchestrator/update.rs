//! Rolling updates and rollbacks: replace tasks whose spec differs from the service's, a
//! batch at a time, watching the new tasks for failure.
//!
//! ```text
//!  dirty slot ─stop-first─► old: desired SHUTDOWN, new: desired READY ─(old stopped)─► new RUNNING
//!             ─start-first► new: desired RUNNING ─(new running)─► old: desired SHUTDOWN
//!  failures ÷ slots > max ratio ─► pause | rollback (swap to the previous spec) | continue
//!  nothing dirty or in flight, new tasks past the monitor window ─► completed
//!                                                (a new service's first rollout ─► no status)
//!  dirty slots and no status (an update reset a paused one) ─► updating
//! ```

use std::sync::Arc;

use state::{NewTask, State};
use types::{
    FailureAction, Service, Task, TaskState, Timestamp, UpdateConfig, UpdateOrder, UpdateState, UpdateStatus,
    service::DEFAULT_MONITOR_NANOS,
};

use super::slots::{Slot, SlotKey, dead, on_invalid_node};
use super::{Inputs, Plan};

/// True if the task runs a different spec than the service asks for now.
pub fn dirty(service: &Service, task: &Task) -> bool {
    !Arc::ptr_eq(&task.spec, &service.spec.task) && *task.spec != *service.spec.task
}

/// Finishes slot hand-overs, then advances an update in progress.
pub fn reconcile(
    state: &State,
    service: &Service,
    active: &[&Slot],
    inputs: &mut Inputs<'_>,
    plan: &mut Plan,
) {
    for slot in active {
        hand_over(state, slot, plan);
    }
    let started_here;
    let status = match &service.update_status {
        Some(status) => status,
        // As Swarm's updater: tasks on an old spec with no update under way (an update reset
        // the status of a paused one) start one now.
        None if service.previous_spec.is_some()
            && active
                .iter()
                .any(|s| s.current().is_some_and(|t| dirty(service, t))) =>
        {
            started_here = start(service, inputs.now, plan);
            &started_here
        }
        None => return,
    };
    let rolling_back = match status.state {
        UpdateState::Updating => false,
        UpdateState::RollbackStarted => true,
        _ => return,
    };
    let config = if rolling_back {
        service.spec.rollback
    } else {
        service.spec.update
    }
    .unwrap_or_default();
    let started = status.started_at.unwrap_or(Timestamp(0));
    // A service whose spec never changed (its first rollout) has no task on another spec:
    // nothing to compare, nothing to replace, only the new tasks to watch.
    let first_rollout = service.previous_spec.is_none();
    let is_dirty = |t: &Task| !first_rollout && dirty(service, t);
    let is_new = |t: &Task| !is_dirty(t) && t.meta.created_at >= started;
    let job = service.spec.mode.is_job();

    // One walk over the slots gathers what this pass decides on: every status report of a
    // rollout brings a pass, so a 100k-replica rollout must not walk its tasks once per
    // question (nor per planned task, as a lookup in the plan's list once did).
    let mut failed = 0usize;
    let mut first_failed: Option<&Arc<Task>> = None;
    let mut in_flight = 0usize;
    let mut last_running: Option<Timestamp> = None;
    let mut dirty_slots: Vec<&Slot> = Vec::new();
    for slot in active {
        let mut runnable = 0usize;
        for t in &slot.tasks {
            let new = is_new(t);
            // Tasks of this update that failed or ended early count against it.
            if new
                && dead(t)
                && !(job && t.status.state == TaskState::Complete)
                && t.status.state != TaskState::Shutdown
            {
                failed += 1;
                first_failed.get_or_insert(t);
            }
            if new && t.status.state >= TaskState::Running {
                last_running = last_running.max(Some(t.status.timestamp));
            }
            if super::slots::runnable(t) {
                runnable += 1;
            }
        }
        let current = slot.current();
        if runnable > 1
            || current.is_some_and(|t| is_new(t) && !dead(t) && t.status.state < TaskState::Running)
        {
            in_flight += 1;
        }
        if current.is_some_and(|t| is_dirty(t)) {
            dirty_slots.push(slot);
        }
    }
    if let Some(first) = first_failed
        && failed as f64 / active.len().max(1) as f64 > f64::from(config.max_failure_ratio)
    {
        match config.failure_action {
            FailureAction::Pause => return pause(service, rolling_back, &first.id, inputs.now, plan),
            FailureAction::Rollback if !rolling_back => {
                return rollback(state, service, &first.id, inputs.now, plan);
            }
            FailureAction::Rollback | FailureAction::Continue => {}
        }
    }

    // A slot this pass already gave a new task (a restart, a move off a lost node) is not
    // replaced a second time: that would leave two new tasks in it.
    let planned = plan.creates_for(&service.id);
    // Tasks this pass creates (a new service's first, a scale-up's) are in flight too.
    let creating = !planned.is_empty();
    if !dirty_slots.is_empty() {
        let slots: std::collections::HashSet<u64> = planned.iter().map(|t| t.slot).collect();
        let nodes: std::collections::HashSet<&str> = planned.iter().map(|t| t.node_id.as_str()).collect();
        dirty_slots.retain(|s| match &s.key {
            SlotKey::Number(n) => !slots.contains(n),
            SlotKey::Node(node) => !nodes.contains(node.as_str()),
        });
    }
    if dirty_slots.is_empty() {
        if in_flight == 0 && !creating && monitored(&config, inputs.now, last_running) {
            complete(service, rolling_back, inputs.now, plan);
        }
        return;
    }
    let parallelism = if config.parallelism == 0 {
        usize::MAX
    } else {
        config.parallelism as usize
    };
    if in_flight >= parallelism || (in_flight > 0 && parallelism == usize::MAX) {
        return;
    }
    if in_flight == 0 && !delay_over(&config, inputs.now, last_running) {
        return;
    }
    for slot in dirty_slots.into_iter().take(parallelism - in_flight) {
        replace(state, service, slot, &config, inputs, plan);
    }
}

/// Completes a hand-over between a slot's old task and its new one.
fn hand_over(state: &State, slot: &Slot, plan: &mut Plan) {
    let Some(new) = slot.current() else { return };
    match new.desired_state {
        // Start-first: old tasks go once the new one runs (or cannot).
        TaskState::Running | TaskState::Complete if new.status.state >= TaskState::Running => {
            for old in slot.runnable().filter(|t| t.id != new.id) {
                plan.desire(old, TaskState::Shutdown);
            }
        }
        // Stop-first: the new task may start once every other task of the slot has stopped.
        TaskState::Ready => {
            let stopped = slot
                .tasks
                .iter()
                .filter(|o| o.id != new.id)
                .all(|o| dead(o) || o.status.state < TaskState::Assigned || on_invalid_node(state, o));
            if stopped {
                plan.desire(new, TaskState::Running);
            }
        }
        _ => {}
    }
}

fn replace(
    state: &State,
    service: &Service,
    slot: &Slot,
    config: &UpdateConfig,
    inputs: &mut Inputs<'_>,
    plan: &mut Plan,
) {
    let Some(old) = slot.current() else { return };
    let node_id = if let SlotKey::Node(n) = &slot.key {
        n.clone()
    } else {
        String::new()
    };
    let desired_running = if service.spec.mode.is_job() {
        TaskState::Complete
    } else {
        TaskState::Running
    };
    let stopped = |t: &Task| dead(t) || on_invalid_node(state, t) || t.status.state < TaskState::Assigned;
    let gone = stopped(old);
    // Stop-first waits for every task of the slot, not only the current one: one told to
    // stop by an earlier update may still run.
    let desired = match config.order {
        UpdateOrder::StartFirst => desired_running,
        UpdateOrder::StopFirst if slot.tasks.iter().all(|t| stopped(t)) => desired_running,
        UpdateOrder::StopFirst => TaskState::Ready,
    };
    // The slot's other tasks go now too (left by an earlier update still in flight): only
    // the one serving until the new task runs stays, under start-first. Otherwise a slot
    // would run three tasks, or a stop-first hand-over would wait on one nobody stops.
    let serving = match (config.order, gone) {
        (UpdateOrder::StartFirst, false) => slot
            .runnable()
            .filter(|t| t.status.state == TaskState::Running && !on_invalid_node(state, t))
            .last()
            .or(Some(old)),
        _ => None,
    };
    for t in slot.runnable() {
        if serving.is_none_or(|s| s.id != t.id) {
            plan.desire(t, TaskState::Shutdown);
        }
    }
    plan.create(
        service,
        NewTask {
            id: (inputs.ids)(),
            slot: old.slot,
            node_id,
            desired_state: desired,
            job_iteration: old.job_iteration,
        },
    );
}

/// True once the update's delay passed since a task of it last reached RUNNING.
fn delay_over(config: &UpdateConfig, now: Timestamp, last_running: Option<Timestamp>) -> bool {
    match last_running {
        Some(t) => now >= t.plus_nanos(config.delay),
        None => true,
    }
}

/// True once the monitor window passed since a task of the update last reached RUNNING.
fn monitored(config: &UpdateConfig, now: Timestamp, last_running: Option<Timestamp>) -> bool {
    let monitor = if config.monitor > 0 {
        config.monitor
    } else {
        DEFAULT_MONITOR_NANOS
    };
    match last_running {
        Some(t) => now >= t.plus_nanos(monitor),
        None => true,
    }
}

fn with_status(service: &Service, plan: &Plan) -> Service {
    plan.service(&service.id)
        .cloned()
        .unwrap_or_else(|| service.clone())
}

fn pause(service: &Service, rolling_back: bool, task: &str, now: Timestamp, plan: &mut Plan) {
    let mut next = with_status(service, plan);
    let (state, what) = if rolling_back {
        (UpdateState::RollbackPaused, "rollback")
    } else {
        (UpdateState::Paused, "update")
    };
    next.update_status = Some(UpdateStatus {
        state,
        started_at: service.update_status.as_ref().and_then(|s| s.started_at),
        completed_at: None,
        message: format!("{what} paused due to failure or early termination of task {task}"),
    });
    let _ = now;
    plan.update_service(next);
}

/// Marks an update as started (`updating`) and returns its status.
fn start(service: &Service, now: Timestamp, plan: &mut Plan) -> UpdateStatus {
    let mut next = with_status(service, plan);
    let status = UpdateStatus {
        state: UpdateState::Updating,
        started_at: Some(now),
        completed_at: None,
        message: "update in progress".into(),
    };
    next.update_status = Some(status.clone());
    plan.update_service(next);
    status
}

fn rollback(state: &State, service: &Service, task: &str, now: Timestamp, plan: &mut Plan) {
    let Some(previous) = service.previous_spec.clone() else {
        return pause(service, false, task, now, plan);
    };
    // What this pass planned for the old spec (a restart, a hand-over) is planned again
    // under the rolled-back one.
    plan.forget_tasks(&service.id);
    let mut next = with_status(service, plan);
    next.previous_spec = Some(next.spec.clone());
    next.spec = previous;
    next.spec_version += 1;
    // The spec changes: clients that read the old one are out of sequence from here on
    // (this write commits above the index the plan read).
    next.spec_changed_at = state.index + 1;
    next.update_status = Some(UpdateStatus {
        state: UpdateState::RollbackStarted,
        started_at: Some(now),
        completed_at: None,
        message: format!("update rolled back due to failure or early termination of task {task}"),
    });
    plan.update_service(next);
}

fn complete(service: &Service, rolling_back: bool, now: Timestamp, plan: &mut Plan) {
    let mut next = with_status(service, plan);
    if !rolling_back && service.previous_spec.is_none() {
        // The first rollout of a new service: Swarm shows no update status for it.
        next.update_status = None;
        plan.update_service(next);
        return;
    }
    let (state, message) = if rolling_back {
        (UpdateState::RollbackCompleted, "rollback completed")
    } else {
        (UpdateState::Completed, "update completed")
    };
    next.update_status = Some(UpdateStatus {
        state,
        started_at: service.update_status.as_ref().and_then(|s| s.started_at),
        completed_at: Some(now),
        message: message.into(),
    });
    plan.update_service(next);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orchestrator::fixtures::World;
    use types::UpdateConfig;

    /// Plays scheduler and agents, then the orchestrator, until nothing changes.
    fn converge(w: &mut World) {
        for _ in 0..20 {
            w.place_all_round_robin();
            w.run_all();
            let plan = w.reconcile();
            if plan.is_empty() {
                return;
            }
            w.apply(plan);
        }
    }

    #[test]
    fn updates_two_at_a_time_and_completes() {
        let mut w = World::new().nodes(&["n1", "n2", "n3"]).replicated("web", 4);
        w.update_service("web", |s| {
            s.update = Some(UpdateConfig {
                parallelism: 2,
                monitor: 1,
                ..Default::default()
            })
        });
        converge(&mut w);
        w.update_service("web", |s| {
            std::sync::Arc::make_mut(&mut s.task).container.image = "busybox:2".into()
        });
        let plan = w.reconcile();
        assert_eq!(plan.created(), 2, "parallelism 2");
        w.apply(plan);
        converge(&mut w);
        w.advance_secs(1);
        converge(&mut w);
        let s = w.state.service_by_name("web").unwrap().clone();
        assert_eq!(s.update_status.as_ref().unwrap().state, UpdateState::Completed);
        let running = w.runnable_tasks("web");
        assert_eq!(running.len(), 4);
        assert!(running.iter().all(|t| t.spec.container.image == "busybox:2"));
    }

    #[test]
    fn a_failing_update_rolls_back() {
        let mut w = World::new().nodes(&["n1", "n2"]).replicated("web", 2);
        w.update_service("web", |s| {
            s.update = Some(UpdateConfig {
                parallelism: 1,
                failure_action: FailureAction::Rollback,
                ..Default::default()
            })
        });
        converge(&mut w);
        w.update_service("web", |s| {
            std::sync::Arc::make_mut(&mut s.task).container.image = "broken:latest".into()
        });
        // Stop-first: the old task stops, then the new one is allowed to start, and fails.
        for _ in 0..3 {
            let plan = w.reconcile();
            w.apply(plan);
            w.place_all_round_robin();
            w.run_all();
        }
        w.fail_where(|t| t.spec.container.image == "broken:latest");
        let plan = w.reconcile();
        w.apply(plan);
        let s = w.state.service_by_name("web").unwrap().clone();
        assert_eq!(
            s.update_status.as_ref().unwrap().state,
            UpdateState::RollbackStarted
        );
        assert_eq!(s.spec.task.container.image, "busybox:latest");
    }

    fn status(w: &World, name: &str) -> Option<UpdateState> {
        let s = w.state.service_by_name(name).unwrap();
        s.update_status.as_ref().map(|u| u.state)
    }

    #[test]
    fn a_new_service_is_watched_until_stable_then_shows_no_status() {
        let mut w = World::new().nodes(&["n1", "n2"]).created("web", 2);
        assert_eq!(status(&w, "web"), Some(UpdateState::Updating));
        converge(&mut w);
        assert_eq!(
            status(&w, "web"),
            Some(UpdateState::Updating),
            "inside the monitor window"
        );
        w.advance_secs(6);
        converge(&mut w);
        assert_eq!(
            status(&w, "web"),
            None,
            "Swarm shows no status for a first rollout"
        );
    }

    #[test]
    fn a_crash_looping_new_service_pauses_with_the_reason() {
        let mut w = World::new().nodes(&["n1"]).created("web", 1);
        let plan = w.reconcile();
        w.apply(plan);
        w.place_all_round_robin();
        w.fail_all(1);
        let failed = w.state.tasks().next().unwrap().id.clone();
        let plan = w.reconcile();
        w.apply(plan);
        let s = w.state.service_by_name("web").unwrap().clone();
        let u = s.update_status.as_ref().unwrap();
        assert_eq!(u.state, UpdateState::Paused);
        assert_eq!(
            u.message,
            format!("update paused due to failure or early termination of task {failed}")
        );
    }

    #[test]
    fn a_scale_after_an_update_clears_the_status_and_replaces_nothing() {
        let mut w = World::new().nodes(&["n1", "n2"]).replicated("web", 2);
        converge(&mut w);
        w.update_service("web", |s| {
            std::sync::Arc::make_mut(&mut s.task).container.image = "busybox:2".into()
        });
        converge(&mut w);
        w.advance_secs(6);
        converge(&mut w);
        assert_eq!(status(&w, "web"), Some(UpdateState::Completed));
        let before: Vec<String> = w.runnable_tasks("web").iter().map(|t| t.id.clone()).collect();
        w.set_replicas("web", 3);
        assert_eq!(
            status(&w, "web"),
            None,
            "a stale `completed` would end the next wait at once"
        );
        converge(&mut w);
        let after: Vec<String> = w.runnable_tasks("web").iter().map(|t| t.id.clone()).collect();
        assert_eq!(after.len(), 3);
        assert!(
            before.iter().all(|id| after.contains(id)),
            "{before:?} kept in {after:?}"
        );
        assert_eq!(status(&w, "web"), None, "a scale is not an update");
    }

    #[test]
    fn an_update_that_clears_a_paused_status_resumes_the_rollout() {
        let mut w = World::new().nodes(&["n1", "n2"]).replicated("web", 3);
        w.update_service("web", |s| {
            s.update = Some(UpdateConfig {
                parallelism: 1,
                ..Default::default()
            })
        });
        converge(&mut w);
        w.update_service("web", |s| {
            std::sync::Arc::make_mut(&mut s.task).container.image = "broken:latest".into()
        });
        let broken = |t: &Task| t.spec.container.image == "broken:latest";
        // Until the first new task runs (stop-first: the old one stops, then it starts).
        for _ in 0..5 {
            let plan = w.reconcile();
            w.apply(plan);
            w.place_all_round_robin();
            w.run_all();
            if w.state
                .tasks()
                .any(|t| broken(t) && t.status.state == TaskState::Running)
            {
                break;
            }
        }
        w.fail_where(broken);
        let plan = w.reconcile();
        w.apply(plan);
        assert_eq!(status(&w, "web"), Some(UpdateState::Paused));
        let old = w.runnable_tasks("web").iter().filter(|t| !broken(t)).count();
        assert_eq!(old, 2, "the pause left two slots on the old spec");
        // `service update` with no change (how Swarm users resume) resets the status; the
        // failure before it no longer counts against the resumed rollout.
        w.advance_secs(10);
        w.update_service("web", |_| {});
        assert_eq!(status(&w, "web"), None);
        let plan = w.reconcile();
        w.apply(plan);
        assert_eq!(status(&w, "web"), Some(UpdateState::Updating));
    }
}
