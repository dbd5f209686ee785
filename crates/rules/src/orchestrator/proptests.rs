//! Property tests for replicated services and their rolling updates: a random update and
//! rollback config, then a random sequence of cluster events (orchestrator passes, the real
//! allocator and scheduler, tasks starting, stopping, failing or rejected, nodes going down,
//! scaling, spec changes, time passing). After every step an oracle written here from the
//! rules (not from the code under test) checks the invariants; at the end the cluster is let
//! settle and must converge.
//!
//! A failure prints the shrunk event list and the seed; `PROPTEST_RNG_SEED=<seed>` replays it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestRunner};
use state::{Op, State, TaskChange, TaskUpdate};
use types::{FailureAction, NodeState, Task, TaskState, TaskStatus, UpdateConfig, UpdateOrder, UpdateState};

use super::fixtures::World;

const SVC: &str = "web";

/// The cluster and the service's configs.
#[derive(Debug, Clone)]
struct Setup {
    nodes: usize,
    replicas: u64,
    update: UpdateConfig,
    rollback: UpdateConfig,
}

/// One event.
#[derive(Debug, Clone)]
enum Step {
    /// An orchestrator pass, committed.
    Orchestrate,
    /// The real allocator, then the real scheduler.
    Place,
    /// The n-th task an agent may start reaches RUNNING.
    Start(usize),
    /// The n-th task an agent was told to stop reaches SHUTDOWN.
    Stop(usize),
    /// The n-th running task fails.
    Fail(usize),
    /// The n-th assigned task is rejected by its node.
    Reject(usize),
    /// Node n goes down (never the last one up).
    NodeDown(usize),
    /// Time passes (seconds).
    Tick(i64),
    /// `service update` with a new image.
    NewSpec,
    /// `service scale`.
    Scale(u64),
}

fn config() -> impl Strategy<Value = UpdateConfig> {
    (
        0u64..4,
        prop::sample::select(vec![0i64, 0, 1_000_000_000, 2_000_000_000]),
        prop::sample::select(vec![
            FailureAction::Pause,
            FailureAction::Rollback,
            FailureAction::Continue,
        ]),
        prop::sample::select(vec![0i64, 1_000_000_000, 3_000_000_000]),
        prop::sample::select(vec![0.0f32, 0.0, 0.34, 1.0]),
        prop::sample::select(vec![UpdateOrder::StopFirst, UpdateOrder::StartFirst]),
    )
        .prop_map(
            |(parallelism, delay, failure_action, monitor, max_failure_ratio, order)| UpdateConfig {
                parallelism,
                delay,
                failure_action,
                monitor,
                max_failure_ratio,
                order,
            },
        )
}

fn setup() -> impl Strategy<Value = Setup> {
    (1usize..4, 1u64..6, config(), config()).prop_map(|(nodes, replicas, update, rollback)| Setup {
        nodes,
        replicas,
        update,
        rollback,
    })
}

/// Any event, the orchestrator and placement most often.
fn chaos_step() -> impl Strategy<Value = Step> {
    prop_oneof![
        6 => Just(Step::Orchestrate),
        4 => Just(Step::Place),
        5 => (0usize..8).prop_map(Step::Start),
        3 => (0usize..8).prop_map(Step::Stop),
        1 => (0usize..8).prop_map(Step::Fail),
        1 => (0usize..8).prop_map(Step::Reject),
        1 => (0usize..4).prop_map(Step::NodeDown),
        3 => (1i64..8).prop_map(Step::Tick),
        1 => Just(Step::NewSpec),
        1 => (0u64..6).prop_map(Step::Scale),
    ]
}

/// Events of a rollout where nothing fails: only the order in which things happen varies.
fn calm_step() -> impl Strategy<Value = Step> {
    prop_oneof![
        4 => Just(Step::Orchestrate),
        3 => Just(Step::Place),
        4 => (0usize..8).prop_map(Step::Start),
        3 => (0usize..8).prop_map(Step::Stop),
        2 => (1i64..4).prop_map(Step::Tick),
    ]
}

/// The simulated cluster.
struct Sim {
    w: World,
    setup: Setup,
    images: u32,
}

/// The service's tasks by slot, oldest first (creation times differ: every pass moves the
/// clock, as the real one does).
fn by_slot(state: &State) -> BTreeMap<u64, Vec<Arc<Task>>> {
    let mut slots: BTreeMap<u64, Vec<Arc<Task>>> = BTreeMap::new();
    for t in state.tasks() {
        slots.entry(t.slot).or_default().push(t.clone());
    }
    for tasks in slots.values_mut() {
        tasks.sort_by_key(|t| t.meta.created_at);
    }
    slots
}

/// One line per task, for failure messages.
fn brief(tasks: &[Arc<Task>]) -> String {
    tasks
        .iter()
        .map(|t| {
            format!(
                "\n  {} {} desired {:?} observed {:?} on {:?} created {}",
                t.id, t.spec.container.image, t.desired_state, t.status.state, t.node_id, t.meta.created_at.0
            )
        })
        .collect()
}

/// Still wanted by the orchestrator (it has not asked the task to stop or go away).
fn wanted(t: &Task) -> bool {
    matches!(
        t.desired_state,
        TaskState::Ready | TaskState::Running | TaskState::Complete
    )
}

/// Stopped for good (completed, shut down, failed, rejected, orphaned).
fn ended(t: &Task) -> bool {
    t.status.state >= TaskState::Complete
}

impl Sim {
    fn new(setup: &Setup) -> Sim {
        let ids: Vec<String> = (1..=setup.nodes).map(|i| format!("n{i}")).collect();
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        let mut w = World::new().nodes(&ids).created(SVC, setup.replicas);
        let (update, rollback) = (setup.update, setup.rollback);
        w.update_service(SVC, |s| {
            s.update = Some(update);
            s.rollback = Some(rollback);
        });
        Sim {
            w,
            setup: setup.clone(),
            images: 0,
        }
    }

    fn service(&self) -> Arc<types::Service> {
        self.w.state.service_by_name(SVC).expect("service").clone()
    }

    /// Replicas as the service asks now (a rollback may restore an earlier count).
    fn replicas(&self) -> u64 {
        match self.service().spec.mode {
            types::ServiceMode::Replicated { replicas } => replicas,
            _ => 0,
        }
    }

    fn status(&self) -> Option<UpdateState> {
        self.service().update_status.as_ref().map(|u| u.state)
    }

    fn node_ready(&self, id: &str) -> bool {
        self.w
            .state
            .node(id)
            .is_some_and(|n| n.status.state == NodeState::Ready)
    }

    fn set_status(&mut self, id: &str, state: TaskState) {
        let exit = match state {
            TaskState::Failed => Some(1),
            TaskState::Shutdown => Some(0),
            _ => None,
        };
        self.w.commit_op(Op::UpdateTasks(vec![TaskUpdate {
            id: id.into(),
            change: TaskChange::Status(TaskStatus {
                timestamp: self.w.now,
                state,
                container: exit.map(|c| types::ContainerStatus {
                    exit_code: Some(c),
                    ..Default::default()
                }),
                ..Default::default()
            }),
        }]));
    }

    /// The n-th (wrapping) task on a ready node matching `f`, by ID.
    fn pick(&self, n: usize, f: impl Fn(&Task) -> bool) -> Option<String> {
        let on_ready: Vec<String> = self
            .w
            .state
            .tasks()
            .filter(|t| !t.node_id.is_empty() && self.node_ready(&t.node_id) && f(t))
            .map(|t| t.id.clone())
            .collect();
        (!on_ready.is_empty()).then(|| on_ready[n % on_ready.len()].clone())
    }

    fn assigned(t: &Task) -> bool {
        t.status.state >= TaskState::Assigned && t.status.state < TaskState::Running
    }

    /// Applies one event; for an orchestrator pass, checks what the pass did.
    fn step(&mut self, step: &Step) -> Result<(), TestCaseError> {
        match *step {
            Step::Orchestrate => return self.orchestrate(),
            Step::Place => self.place(),
            Step::Start(n) => {
                let startable = |t: &Task| {
                    Sim::assigned(t) && matches!(t.desired_state, TaskState::Running | TaskState::Complete)
                };
                if let Some(id) = self.pick(n, startable) {
                    self.set_status(&id, TaskState::Running);
                }
            }
            Step::Stop(n) => {
                let stoppable = |t: &Task| t.desired_state >= TaskState::Shutdown && !ended(t);
                if let Some(id) = self.pick(n, |t| stoppable(t) && t.status.state >= TaskState::Assigned) {
                    self.set_status(&id, TaskState::Shutdown);
                }
            }
            Step::Fail(n) => {
                if let Some(id) = self.pick(n, |t| t.status.state == TaskState::Running) {
                    self.set_status(&id, TaskState::Failed);
                }
            }
            Step::Reject(n) => {
                if let Some(id) = self.pick(n, Sim::assigned) {
                    self.set_status(&id, TaskState::Rejected);
                }
            }
            Step::NodeDown(n) => {
                let up: Vec<String> = self
                    .w
                    .state
                    .nodes()
                    .filter(|n| n.status.state == NodeState::Ready)
                    .map(|n| n.id.clone())
                    .collect();
                if up.len() > 1 {
                    let id = up[n % up.len()].clone();
                    self.w.node_down(&id);
                }
            }
            Step::Tick(secs) => self.w.advance_secs(secs),
            Step::NewSpec => {
                self.images += 1;
                let image = format!("img:{}", self.images);
                self.w.update_service(SVC, |s| {
                    Arc::make_mut(&mut s.task).container.image = image;
                });
            }
            Step::Scale(r) => self.w.set_replicas(SVC, r),
        }
        self.check_always()
    }

    fn place(&mut self) {
        let ops = crate::allocator::allocate(&self.w.state);
        if !ops.is_empty() {
            self.w
                .try_commit(ops)
                .expect("the store takes the allocator's plan");
        }
        for op in crate::scheduler::schedule(&self.w.state).to_ops() {
            self.w.commit_op(op);
        }
    }

    /// The update config in force for `status`.
    fn config(&self, status: Option<UpdateState>) -> UpdateConfig {
        match status {
            Some(
                UpdateState::RollbackStarted | UpdateState::RollbackPaused | UpdateState::RollbackCompleted,
            ) => self.setup.rollback,
            _ => self.setup.update,
        }
    }

    /// Slots mid-replacement: more than one wanted task, or the newest wanted task is of the
    /// current spec, created since the update began, and neither running yet nor ended.
    fn updating(&self) -> BTreeSet<u64> {
        let service = self.service();
        let Some(started) = service.update_status.as_ref().and_then(|u| u.started_at) else {
            return BTreeSet::new();
        };
        by_slot(&self.w.state)
            .into_iter()
            .filter(|(_, tasks)| {
                let wanted: Vec<&Arc<Task>> = tasks.iter().filter(|t| wanted(t)).collect();
                let fresh = wanted.last().is_some_and(|t| {
                    *t.spec == *service.spec.task
                        && t.meta.created_at >= started
                        && t.status.state < TaskState::Running
                        && !ended(t)
                });
                wanted.len() > 1 || fresh
            })
            .map(|(slot, _)| slot)
            .collect()
    }

    /// One orchestrator pass. Besides the invariants: a pass opens update replacements (a
    /// new task in a slot whose newest wanted task still lives on a ready node) only while
    /// fewer than `parallelism` slots are updating, and never while the update is paused; a
    /// rollback creates no task of the spec it rolls away from.
    fn orchestrate(&mut self) -> Result<(), TestCaseError> {
        // The real clock moves between passes: creation times order a slot's tasks.
        self.w.now = self.w.now.plus_nanos(1_000_000);
        let before = self.w.state.clone();
        let status_before = self.status();
        let replicas_before = self.replicas();
        let updating_before = self.updating();
        let plan = self.w.reconcile();
        self.w.apply(plan);

        let service = self.service();
        let slots_before = by_slot(&before);
        let created: Vec<Arc<Task>> = self
            .w
            .state
            .tasks()
            .filter(|t| before.task(&t.id).is_none())
            .cloned()
            .collect();
        let replacements = created
            .iter()
            .filter(|t| {
                let newest = slots_before
                    .get(&t.slot)
                    .and_then(|tasks| tasks.iter().rev().find(|o| wanted(o)));
                newest.is_some_and(|o| {
                    !ended(o) && (o.node_id.is_empty() || self.node_ready(&o.node_id)) && *o.spec != *t.spec
                })
            })
            .count();
        if matches!(
            status_before,
            Some(UpdateState::Paused | UpdateState::RollbackPaused)
        ) {
            prop_assert_eq!(replacements, 0, "a paused update replaced tasks");
        }
        // Slots this pass scaled away no longer update.
        let still = by_slot(&self.w.state);
        let updating_before = updating_before
            .iter()
            .filter(|n| still.get(n).is_some_and(|tasks| tasks.iter().any(|t| wanted(t))))
            .count();
        let parallelism = self.config(self.status()).parallelism as usize;
        if replacements > 0 && parallelism > 0 {
            prop_assert!(
                updating_before + replacements <= parallelism,
                "{updating_before} slots updating, {replacements} more replaced, parallelism {parallelism}; before:{}\nafter:{}",
                brief(&before.tasks().cloned().collect::<Vec<_>>()),
                brief(&self.w.state.tasks().cloned().collect::<Vec<_>>())
            );
        }
        // (A rollback after a scale swaps identical task specs: nothing to roll away from.)
        if matches!(self.status(), Some(UpdateState::RollbackStarted))
            && let Some(away) = &service.previous_spec
            && away.task != service.spec.task
        {
            prop_assert!(
                created.iter().all(|t| *t.spec != *away.task),
                "a rollback created a task of the spec it rolls away from"
            );
        }
        let active = by_slot(&self.w.state)
            .values()
            .filter(|tasks| tasks.iter().any(|t| wanted(t)))
            .count() as u64;
        // Against the count the pass planned with (a rollback it started may restore another).
        prop_assert_eq!(active, replicas_before, "slots after a pass");
        self.check_always()
    }

    /// After every step: no slot holds more wanted tasks, or more running ones (on ready
    /// nodes), than the update orders allow: one with stop-first, two with start-first.
    fn check_always(&self) -> Result<(), TestCaseError> {
        let start_first =
            [self.setup.update.order, self.setup.rollback.order].contains(&UpdateOrder::StartFirst);
        let most = if start_first { 2 } else { 1 };
        for (slot, tasks) in by_slot(&self.w.state) {
            let meant = tasks.iter().filter(|t| wanted(t)).count();
            prop_assert!(
                meant <= most,
                "slot {slot}: {meant} wanted tasks:{}",
                brief(&tasks)
            );
            // Under start-first an agent may still be stopping a task told to go while the
            // slot's next one runs: only the tasks meant to run count then. Stop-first waits
            // for the old task to stop, so there every running task counts.
            let running = tasks
                .iter()
                .filter(|t| t.status.state == TaskState::Running && self.node_ready(&t.node_id))
                .filter(|t| !start_first || wanted(t))
                .count();
            prop_assert!(
                running <= most,
                "slot {slot}: {running} running tasks:{}",
                brief(&tasks)
            );
        }
        Ok(())
    }

    /// Lets the cluster settle: agents do what they are told, nothing fails, time passes.
    fn settle(&mut self) -> Result<(), TestCaseError> {
        let mut quiet = 0;
        for _ in 0..300 {
            let index = self.w.state.index;
            self.orchestrate()?;
            self.place();
            let todo: Vec<(String, TaskState)> = self
                .w
                .state
                .tasks()
                .filter(|t| !t.node_id.is_empty() && self.node_ready(&t.node_id))
                .filter_map(|t| {
                    if t.desired_state >= TaskState::Shutdown
                        && t.status.state >= TaskState::Assigned
                        && !ended(t)
                    {
                        Some((t.id.clone(), TaskState::Shutdown))
                    } else if Sim::assigned(t) && t.desired_state == TaskState::Running {
                        Some((t.id.clone(), TaskState::Running))
                    } else {
                        None
                    }
                })
                .collect();
            for (id, state) in todo {
                self.set_status(&id, state);
                self.check_always()?;
            }
            self.w.advance_secs(1);
            quiet = if self.w.state.index == index { quiet + 1 } else { 0 };
            // Longer than any delay, monitor window or restart delay.
            if quiet > 12 {
                return Ok(());
            }
        }
        Err(TestCaseError::fail("no convergence in 300 rounds"))
    }

    /// After settling: every slot has one task, running; all on the current spec and the
    /// update over, unless it paused.
    fn check_converged(&self) -> Result<(), TestCaseError> {
        let service = self.service();
        let status = self.status();
        let paused = matches!(status, Some(UpdateState::Paused | UpdateState::RollbackPaused));
        let mut slots = 0;
        for (slot, tasks) in by_slot(&self.w.state) {
            let wanted: Vec<&Arc<Task>> = tasks.iter().filter(|t| wanted(t)).collect();
            if wanted.is_empty() {
                continue;
            }
            slots += 1;
            prop_assert_eq!(wanted.len(), 1, "slot {}:{}", slot, brief(&tasks));
            prop_assert_eq!(
                wanted[0].status.state,
                TaskState::Running,
                "slot {}:{}",
                slot,
                brief(&tasks)
            );
            if !paused {
                prop_assert!(
                    *wanted[0].spec == *service.spec.task,
                    "slot {slot} not on the current spec ({status:?}):{}",
                    brief(&tasks)
                );
            }
        }
        prop_assert_eq!(slots, self.replicas());
        if !paused {
            prop_assert!(
                matches!(
                    status,
                    None | Some(UpdateState::Completed | UpdateState::RollbackCompleted)
                ),
                "update still {status:?}"
            );
        }
        Ok(())
    }
}

/// The rollout after a spec change, checked at every step against the update's parallelism.
fn calm_rollout(setup: &Setup, steps: &[Step]) -> Result<(), TestCaseError> {
    let mut sim = Sim::new(setup);
    sim.settle()?;
    sim.step(&Step::NewSpec)?;
    let parallelism = setup.update.parallelism as usize;
    for step in steps {
        sim.step(step)?;
        if parallelism > 0 {
            let updating = sim.updating().len();
            prop_assert!(
                updating <= parallelism,
                "{updating} slots updating, parallelism {parallelism}"
            );
        }
    }
    sim.settle()?;
    sim.check_converged()?;
    let service = sim.service();
    prop_assert!(
        sim.w
            .state
            .tasks()
            .filter(|t| wanted(t))
            .all(|t| *t.spec == *service.spec.task),
        "a calm rollout ends on the new spec"
    );
    Ok(())
}

fn chaos(setup: &Setup, steps: &[Step]) -> Result<(), TestCaseError> {
    let mut sim = Sim::new(setup);
    for step in steps {
        sim.step(step)?;
    }
    sim.settle()?;
    sim.check_converged()
}

/// Runs `test` over `strategy` with a seed from `PROPTEST_RNG_SEED` or a fresh one, and
/// names the seed when a case fails.
pub(crate) fn run<S: Strategy>(
    cases: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) {
    use std::hash::{BuildHasher, RandomState};
    let seed = std::env::var("PROPTEST_RNG_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        // A process-random value without a clock or an RNG crate.
        .unwrap_or_else(|| RandomState::new().hash_one(0u8));
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(seed),
        ..Config::default()
    });
    if let Err(e) = runner.run(&strategy, test) {
        panic!("{e}\nreplay with PROPTEST_RNG_SEED={seed}");
    }
}

#[test]
fn a_calm_rollout_respects_parallelism_and_ends_on_the_new_spec() {
    run(
        200,
        (setup(), prop::collection::vec(calm_step(), 0..60)),
        |(setup, steps)| calm_rollout(&setup, &steps),
    );
}

#[test]
fn any_event_sequence_keeps_slots_and_converges() {
    run(
        300,
        (setup(), prop::collection::vec(chaos_step(), 0..60)),
        |(setup, steps)| chaos(&setup, &steps),
    );
}

/// A config with `order`, `failure_action` and `parallelism`; the rest as Swarm's defaults.
fn cfg(parallelism: u64, order: UpdateOrder, failure_action: FailureAction) -> UpdateConfig {
    UpdateConfig {
        parallelism,
        failure_action,
        monitor: 0,
        order,
        ..UpdateConfig::default()
    }
}

/// Cases the properties found, kept as examples (each failed before its fix).
#[test]
fn found_cases_hold() {
    use FailureAction::{Pause, Rollback};
    use Step::*;
    use UpdateOrder::{StartFirst, StopFirst};
    let cases: Vec<(Setup, Vec<Step>)> = vec![
        // A scale-down in the same pass as an update step brought the removed slot back.
        (
            Setup {
                nodes: 1,
                replicas: 1,
                update: cfg(1, StopFirst, Pause),
                rollback: cfg(0, StopFirst, Pause),
            },
            vec![Scale(2), Orchestrate, NewSpec, Orchestrate, Scale(0), Orchestrate],
        ),
        // A restart and an update replacement in one pass: two new tasks in one slot.
        (
            Setup {
                nodes: 1,
                replicas: 1,
                update: cfg(0, StopFirst, Pause),
                rollback: cfg(0, StopFirst, Pause),
            },
            vec![
                Orchestrate,
                Place,
                Start(0),
                Scale(3),
                Orchestrate,
                Place,
                Fail(0),
                Start(0),
                Tick(5),
                NewSpec,
                Orchestrate,
            ],
        ),
        // Start-first, a second update while the first is in flight: three tasks in a slot.
        (
            Setup {
                nodes: 1,
                replicas: 2,
                update: cfg(2, StartFirst, Pause),
                rollback: cfg(0, StopFirst, Pause),
            },
            vec![
                Orchestrate,
                Place,
                Start(0),
                Start(0),
                NewSpec,
                Orchestrate,
                Place,
                NewSpec,
                Orchestrate,
            ],
        ),
        // A rollback and a restart in one pass: the store refused the transaction every pass.
        (
            Setup {
                nodes: 1,
                replicas: 1,
                update: cfg(0, StopFirst, Rollback),
                rollback: cfg(0, StopFirst, Pause),
            },
            vec![
                Orchestrate,
                NewSpec,
                Orchestrate,
                Place,
                Reject(0),
                Tick(4),
                Tick(1),
            ],
        ),
        // Stop-first after a stop-first update in flight: the new task ran beside the old.
        (
            Setup {
                nodes: 1,
                replicas: 1,
                update: cfg(0, StopFirst, Pause),
                rollback: cfg(0, StopFirst, Pause),
            },
            vec![
                Orchestrate,
                Place,
                Start(0),
                Orchestrate,
                NewSpec,
                Orchestrate,
                NewSpec,
                Orchestrate,
                Place,
                Start(0),
            ],
        ),
    ];
    for (setup, steps) in cases {
        if let Err(e) = chaos(&setup, &steps) {
            panic!("{e}\n{setup:?}\n{steps:?}");
        }
    }
}
