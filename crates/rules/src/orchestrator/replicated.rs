//! Replicated services: keep exactly `replicas` slots alive, replace tasks that die or whose
//! node went away, and let the updater replace tasks of an old spec.
//!
//! Scale-down removes slots whose task is not running first, then from the nodes that run
//! the most tasks of the service, as Swarm does.

use std::collections::{BTreeMap, BTreeSet};

use state::{NewTask, State};
use types::{Service, ServiceMode, TaskState};

use super::restart::{Restart, decide};
use super::slots::{Slot, SlotKey, dead, off_constraints, on_invalid_node, slots};
use super::{Inputs, Plan, update};

/// Reconciles one replicated service.
pub fn reconcile(state: &State, service: &Service, inputs: &mut Inputs<'_>, plan: &mut Plan) {
    let ServiceMode::Replicated { replicas } = service.spec.mode else {
        return;
    };
    let all = slots(state, service);
    let mut active: Vec<&Slot> = all.iter().filter(|s| s.active()).collect();
    let count = active.len() as u64;
    if count > replicas {
        // Slots removed now are neither restarted nor updated: a new task in one would
        // bring it back.
        let removed = scale_down(service, &active, (count - replicas) as usize, plan);
        active.retain(|s| !removed.contains(&s.key));
    }

    for slot in &active {
        replace_if_needed(state, service, slot, inputs, plan, false);
    }

    if count < replicas {
        let used: BTreeSet<u64> = all
            .iter()
            .filter_map(|s| {
                if let SlotKey::Number(n) = s.key {
                    Some(n)
                } else {
                    None
                }
            })
            .collect();
        let mut next = 1u64;
        for _ in count..replicas {
            if !plan.take_room(service) {
                break;
            }
            // Lowest slot number with no task at all, so history stays with its slot.
            while used.contains(&next) {
                next += 1;
            }
            plan.create(
                service,
                NewTask {
                    id: (inputs.ids)(),
                    slot: next,
                    node_id: String::new(),
                    desired_state: TaskState::Running,
                    job_iteration: None,
                },
            );
            next += 1;
        }
    }
    update::reconcile(state, service, &active, inputs, plan);
}

/// Replaces the slot's current task if it died (per restart policy) or sits on a node it must
/// leave. Shared with jobs and global services (`preset_node` keeps the node for global).
pub fn replace_if_needed(
    state: &State,
    service: &Service,
    slot: &Slot,
    inputs: &mut Inputs<'_>,
    plan: &mut Plan,
    is_job: bool,
) {
    let Some(current) = slot.current() else { return };
    let node_id = match &slot.key {
        SlotKey::Node(n) => n.clone(),
        SlotKey::Number(_) => String::new(),
    };
    let slot_number = current.slot;
    // A task of the slot told to stop (by an update) may still run: the replacement waits
    // READY until it has stopped (the updater's hand-over then starts it), so a stop-first
    // slot never runs two tasks. One still meant to run (start-first's serving task) is not
    // waited for: nothing would stop it.
    let stopping = slot.tasks.iter().any(|t| {
        t.id != current.id
            && t.desired_state >= TaskState::Shutdown
            && !(dead(t) || t.status.state < TaskState::Assigned || on_invalid_node(state, t))
    });
    let desired = if is_job {
        TaskState::Complete
    } else if stopping {
        TaskState::Ready
    } else {
        TaskState::Running
    };
    if dead(current) {
        if current.desired_state >= TaskState::Shutdown {
            return;
        }
        let restart = decide(slot, current, is_job);
        let due = match restart {
            Restart::Never => false,
            Restart::Now => true,
            Restart::At(at) => inputs.now >= at,
        };
        if due {
            plan.desire(current, TaskState::Shutdown);
            plan.create(
                service,
                NewTask {
                    id: (inputs.ids)(),
                    slot: slot_number,
                    node_id,
                    desired_state: desired,
                    job_iteration: current.job_iteration,
                },
            );
        }
    } else if node_id.is_empty()
        && (on_invalid_node(state, current) || off_constraints(state, current, &mut inputs.parsed))
    {
        // Node down, drained, removed or no longer suitable: move the task elsewhere at once.
        plan.desire(current, TaskState::Shutdown);
        plan.create(
            service,
            NewTask {
                id: (inputs.ids)(),
                slot: slot_number,
                node_id,
                desired_state: desired,
                job_iteration: current.job_iteration,
            },
        );
    }
}

/// Desires the removal of `remove` slots' tasks; returns the keys of those slots.
fn scale_down(service: &Service, active: &[&Slot], remove: usize, plan: &mut Plan) -> BTreeSet<SlotKey> {
    let mut per_node: BTreeMap<&str, usize> = BTreeMap::new();
    for slot in active {
        if let Some(t) = slot.current() {
            *per_node.entry(t.node_id.as_str()).or_default() += 1;
        }
    }
    let mut order: Vec<&Slot> = active.to_vec();
    order.sort_by_key(|slot| {
        let t = slot.current();
        let running = t.is_some_and(|t| t.status.state == TaskState::Running);
        let load = t
            .map(|t| per_node.get(t.node_id.as_str()).copied().unwrap_or(0))
            .unwrap_or(0);
        let number = if let SlotKey::Number(n) = slot.key { n } else { 0 };
        // Not running first, then busiest node first, then highest slot first.
        (running, std::cmp::Reverse(load), std::cmp::Reverse(number))
    });
    let mut removed = BTreeSet::new();
    for slot in order.into_iter().take(remove) {
        for t in slot.runnable() {
            plan.desire(t, TaskState::Remove);
        }
        removed.insert(slot.key.clone());
    }
    let _ = service;
    removed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orchestrator::fixtures::World;

    #[test]
    fn creates_missing_slots_then_scales_down_the_busiest_node() {
        let mut w = World::new().nodes(&["n1", "n2"]).replicated("web", 3);
        let plan = w.reconcile();
        assert_eq!(plan.created(), 3);
        w.apply(plan);
        w.place_all_round_robin();
        w.run_all();
        assert!(w.reconcile().is_empty(), "converged");
        w.set_replicas("web", 1);
        let plan = w.reconcile();
        let removed = plan.desired_for(&w.service_id("web"));
        assert_eq!(removed.len(), 2);
        assert!(removed.iter().all(|(_, s)| *s == TaskState::Remove));
        // n1 ran two of the three tasks, so both removals come from it.
        w.apply(plan);
        let left: Vec<_> = w
            .runnable_tasks("web")
            .iter()
            .map(|t| t.node_id.clone())
            .collect();
        assert_eq!(left, ["n2"]);
    }

    #[test]
    fn a_task_on_a_down_node_is_replaced_at_once() {
        let mut w = World::new().nodes(&["n1", "n2"]).replicated("web", 2);
        let plan = w.reconcile();
        w.apply(plan);
        w.place_all_round_robin();
        w.run_all();
        w.node_down("n1");
        let plan = w.reconcile();
        assert_eq!(plan.created(), 1);
        assert_eq!(plan.desired_for(&w.service_id("web")).len(), 1);
    }

    /// Found by the orchestrator's property test: a stop-first update's new task lost with its
    /// node while the old task was still stopping; the replacement must wait for it too.
    #[test]
    fn a_replacement_waits_for_a_task_of_its_slot_still_stopping() {
        let mut w = World::new().nodes(&["n1", "n2"]).replicated("web", 1);
        let plan = w.reconcile();
        w.apply(plan);
        w.place_all_round_robin();
        w.run_all();
        w.update_service("web", |s| {
            let mut task = (*s.task).clone();
            task.container.image = "img:2".into();
            s.task = std::sync::Arc::new(task);
        });
        let plan = w.reconcile();
        w.apply(plan);
        // The old task is told to stop but still runs; the new one, READY, is placed on n2
        // (n1 paused meanwhile: its task stays).
        let mut n1 = (**w.state.node("n1").unwrap()).clone();
        n1.spec.availability = types::Availability::Pause;
        w.apply_node(n1);
        w.place_all_round_robin();
        let new = w.runnable_tasks("web");
        let new = new
            .iter()
            .find(|t| t.desired_state == TaskState::Ready)
            .expect("a READY task");
        assert_eq!(new.node_id, "n2");
        w.node_down("n2");
        let plan = w.reconcile();
        let created = plan.creates_for(&w.service_id("web"));
        assert_eq!(created.len(), 1);
        assert_eq!(
            created[0].desired_state,
            TaskState::Ready,
            "the old task still runs on n1"
        );
    }

    #[test]
    fn a_failed_task_restarts_after_the_delay() {
        let mut w = World::new().nodes(&["n1"]).replicated("web", 1);
        let plan = w.reconcile();
        w.apply(plan);
        w.place_all_round_robin();
        w.fail_all(1);
        assert_eq!(w.reconcile().created(), 0, "restart delay (5 s) not yet over");
        w.advance_secs(6);
        assert_eq!(w.reconcile().created(), 1);
    }

    #[test]
    fn a_task_leaves_a_node_that_no_longer_meets_its_constraints() {
        let mut task = types::TaskSpec::default();
        task.placement.constraints = vec!["node.labels.type==x".into()];
        let mut w = World::new()
            .nodes(&["n1"])
            .service("web", ServiceMode::Replicated { replicas: 1 }, task);
        let mut n1 = (**w.state.node("n1").unwrap()).clone();
        n1.spec.labels.insert("type".into(), "x".into());
        w.apply_node(n1.clone());
        let plan = w.reconcile();
        w.apply(plan);
        w.place_all_round_robin();
        w.run_all();
        assert!(w.reconcile().is_empty(), "converged");
        n1.spec.labels.remove("type");
        w.apply_node(n1);
        let plan = w.reconcile();
        assert_eq!(
            plan.created(),
            1,
            "a replacement, to be placed where the label is"
        );
        let old = w.runnable_tasks("web")[0].id.clone();
        assert_eq!(
            plan.desired_for(&w.service_id("web")),
            [(old.as_str(), TaskState::Shutdown)]
        );
    }
}
