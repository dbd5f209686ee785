//! Job services: tasks run to completion. A replicated job runs until `total_completions`
//! tasks completed, at most `max_concurrent` at once; a global job runs once on every node.
//! Updating a job starts a new iteration, which stops the old one's tasks.

use std::collections::BTreeSet;

use state::{NewTask, State};
use types::{Service, ServiceMode, TaskState};

use super::replicated::replace_if_needed;
use super::slots::{SlotKey, dead, slots};
use super::{Inputs, Plan, global};

/// Reconciles one job service.
pub fn reconcile(state: &State, service: &Service, inputs: &mut Inputs<'_>, plan: &mut Plan) {
    let iteration = service.job_status.as_ref().map(|j| j.job_iteration);
    // Tasks of earlier iterations stop.
    for t in state.tasks_of_service(&service.id) {
        if t.job_iteration != iteration && t.desired_state <= TaskState::Complete && !dead(t) {
            plan.desire(t, TaskState::Shutdown);
        }
    }
    match service.spec.mode {
        ServiceMode::GlobalJob => global::reconcile_nodes(state, service, inputs, plan, true),
        ServiceMode::ReplicatedJob {
            max_concurrent,
            total_completions,
        } => replicated_job(
            state,
            service,
            iteration,
            max_concurrent,
            total_completions,
            inputs,
            plan,
        ),
        _ => {}
    }
}

fn replicated_job(
    state: &State,
    service: &Service,
    iteration: Option<u64>,
    max_concurrent: u64,
    total: u64,
    inputs: &mut Inputs<'_>,
    plan: &mut Plan,
) {
    let mut completed = 0u64;
    let mut busy = 0u64;
    let mut used = BTreeSet::new();
    for slot in slots(state, service) {
        let SlotKey::Number(n) = slot.key else { continue };
        let mine: Vec<_> = slot
            .tasks
            .iter()
            .filter(|t| t.job_iteration == iteration)
            .collect();
        if mine.is_empty() {
            continue;
        }
        used.insert(n);
        if mine.iter().any(|t| t.status.state == TaskState::Complete) {
            completed += 1;
            continue;
        }
        if slot.current().is_some_and(|t| t.job_iteration == iteration) {
            busy += 1;
            replace_if_needed(state, service, &slot, inputs, plan, true);
        }
    }
    let room = max_concurrent
        .saturating_sub(busy)
        .min(total.saturating_sub(completed + busy));
    // Swarm numbers a replicated job's slots 0..total-1, and the docker CLI's wait counts
    // exactly those.
    let mut next = 0u64;
    for _ in 0..room {
        if !plan.take_room(service) {
            break;
        }
        while used.contains(&next) {
            next += 1;
        }
        plan.create(
            service,
            NewTask {
                id: (inputs.ids)(),
                slot: next,
                node_id: String::new(),
                desired_state: TaskState::Complete,
                job_iteration: iteration,
            },
        );
        used.insert(next);
    }
}

#[cfg(test)]
mod tests {
    use crate::orchestrator::fixtures::World;
    use types::{RestartCondition, RestartPolicy, ServiceMode, TaskSpec};

    #[test]
    fn a_replicated_job_runs_to_its_completions() {
        let spec = TaskSpec {
            restart: RestartPolicy {
                condition: RestartCondition::OnFailure,
                delay: Some(0),
                ..Default::default()
            },
            ..Default::default()
        };
        let mut w = World::new().nodes(&["n1", "n2"]).service(
            "job",
            ServiceMode::ReplicatedJob {
                max_concurrent: 2,
                total_completions: 5,
            },
            spec,
        );
        let mut rounds = 0;
        loop {
            let plan = w.reconcile();
            if plan.is_empty() {
                break;
            }
            assert!(plan.created() <= 2, "max concurrent");
            w.apply(plan);
            w.place_all_round_robin();
            w.run_all();
            w.complete_all();
            rounds += 1;
            assert!(rounds < 10);
        }
        let done = w
            .state
            .tasks()
            .filter(|t| t.status.state == types::TaskState::Complete)
            .count();
        assert_eq!(done, 5);
    }

    #[test]
    fn replicated_job_slots_are_numbered_from_zero() {
        let mut w = World::new().nodes(&["n1"]).service(
            "job",
            ServiceMode::ReplicatedJob {
                max_concurrent: 3,
                total_completions: 3,
            },
            TaskSpec::default(),
        );
        let plan = w.reconcile();
        let mut slots: Vec<u64> = plan
            .creates_for(&w.service_id("job"))
            .iter()
            .map(|t| t.slot)
            .collect();
        slots.sort_unstable();
        assert_eq!(slots, [0, 1, 2], "the docker CLI waits for slots 0..n-1");
    }
}
