//! The leader's control loop: on every store change (debounced) and on a short tick, run the
//! reconcilers in data-flow order and commit what they plan.
//!
//! ```text
//! watch/tick ─► liveness (nodes down) ─► roles (demotions) ─► orchestrator (tasks, updates,
//!   reaper) ─► allocator (NEW→PENDING) ─► scheduler (PENDING→ASSIGNED) ─► commit each step
//! ```
//! Each step reads a fresh view, so a step sees what the one before it committed.

use std::sync::Arc;
use std::time::Duration;

use store::{Op, WatchEvent};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::dispatcher::mark_down;
use crate::manager::Inner;
use crate::roles::{RoleAction, plan as plan_roles};
use crate::{Error, Result, allocator, orchestrator, scheduler};

/// How long to wait for more changes before reconciling (Swarm's scheduler uses 50 ms).
const DEBOUNCE: Duration = Duration::from_millis(20);
/// Reconcile at least this often, for time-based decisions (restart delays, heartbeats).
const TICK: Duration = Duration::from_millis(250);

/// Runs until `token` is cancelled (leadership lost or shutdown).
pub async fn run(inner: Arc<Inner>, token: CancellationToken) {
    let (_, mut watch) = inner.consensus.store().view_and_watch();
    loop {
        tokio::select! {
            _ = token.cancelled() => return,
            _ = tokio::time::sleep(TICK) => {}
            event = watch.next() => {
                if event.is_none() {
                    return;
                }
                // Let a burst of commits land, then take them all in one pass.
                let deadline = Instant::now() + DEBOUNCE;
                while let Ok(Some(WatchEvent::Commit(_) | WatchEvent::Reset)) = tokio::time::timeout_at(deadline, watch.next()).await {}
            }
        }
        if let Err(e) = pass(&inner).await {
            tracing::warn!("control loop: {e}");
        }
    }
}

async fn commit(inner: &Inner, ops: Vec<Op>, what: &str) {
    if ops.is_empty() {
        return;
    }
    if let Err(e) = inner.propose(ops).await {
        // Stale plans (the state moved on) are expected; the next pass re-plans.
        tracing::debug!("{what}: {e}");
    }
}

async fn pass(inner: &Arc<Inner>) -> Result<()> {
    let store = inner.consensus.store();

    let view = store.view();
    let (seen, since) = inner.liveness.snapshot();
    let down = mark_down(&view, &seen, since, Instant::now(), inner.heartbeat_period());
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
            RoleAction::RemoveMember { node_id, raft_id } => remove_member(inner, &node_id, raft_id).await,
        };
        if let Err(e) = result {
            tracing::warn!("role change: {e}");
        }
    }

    let view = store.view();
    let plan = {
        let mut ids = || inner.new_id();
        let mut inputs = orchestrator::Inputs {
            now: inner.clock.now(),
            ids: &mut ids,
        };
        orchestrator::reconcile(&view, None, &mut inputs)
    };
    for ops in plan.into_txns() {
        commit(inner, ops, "orchestrator").await;
    }

    if let Some(op) = allocator::allocate(&store.view()) {
        commit(inner, vec![op], "allocator").await;
    }

    let decisions = scheduler::schedule(&store.view());
    for ops in batches(scheduler::to_ops(&decisions)) {
        commit(inner, ops, "scheduler").await;
    }
    Ok(())
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

async fn remove_member(inner: &Inner, node_id: &str, raft_id: u64) -> Result<()> {
    tracing::info!(node_id, raft_id, "removing demoted manager from raft");
    inner.consensus.remove_member(raft_id).await?;
    let Some(node) = inner.consensus.store().view().node(node_id).cloned() else {
        return Ok(());
    };
    let mut next = (*node).clone();
    next.manager_status = None;
    inner
        .propose(vec![Op::Update {
            object: types::Object::Node(next),
            expect_version: None,
        }])
        .await?;
    Ok(())
}
