//! Runner and worker tests against the simulated executor.

use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use types::{Task, TaskState, TaskStatus, Timestamp};

use super::*;
use crate::executor::conformance::{health, sim, task, within};
use crate::executor::sim::{SimConfig, SimExecutor, SimHost};
use crate::executor::{Executor, Exit, Phase};

fn sim_executor(host: &Arc<SimHost>) -> Arc<SimExecutor> {
    Arc::new(SimExecutor::on_host(
        Arc::clone(host),
        SimConfig::default(),
        clock(),
    ))
}

fn clock() -> Arc<dyn types::Clock> {
    Arc::new(types::clock::FixedClock(Timestamp(42)))
}

/// A runner on `executor` for `task`, with its assignment sender and status receiver.
struct Harness {
    assignment: watch::Sender<Arc<Task>>,
    statuses: mpsc::UnboundedReceiver<StatusUpdate>,
    stop: CancellationToken,
    join: tokio::task::JoinHandle<()>,
    seen: Vec<TaskState>,
}

fn start(executor: Arc<SimExecutor>, task: Task) -> Harness {
    let (assignment, rx) = watch::channel(Arc::new(task));
    let (tx, statuses) = mpsc::unbounded_channel();
    let stop = CancellationToken::new();
    let join = tokio::spawn(run_task(executor, clock(), rx, tx, stop.clone()));
    Harness {
        assignment,
        statuses,
        stop,
        join,
        seen: Vec::new(),
    }
}

impl Harness {
    async fn next(&mut self) -> TaskStatus {
        let update = within("status", self.statuses.recv())
            .await
            .expect("runner ended");
        if let Some(last) = self.seen.last() {
            assert!(
                update.status.state >= *last,
                "backwards: {:?} after {:?}",
                update.status.state,
                self.seen
            );
        }
        assert_eq!(
            update.status.timestamp,
            Timestamp(42),
            "timestamps come from the clock"
        );
        self.seen.push(update.status.state);
        update.status
    }

    /// Statuses up to and including `state`.
    async fn until(&mut self, state: TaskState) -> TaskStatus {
        loop {
            let s = self.next().await;
            if s.state >= state {
                return s;
            }
        }
    }

    fn desire(&self, state: TaskState) {
        self.assignment
            .send_modify(|t| Arc::make_mut(t).desired_state = state);
    }
}

#[tokio::test]
async fn steps_through_the_states_and_shuts_down_on_request() {
    let host = SimHost::new();
    let mut h = start(sim_executor(&host), task("t1", sim(&[])));
    let running = h.until(TaskState::Running).await;
    assert_eq!(
        h.seen,
        [
            TaskState::Accepted,
            TaskState::Preparing,
            TaskState::Ready,
            TaskState::Starting,
            TaskState::Running
        ]
    );
    assert_eq!(running.message, "started");
    let container = running.container.unwrap();
    assert!(container.pid > 0 && container.exit_code.is_none());

    h.desire(TaskState::Shutdown);
    let shut = h.next().await;
    assert_eq!(
        (shut.state, shut.message.as_str()),
        (TaskState::Shutdown, "shutdown")
    );
    assert_eq!(shut.container.unwrap().exit_code, Some(143), "SIGTERM by default");
    // Going back to RUNNING is ignored; the runner stays put.
    h.desire(TaskState::Running);
    h.stop.cancel();
    h.join.await.unwrap();
    assert!(h.statuses.recv().await.is_none(), "no status after shutdown");
}

#[tokio::test]
async fn exit_codes_become_complete_or_failed() {
    let host = SimHost::new();
    let mut ok = start(sim_executor(&host), task("ok", sim(&[("exit", "0")])));
    let done = ok.until(TaskState::Complete).await;
    assert_eq!(
        (done.state, done.message.as_str(), done.err.as_str()),
        (TaskState::Complete, "finished", "")
    );
    assert_eq!(done.container.unwrap().exit_code, Some(0));

    let mut bad = start(sim_executor(&host), task("bad", sim(&[("exit", "3")])));
    let failed = bad.until(TaskState::Complete).await;
    assert_eq!(
        (failed.state, failed.err.as_str()),
        (TaskState::Failed, "task: non-zero exit (3)")
    );
    assert_eq!(failed.container.unwrap().exit_code, Some(3));
    assert!(bad.seen.contains(&TaskState::Running));
}

#[tokio::test]
async fn errors_before_starting_reject_and_after_fail() {
    let host = SimHost::new();
    let mut rejected = start(
        sim_executor(&host),
        task("r", sim(&[("prepare-error", "no such image")])),
    );
    let s = rejected.until(TaskState::Complete).await;
    assert_eq!(s.state, TaskState::Rejected);
    assert!(s.err.contains("no such image"), "{}", s.err);
    assert!(!rejected.seen.contains(&TaskState::Starting));

    let mut failed = start(sim_executor(&host), task("f", sim(&[("start-error", "boom")])));
    let s = failed.until(TaskState::Complete).await;
    assert_eq!(s.state, TaskState::Failed);
    assert!(failed.seen.contains(&TaskState::Starting) && !failed.seen.contains(&TaskState::Running));
}

#[tokio::test]
async fn never_healthy_fails_without_running() {
    let host = SimHost::new();
    let mut spec = sim(&[("never-healthy", "true")]);
    spec.container.healthcheck = Some(health("true", 1));
    let mut h = start(sim_executor(&host), task("sick", spec));
    let s = h.until(TaskState::Complete).await;
    assert_eq!(
        (s.state, s.err.as_str()),
        (TaskState::Failed, "task: unhealthy container")
    );
    assert!(
        !h.seen.contains(&TaskState::Running),
        "reported RUNNING only once healthy"
    );
}

#[tokio::test]
async fn desired_ready_holds_the_task_until_running_is_wanted() {
    let host = SimHost::new();
    let mut t = task("held", sim(&[]));
    t.desired_state = TaskState::Ready;
    let mut h = start(sim_executor(&host), t);
    assert_eq!(h.until(TaskState::Ready).await.message, "prepared");
    h.desire(TaskState::Running);
    assert_eq!(
        h.next().await.state,
        TaskState::Starting,
        "moved on only after desired rose"
    );
    h.until(TaskState::Running).await;
}

#[tokio::test]
async fn desired_remove_shuts_down_and_removes() {
    let host = SimHost::new();
    let ex = sim_executor(&host);
    let mut h = start(Arc::clone(&ex), task("gone", sim(&[])));
    h.until(TaskState::Running).await;
    h.desire(TaskState::Remove);
    assert_eq!(h.next().await.state, TaskState::Shutdown);
    within("runner end", h.join).await.unwrap();
    assert!(ex.reattach().await.unwrap().is_empty());
}

#[tokio::test]
async fn shutdown_before_prepare_reports_shutdown() {
    let host = SimHost::new();
    let mut t = task("early", sim(&[]));
    t.desired_state = TaskState::Shutdown;
    let mut h = start(sim_executor(&host), t);
    let s = h.next().await;
    assert_eq!(s.state, TaskState::Shutdown);
    assert_eq!(h.seen, [TaskState::Shutdown]);
}

#[tokio::test]
async fn a_running_task_resumes_after_restart_without_going_back() {
    let host = SimHost::new();
    let first = sim_executor(&host);
    let mut h = start(Arc::clone(&first), task("again", sim(&[])));
    let running = h.until(TaskState::Running).await;
    let pid = running.container.as_ref().unwrap().pid;
    h.stop.cancel();
    h.join.await.unwrap();
    drop(first);

    // The manager last heard RUNNING; a new agent picks the task up where it is.
    let second = sim_executor(&host);
    assert_eq!(second.reattach().await.unwrap()[0].phase, Phase::Running);
    let mut t = task("again", sim(&[]));
    t.status = running;
    let mut h = start(Arc::clone(&second), t);
    assert!(host.crash("again", Exit::code(9)));
    let s = h.next().await;
    assert_eq!(
        (s.state, s.err.as_str()),
        (TaskState::Failed, "task: non-zero exit (9)")
    );
    assert_eq!(s.container.unwrap().pid, pid, "the same process, not a new one");
}

#[tokio::test]
async fn worker_keeps_one_runner_per_assigned_task() {
    let host = SimHost::new();
    let ex = sim_executor(&host);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut worker = Worker::start(Arc::clone(&ex), clock(), tx).await.unwrap();
    let a = Arc::new(task("a", sim(&[])));
    let b = Arc::new(task("b", sim(&[])));
    worker.reconcile(vec![Arc::clone(&a), Arc::clone(&b)]);
    worker.reconcile(vec![Arc::clone(&a), Arc::clone(&b)]);
    assert_eq!(worker.task_ids(), ["a", "b"]);
    let mut running = std::collections::HashSet::new();
    while running.len() < 2 {
        let u = within("status", rx.recv()).await.unwrap();
        if u.status.state == TaskState::Running {
            assert!(running.insert(u.task_id), "one runner per task");
        }
    }
    // b leaves the assignment set: its runner stops and the executor forgets it.
    worker.reconcile(vec![Arc::clone(&a)]);
    assert_eq!(worker.task_ids(), ["a"]);
    let mut a_down = (*a).clone();
    a_down.desired_state = TaskState::Shutdown;
    worker.update(vec![Arc::new(a_down)], &[]);
    loop {
        let u = within("status", rx.recv()).await.unwrap();
        if u.task_id == "a" && u.status.state == TaskState::Shutdown {
            break;
        }
    }
    worker.stop().await;
    let left: Vec<String> = ex
        .reattach()
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.task_id)
        .collect();
    assert_eq!(
        left,
        ["a"],
        "b was removed, a is kept (shut down) until unassigned"
    );
}

#[tokio::test]
async fn worker_removes_reattached_tasks_the_manager_no_longer_assigns() {
    let host = SimHost::new();
    let first = sim_executor(&host);
    for id in ["kept", "stale"] {
        first.prepare(&task(id, sim(&[]))).await.unwrap();
        first.start(id).await.unwrap();
    }
    drop(first);
    let ex = sim_executor(&host);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut worker = Worker::start(Arc::clone(&ex), clock(), tx).await.unwrap();
    let mut kept = task("kept", sim(&[]));
    kept.status.state = TaskState::Running;
    worker.reconcile(vec![Arc::new(kept)]);
    worker.stop().await;
    let left: Vec<String> = ex
        .reattach()
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.task_id)
        .collect();
    assert_eq!(left, ["kept"]);
    // The kept task was running already: nothing to report, and nothing restarted it.
    assert!(rx.try_recv().is_err());
}

#[tokio::test]
async fn thousands_of_simulated_tasks_are_cheap() {
    let host = SimHost::new();
    let ex = sim_executor(&host);
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut worker = Worker::start(Arc::clone(&ex), clock(), tx).await.unwrap();
    let n = 5000;
    worker.reconcile(
        (0..n)
            .map(|i| Arc::new(task(&format!("t{i}"), sim(&[]))))
            .collect(),
    );
    let mut running = 0;
    while running < n {
        if within("status", rx.recv()).await.unwrap().status.state == TaskState::Running {
            running += 1;
        }
    }
    worker.reconcile(Vec::new());
    worker.stop().await;
    assert!(ex.reattach().await.unwrap().is_empty(), "all removed");
}

#[tokio::test]
async fn a_task_on_networks_never_runs_unattached() {
    let host = SimHost::new();
    let mut spec = sim(&[]);
    spec.networks = vec![types::NetworkAttachment {
        target: "front".into(),
        ..Default::default()
    }];
    // No network layer at all: refused before the executor sees it.
    let mut bare = start(sim_executor(&host), task("n1", spec.clone()));
    let s = bare.until(TaskState::Complete).await;
    assert_eq!(s.state, TaskState::Rejected);
    assert!(s.err.contains("no network layer"), "{}", s.err);

    // A node that cannot make namespaces says why.
    let dir = tempfile::tempdir().unwrap();
    let network = crate::network::NodeNetwork::refusing(
        crate::network::NetworkConfig {
            node_id: "node".into(),
            tag: "t".into(),
            sandboxes: dir.path().join("sandboxes"),
            host_resolv: Default::default(),
            dns_port: 53,
            attach_deadline: std::time::Duration::from_secs(1),
        },
        "the agent does not run as root",
    );
    let (assignment, rx) = watch::channel(Arc::new(task("n2", spec)));
    let (tx, mut statuses) = mpsc::unbounded_channel();
    let stop = CancellationToken::new();
    let join = tokio::spawn(run_task_on(
        sim_executor(&host),
        Some(network),
        clock(),
        rx,
        tx,
        stop.clone(),
    ));
    let rejected = loop {
        let update = within("status", statuses.recv()).await.expect("runner ended");
        if update.status.state >= TaskState::Complete {
            break update.status;
        }
    };
    assert_eq!(rejected.state, TaskState::Rejected);
    assert!(rejected.err.contains("not run as root"), "{}", rejected.err);
    stop.cancel();
    let _ = join.await;
    drop(assignment);
}
