//! Global services: one task on every node that may run it. New nodes get a task, drained
//! nodes and nodes that no longer satisfy the constraints lose theirs; a down node keeps its
//! task (it cannot run elsewhere) and resumes it when it returns.

use std::collections::BTreeMap;

use state::{NewTask, State};
use types::{Availability, Node, NodeState, Service, TaskState};

use crate::constraint::Parsed;

use super::replicated::replace_if_needed;
use super::slots::{Slot, SlotKey, slots};
use super::{Inputs, Plan, update};

/// True if `node` may run tasks of `service` at all (constraints and platform).
pub fn fits(service: &Service, node: &Node, parsed: &mut Parsed) -> bool {
    let placement = &service.spec.task.placement;
    let constraints_ok = parsed.meets(&service.spec.task, node);
    let platform_ok = placement.platforms.is_empty()
        || placement.platforms.iter().any(|p| {
            (p.os.is_empty() || p.os.eq_ignore_ascii_case(&node.description.platform.os))
                && (p.architecture.is_empty()
                    || same_arch(&p.architecture, &node.description.platform.architecture))
        });
    constraints_ok && platform_ok
}

/// Architecture names compare equal across Docker's and the kernel's spellings.
fn same_arch(a: &str, b: &str) -> bool {
    let canon = |s: &str| match s.to_ascii_lowercase().as_str() {
        "x86_64" | "amd64" => "amd64".to_string(),
        "aarch64" | "arm64" => "arm64".to_string(),
        other => other.to_string(),
    };
    canon(a) == canon(b)
}

/// True if a new task may be started on `node`.
pub fn accepts_new(node: &Node) -> bool {
    node.status.state == NodeState::Ready && node.spec.availability == Availability::Active
}

/// Reconciles one global service (jobs reuse this with `is_job`).
pub fn reconcile(state: &State, service: &Service, inputs: &mut Inputs<'_>, plan: &mut Plan) {
    reconcile_nodes(state, service, inputs, plan, false);
}

/// The per-node pass shared by global services and global jobs.
pub fn reconcile_nodes(
    state: &State,
    service: &Service,
    inputs: &mut Inputs<'_>,
    plan: &mut Plan,
    is_job: bool,
) {
    let all = slots(state, service);
    let by_node: BTreeMap<&str, &Slot> = all
        .iter()
        .filter_map(|s| {
            if let SlotKey::Node(n) = &s.key {
                Some((n.as_str(), s))
            } else {
                None
            }
        })
        .collect();
    let iteration = service.job_status.as_ref().map(|j| j.job_iteration);
    let desired = if is_job {
        TaskState::Complete
    } else {
        TaskState::Running
    };
    for node in state.nodes() {
        let slot = by_node.get(node.id.as_str());
        let wanted = fits(service, node, &mut inputs.parsed) && node.spec.availability != Availability::Drain;
        match slot {
            Some(slot) if slot.active() => {
                if !wanted {
                    for t in slot.runnable() {
                        plan.desire(t, TaskState::Shutdown);
                    }
                } else if !is_job {
                    replace_if_needed(state, service, slot, inputs, plan, false);
                } else if let Some(t) = slot.current()
                    && t.job_iteration == iteration
                {
                    replace_if_needed(state, service, slot, inputs, plan, true);
                }
            }
            _ => {
                // A job runs once per node per iteration: a finished task of this iteration
                // (even if no longer wanted) means the node is done.
                let done = is_job
                    && slot.is_some_and(|s| {
                        s.tasks
                            .iter()
                            .any(|t| t.job_iteration == iteration && t.status.state == TaskState::Complete)
                    });
                if wanted && accepts_new(node) && !done && plan.take_room(service) {
                    plan.create(
                        service,
                        NewTask {
                            id: (inputs.ids)(),
                            slot: 0,
                            node_id: node.id.clone(),
                            desired_state: desired,
                            job_iteration: if is_job { iteration } else { None },
                        },
                    );
                }
            }
        }
    }
    // Tasks on nodes that were removed from the cluster.
    for slot in &all {
        if let SlotKey::Node(n) = &slot.key
            && state.node(n).is_none()
        {
            for t in slot.runnable() {
                plan.desire(t, TaskState::Shutdown);
            }
        }
    }
    if !is_job {
        let active: Vec<&Slot> = all.iter().filter(|s| s.active()).collect();
        update::reconcile(state, service, &active, inputs, plan);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orchestrator::fixtures::World;
    use types::{ServiceMode, TaskSpec};

    #[test]
    fn one_task_per_node_following_drains() {
        let mut w = World::new().nodes(&["n1", "n2", "n3"]).service(
            "agent",
            ServiceMode::Global,
            TaskSpec::default(),
        );
        let plan = w.reconcile();
        assert_eq!(plan.created(), 3);
        w.apply(plan);
        w.place_all_round_robin();
        w.run_all();
        assert!(w.reconcile().is_empty());
        let mut n = (**w.state.node("n2").unwrap()).clone();
        n.spec.availability = Availability::Drain;
        w.apply_node(n);
        let plan = w.reconcile();
        assert_eq!(plan.desired_for(&w.service_id("agent")).len(), 1);
        assert_eq!(plan.created(), 0);
        w.node_down("n3");
        let plan = w.reconcile();
        assert_eq!(plan.created(), 0, "a down node keeps its global task");
    }
}
