//! The leader's control loop: on every store change (debounced) and on a short tick, run the
//! reconcilers in data-flow order and commit what they plan.
//!
//! ```text
//! watch/tick ─► liveness (nodes down) ─► roles (demotions) ─► orchestrator (tasks, updates,
//!   reaper) ─► allocator (NEW→PENDING) ─► scheduler (PENDING→ASSIGNED) ─► commit each step
//! ```
//! Each step reads a fresh view, so a step sees what the one before it committed.
//!
//! A pass looks only at what changed since the last one — the services and tasks the
//! commits touched — so its cost follows the churn, not the cluster's size. Node changes,
//! lagged watches and a one-second timer force a full pass (new nodes fit pending tasks;
//! restart and update delays are time-based).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use store::consensus::Consensus;
use store::{Change, Commit, Op, State, WatchEvent};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use types::{Clock, Object, Service, TaskState, UpdateState};

use crate::dispatcher::liveness::{Liveness, heartbeat_period, mark_down};
use crate::ids::Ids;
use crate::logbroker::LogBroker;
use crate::membership::Membership;
use crate::propose::Proposer;
use crate::roles::{RoleAction, plan as plan_roles};
use crate::workers::Worker;
use crate::{Error, Result, allocator, orchestrator, scheduler};

/// How long to wait for more changes before reconciling (Swarm's scheduler uses 50 ms).
const DEBOUNCE: Duration = Duration::from_millis(20);
/// Reconcile at least this often, for time-based decisions (restart delays, heartbeats).
const TICK: Duration = Duration::from_millis(250);

/// Reconcile everything at least this often.
const FULL_PASS: Duration = Duration::from_secs(1);

/// A full pass comes no sooner than this many times its own last cost after the last one, so
/// the leader spends at most about a fifth of its time on them: a full pass over 100k tasks
/// took 0.5–0.7 s on the e2e benchmark's loaded leader, and once a second that was most of
/// its time while status reports waited.
const FULL_PASS_COST_FACTOR: u32 = 4;

/// The longest wait between timer-driven full passes, however costly the last one was (its
/// cost includes waiting for its commits, which a leader without a quorum waits out), so
/// time-based decisions such as restart delays are never held back more than this.
const FULL_PASS_MAX: Duration = Duration::from_secs(10);

/// How long after the last full pass the next one is due.
fn full_pass_period(last_cost: Duration) -> Duration {
    FULL_PASS
        .max(last_cost * FULL_PASS_COST_FACTOR)
        .min(FULL_PASS_MAX)
}

/// What commits since the last pass touched.
#[derive(Default)]
struct Dirty {
    /// Everything must be looked at.
    full: bool,
    /// Services whose spec changed, or whose tasks were created, ended, were told to stop,
    /// moved or went away: what the orchestrators act on.
    services: BTreeSet<String>,
    /// Services whose tasks only progressed towards running (accepted, preparing, ...).
    /// Only an update in progress acts on that (its next batch waits for the last one to
    /// run), so these are reconciled only then: a service of 100k tasks starting up would
    /// otherwise be reconciled whole for every status batch.
    progress: BTreeSet<String>,
    /// Tasks that changed (candidates for allocation and scheduling).
    tasks: BTreeSet<String>,
}

impl Dirty {
    fn note(&mut self, event: WatchEvent) {
        match event {
            WatchEvent::Reset => self.full = true,
            WatchEvent::Commit(commit) => self.note_commit(&commit),
        }
    }

    fn note_commit(&mut self, commit: &Commit) {
        for change in &commit.changes {
            match change {
                Change::Task { old, new, .. } => {
                    // `old` is only kept when the task was deleted or left its node/service.
                    let progress_only = old.is_none()
                        && new.as_ref().is_some_and(|t| {
                            t.status.state <= TaskState::Running && t.desired_state <= TaskState::Running
                        });
                    let services = if progress_only {
                        &mut self.progress
                    } else {
                        &mut self.services
                    };
                    for t in old.iter().chain(new.iter()) {
                        services.insert(t.service_id.clone());
                        self.tasks.insert(t.id.clone());
                    }
                }
                Change::Created(o) | Change::Deleted(o) | Change::Updated { new: o, .. } => {
                    match o.as_ref() {
                        Object::Service(s) => {
                            self.services.insert(s.id.clone());
                        }
                        Object::Task(t) => {
                            self.services.insert(t.service_id.clone());
                            self.tasks.insert(t.id.clone());
                        }
                        // A node joining, leaving or changing can move tasks of any service;
                        // a new network can let tasks waiting for it be allocated.
                        Object::Node(_) | Object::Cluster(_) | Object::Network(_) => self.full = true,
                        // Secrets and configs reach tasks through the dispatcher, not the loops.
                        Object::Secret(_) | Object::Config(_) => {}
                    }
                }
                // The allocator's own writes: nothing more to reconcile.
                Change::Addresses(_) => {}
            }
        }
    }

    /// The services the orchestrators should look at (`None`: all of them).
    fn services_to_reconcile(&self, view: &State) -> Option<BTreeSet<String>> {
        if self.full {
            return None;
        }
        let mut services = self.services.clone();
        services.extend(
            self.progress
                .iter()
                .filter(|id| view.service(id).is_some_and(|s| waits_for_progress(s)))
                .cloned(),
        );
        Some(services)
    }
}

/// True when a service's tasks merely progressing towards running can move it on: an update
/// or rollback whose next batch waits for the last one to run. A first rollout (no previous
/// spec) opens every slot at once, so nothing waits for progress: its failures arrive as other
/// changes and its end is time-based (the monitor window), found by the next full pass.
/// Reconciling a 100k-task service whole for every status batch of its first rollout made
/// the e2e benchmark 3× slower with 3 managers (BENCHMARKS.md, e2e).
fn waits_for_progress(service: &Service) -> bool {
    service.previous_spec.is_some() && updating(service)
}

/// True while an update or rollback of the service has not finished (it may be paused with
/// a slot half handed over).
fn updating(service: &Service) -> bool {
    service
        .update_status
        .as_ref()
        .is_some_and(|u| !matches!(u.state, UpdateState::Completed | UpdateState::RollbackCompleted))
}

/// What the leader's control loop reads and writes through.
#[derive(Clone)]
pub struct ControlLoop {
    /// This manager's node (a demoted leader hands over leadership).
    pub node_id: String,
    /// The replica: store views, voters, leadership transfer.
    pub consensus: Consensus,
    /// Where plans are committed.
    pub proposer: Proposer,
    /// Demoted managers leave the group through this.
    pub membership: Membership,
    /// Heartbeats, to mark quiet nodes down.
    pub liveness: Arc<Liveness>,
    /// Log streams stop waiting for nodes marked down.
    pub logs: Arc<LogBroker>,
    /// IDs of new tasks.
    pub ids: Arc<Ids>,
    /// The time reconcilers see.
    pub clock: Arc<dyn Clock>,
}

/// Runs until `token` is cancelled (leadership lost or shutdown), reporting as `worker`.
pub async fn run(inner: ControlLoop, worker: Worker, token: CancellationToken) {
    let (_, mut watch) = inner.consensus.store().view_and_watch();
    let mut dirty = Dirty {
        full: true,
        ..Default::default()
    };
    let mut last_full = Instant::now();
    let mut last_full_cost = Duration::ZERO;
    loop {
        tokio::select! {
            _ = token.cancelled() => return,
            _ = tokio::time::sleep(TICK) => {}
            event = watch.next() => {
                let Some(event) = event else { return };
                dirty.note(event);
                // Let a burst of commits land, then take them all in one pass.
                let deadline = Instant::now() + DEBOUNCE;
                while let Ok(Some(event)) = tokio::time::timeout_at(deadline, watch.next()).await {
                    dirty.note(event);
                }
            }
        }
        if last_full.elapsed() >= full_pass_period(last_full_cost) {
            dirty.full = true;
        }
        let full = dirty.full;
        if full {
            last_full = Instant::now();
        }
        let this = std::mem::take(&mut dirty);
        worker.busy();
        let result = pass(&inner, this).await;
        if full {
            last_full_cost = last_full.elapsed();
        }
        match result {
            // Services the pass had no room for go first into the next one (the commits
            // of this pass wake it).
            Ok(held_back) => {
                dirty.services.extend(held_back);
                worker.done(Ok::<(), Error>(()));
            }
            Err(e) => {
                tracing::warn!("control loop: {e}");
                worker.done(Err(e));
            }
        }
    }
}

async fn commit(inner: &ControlLoop, ops: Vec<Op>, what: &str) {
    if ops.is_empty() {
        return;
    }
    if let Err(e) = inner.proposer.propose(ops).await {
        // Stale plans (the state moved on) are expected; the next pass re-plans.
        tracing::debug!("{what}: {e}");
    }
}

/// One pass: nodes, roles, orchestrators, allocator, scheduler. Returns the services that
/// still want new slots.
async fn pass(inner: &ControlLoop, dirty: Dirty) -> Result<BTreeSet<String>> {
    let store = inner.consensus.store();

    let view = store.view();
    let (seen, since) = inner.liveness.snapshot();
    let down = mark_down(&view, &seen, since, Instant::now(), heartbeat_period(&view));
    for op in &down {
        if let Op::Update { object, .. } = op {
            // Log streams stop waiting for a node that will not answer.
            inner.logs.node_gone(object.id());
        }
    }
    commit(inner, down, "marking nodes down").await;

    for action in plan_roles(&view, &inner.node_id, &inner.consensus.voters()) {
        let result = match action {
            RoleAction::TransferLeadership { to } => {
                tracing::info!(to, "demoted leader hands over leadership");
                inner
                    .consensus
                    .raft()
                    .trigger()
                    .transfer_leader(to)
                    .await
                    .map_err(|e| Error::Internal(e.to_string()))
            }
            RoleAction::RemoveMember { node_id, raft_id } => inner.membership.remove(&node_id, raft_id).await,
        };
        if let Err(e) = result {
            tracing::warn!("role change: {e}");
        }
    }

    // A root CA rotation ends once every node holds a certificate from the new root.
    let view = store.view();
    if let Some(ops) = inner.ids.with_rng(|rng| rules::root_rotation::finish(&view, rng)) {
        tracing::info!("every node holds a certificate from the new root: ending the root CA rotation");
        commit(inner, ops, "root rotation").await;
    }

    let view = store.view();
    let only = dirty.services_to_reconcile(&view);
    let started = Instant::now();
    let services = only.as_ref().map(BTreeSet::len);
    let mut candidates: Vec<String> = dirty.tasks.into_iter().collect();
    let plan = {
        let mut ids = || {
            let id = inner.ids.new_id();
            candidates.push(id.clone());
            id
        };
        let mut inputs = orchestrator::Inputs {
            parsed: Default::default(),
            now: inner.clock.now(),
            ids: &mut ids,
        };
        orchestrator::reconcile(&view, only.as_ref(), &mut inputs)
    };
    let held_back = plan.held_back().clone();
    for ops in plan.into_txns() {
        commit(inner, ops, "orchestrator").await;
    }
    let orchestrated = started.elapsed();

    let view = store.view();
    let allocation = if dirty.full {
        allocator::allocate(&view)
    } else {
        allocator::allocate_ids(&view, &candidates)
    };
    // Addresses and the PENDING moves they allow commit together. A plan the store refuses
    // (an address taken since the view) would leave its tasks NEW until the next full pass:
    // plan again at once over everything.
    if !allocation.is_empty()
        && let Err(e) = inner.proposer.propose(allocation).await
    {
        tracing::debug!("allocator: {e}; planning again");
        commit(inner, allocator::allocate(&store.view()), "allocator").await;
    }

    let view = store.view();
    let only = (!dirty.full).then_some(candidates.as_slice());
    // Nodes where a service version keeps failing go last (Swarm's underweighting).
    let failures = scheduler::recent_failures(&view, only, inner.clock.now());
    let inputs = scheduler::Inputs {
        candidates: only,
        recent_failures: Some(&failures),
    };
    let decisions = scheduler::schedule_with(&view, &inputs);
    let placed = decisions.assigned_count();
    for ops in batches(scheduler::to_ops(&decisions)) {
        commit(inner, ops, "scheduler").await;
    }
    // What each pass covered and cost: the loop's work follows the churn unless `full`.
    tracing::debug!(
        full = dirty.full,
        services = ?services,
        candidates = candidates.len(),
        placed,
        orchestrated_ms = orchestrated.as_millis() as u64,
        total_ms = started.elapsed().as_millis() as u64,
        "control loop pass"
    );
    Ok(held_back)
}

/// Task IDs per transaction: big enough to amortise a Raft round, small enough that one
/// entry replicates in milliseconds.
const TASKS_PER_TXN: usize = 10_000;

/// Groups ops into transactions of about `TASKS_PER_TXN` tasks. These ops are monotonic and
/// skip tasks that moved on, so splitting them changes nothing but entry sizes.
fn batches(ops: Vec<Op>) -> Vec<Vec<Op>> {
    let weight = |op: &Op| match op {
        Op::AssignTasks { task_ids, .. } => task_ids.len(),
        Op::UpdateTasks(u) => u.len(),
        _ => 1,
    };
    let mut out: Vec<Vec<Op>> = Vec::new();
    let mut size = 0;
    for op in ops {
        let w = weight(&op);
        if out.is_empty() || size + w > TASKS_PER_TXN {
            out.push(Vec::new());
            size = 0;
        }
        size += w;
        if let Some(last) = out.last_mut() {
            last.push(op);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orchestrator::fixtures::{World, task_in_slot};
    use types::Task;

    fn task(service: &str, state: TaskState, desired: TaskState) -> Arc<Task> {
        let mut t = (*task_in_slot("t1", 1, state, Default::default(), 1)).clone();
        t.service_id = service.into();
        t.desired_state = desired;
        Arc::new(t)
    }

    fn noted(changes: Vec<Change>) -> Dirty {
        let mut dirty = Dirty::default();
        dirty.note_commit(&Commit { index: 1, changes });
        dirty
    }

    #[test]
    fn full_passes_are_spaced_by_their_cost() {
        // A small cluster's pass costs little: once a second, for time-based decisions.
        assert_eq!(full_pass_period(Duration::from_millis(3)), FULL_PASS);
        // A costly one comes at most a fifth of the time.
        assert_eq!(
            full_pass_period(Duration::from_millis(600)),
            Duration::from_millis(2400)
        );
        // A pass stuck on its commits does not push the next one out indefinitely.
        assert_eq!(full_pass_period(Duration::from_secs(30)), FULL_PASS_MAX);
    }

    #[test]
    fn tasks_progressing_towards_running_do_not_dirty_their_service() {
        use TaskState::*;
        for state in [New, Pending, Assigned, Accepted, Preparing, Starting, Running] {
            let dirty = noted(vec![Change::Task {
                old: None,
                new: Some(task("svc-web", state, Running)),
                reported: true,
            }]);
            assert!(dirty.services.is_empty(), "{state:?}");
            assert!(dirty.progress.contains("svc-web") && dirty.tasks.contains("t1"));
        }
        let significant = [
            (None, Some(task("svc-web", Failed, Running))),
            (None, Some(task("svc-web", Complete, Running))),
            (None, Some(task("svc-web", Running, Shutdown))),
            (Some(task("svc-web", Running, Running)), None),
            (
                Some(task("svc-web", Running, Running)),
                Some(task("svc-web", Running, Running)),
            ),
        ];
        for (old, new) in significant {
            let what = format!("{old:?} -> {new:?}");
            let dirty = noted(vec![Change::Task {
                old,
                new,
                reported: true,
            }]);
            assert!(dirty.services.contains("svc-web"), "{what}");
        }
    }

    #[test]
    fn progress_reconciles_only_services_in_an_update() {
        let mut world = World::new()
            .nodes(&["n1"])
            .replicated("web", 2)
            .replicated("api", 2);
        world.settle();
        world.update_service("web", |spec| {
            Arc::make_mut(&mut spec.task).container.env = vec!["V=2".into()];
        });
        let mut dirty = Dirty::default();
        dirty
            .progress
            .extend(["svc-web".to_string(), "svc-api".to_string()]);
        dirty.services.insert("svc-gone".into());
        let only = dirty
            .services_to_reconcile(&world.state)
            .expect("not a full pass");
        assert_eq!(
            only,
            BTreeSet::from(["svc-gone".to_string(), "svc-web".to_string()])
        );
        dirty.full = true;
        assert_eq!(dirty.services_to_reconcile(&world.state), None);
    }

    #[test]
    fn progress_does_not_reconcile_a_first_rollout() {
        // Created as the API creates it: the first rollout is watched (an update status),
        // but opens every slot at once, so its tasks' progress moves nothing on.
        let world = World::new().nodes(&["n1"]).created("web", 3);
        let web = world.state.service("svc-web").expect("created");
        assert!(
            updating(web) && web.previous_spec.is_none(),
            "{:?}",
            web.update_status
        );
        let mut dirty = Dirty::default();
        dirty.progress.insert("svc-web".into());
        assert_eq!(dirty.services_to_reconcile(&world.state), Some(BTreeSet::new()));
    }
}
