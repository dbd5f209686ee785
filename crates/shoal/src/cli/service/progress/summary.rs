//! Where one poll says a service stands: the docker CLI's overall line ("2 out of 3 tasks")
//! and one line per slot (or node), and whether every task is where it should be. Pure: the
//! tracker decides what the answer means over time.

use std::collections::{BTreeMap, HashSet};

use api::model::{Service, Task};

use crate::cli::output::short_id;

/// Above this many slots only the overall line is shown.
const MAX_SLOT_LINES: u64 = 20;

/// Where a service stands, computed from one poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// The overall line (`overall progress: 2 out of 3 tasks`).
    pub overall: String,
    /// One line per slot or node: label → state (or error).
    pub slots: BTreeMap<String, String>,
    /// Every task is where it should be.
    pub converged: bool,
    /// The service is a job (finishes with "job complete").
    pub job: bool,
}

/// Task states in Swarm's order, for "lowest desired state wins" among tasks of one slot.
fn rank(state: &str) -> usize {
    types::TaskState::parse(state)
        .map(|s| s as usize + 1)
        .unwrap_or(0)
}

/// Whether a task is meant to be stopped (or, for jobs, done): it no longer counts.
fn terminal(state: &str) -> bool {
    types::TaskState::parse(state).is_some_and(types::TaskState::is_terminal)
}

/// Where one poll says the service is. `active` holds the nodes that are not down.
pub fn summarise(service: &Service, tasks: &[Task], active: &HashSet<String>, rollback: bool) -> Summary {
    let mode = &service.spec.mode;
    let job = mode.replicated_job.is_some() || mode.global_job.is_some();
    let iteration = service.job_status.as_ref().map(|j| j.job_iteration.index);
    // One task per slot (or node): the lowest desired state, then the lowest observed state.
    let global = mode.global.is_some() || mode.global_job.is_some();
    let mut by_key: BTreeMap<String, &Task> = BTreeMap::new();
    for task in tasks {
        if rank(&task.desired_state) == 0 || rank(&task.status.state) == 0 {
            continue;
        }
        if job && task.job_iteration.map(|v| v.index) != iteration {
            continue;
        }
        if !task.node_id.is_empty() && !active.contains(&task.node_id) {
            continue;
        }
        let key = if global {
            short_id(&task.node_id).to_string()
        } else {
            format!("{:06}", task.slot)
        };
        let better = by_key.get(&key).is_none_or(|old| {
            (rank(&task.desired_state), rank(&task.status.state))
                < (rank(&old.desired_state), rank(&old.status.state))
        });
        if better {
            by_key.insert(key, task);
        }
    }
    // Tasks being stopped (scale down, replaced ones) neither count nor show; job tasks are
    // meant to end, so theirs do.
    by_key.retain(|_, task| job || !terminal(&task.desired_state));
    let total = match (mode.replicated, mode.replicated_job) {
        (Some(r), _) => r.replicas.unwrap_or(1),
        (_, Some(j)) => j.total_completions.unwrap_or(1),
        // Global: as docker, one task per node that has one not being stopped.
        _ => by_key.len() as u64,
    };
    let wanted = if job { "complete" } else { "running" };
    let done = by_key.values().filter(|t| t.status.state == wanted).count() as u64;
    let mut slots = BTreeMap::new();
    if total <= MAX_SLOT_LINES {
        for (key, task) in &by_key {
            let label = if global {
                key.clone()
            } else {
                // Job slots count from 0, replicated slots from 1.
                let slot = if job { task.slot + 1 } else { task.slot };
                format!("{slot}/{total}")
            };
            let text = if task.status.err.is_empty() {
                task.status.state.clone()
            } else {
                task.status.err.clone()
            };
            slots.insert(label, text);
        }
    }
    // A global service's total is the nodes with a task: with none yet, either the tasks
    // are not created yet or no node is eligible; docker waits either way.
    let waiting_for_tasks = global && by_key.is_empty();
    let overall = if waiting_for_tasks {
        "overall progress: waiting for new tasks".to_string()
    } else if job {
        format!("job progress: {done} out of {total} complete")
    } else if rollback {
        format!("overall progress: rolling back update: {done} out of {total} tasks")
    } else {
        format!("overall progress: {done} out of {total} tasks")
    };
    // `scale web=0` converges at 0 out of 0, as docker's count does.
    let converged = !waiting_for_tasks && done >= total;
    Summary {
        overall,
        slots,
        converged,
        job,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use api::model::{ObjectVersion, ReplicatedService, TaskStatus};

    use super::*;

    fn task(slot: u64, node: &str, desired: &str, state: &str) -> Task {
        Task {
            slot,
            node_id: node.into(),
            desired_state: desired.into(),
            status: TaskStatus {
                state: state.into(),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn replicated(replicas: u64) -> Service {
        let mut service = Service::default();
        service.spec.mode.replicated = Some(ReplicatedService {
            replicas: Some(replicas),
        });
        service
    }

    #[test]
    fn replicated_converges_when_every_slot_runs() {
        let active = HashSet::from(["n1".to_string()]);
        let tasks = [
            task(1, "n1", "running", "running"),
            task(2, "n1", "running", "preparing"),
        ];
        let summary = summarise(&replicated(2), &tasks, &active, false);
        assert_eq!(summary.overall, "overall progress: 1 out of 2 tasks");
        assert_eq!(summary.slots["2/2"], "preparing");
        assert!(!summary.converged);
        let tasks = [
            task(1, "n1", "running", "running"),
            task(2, "n1", "running", "running"),
            task(2, "n1", "shutdown", "running"),
        ];
        assert!(summarise(&replicated(2), &tasks, &active, false).converged);
        // Nothing to run converges at once; tasks being stopped do not count.
        let stopping = [task(1, "n1", "shutdown", "running")];
        let zero = summarise(&replicated(0), &stopping, &active, false);
        assert_eq!(
            (zero.overall.as_str(), zero.converged),
            ("overall progress: 0 out of 0 tasks", true)
        );
        assert!(zero.slots.is_empty());
        // A global service with no task yet waits for its tasks.
        let mut global = Service::default();
        global.spec.mode.global = Some(api::model::Empty {});
        let none = summarise(&global, &[], &active, false);
        assert_eq!(
            (none.overall.as_str(), none.converged),
            ("overall progress: waiting for new tasks", false)
        );
        assert!(summarise(&global, &[task(0, "n1", "running", "running")], &active, false).converged);
        // Tasks on a down node do not count.
        let elsewhere = [
            task(1, "n2", "running", "running"),
            task(2, "n2", "running", "running"),
        ];
        assert!(!summarise(&replicated(2), &elsewhere, &active, true).converged);
        assert!(
            summarise(&replicated(2), &elsewhere, &active, true)
                .overall
                .contains("rolling back")
        );
    }

    #[test]
    fn jobs_count_completions_of_the_current_iteration() {
        let mut service = Service::default();
        service.spec.mode.replicated_job = Some(api::model::ReplicatedJob {
            max_concurrent: Some(1),
            total_completions: Some(2),
        });
        service.job_status = Some(api::model::JobStatus {
            job_iteration: ObjectVersion { index: 1 },
            ..Default::default()
        });
        let mut done = task(0, "n1", "complete", "complete");
        done.job_iteration = Some(ObjectVersion { index: 1 });
        let mut old = task(1, "n1", "complete", "complete");
        old.job_iteration = Some(ObjectVersion { index: 0 });
        let active = HashSet::from(["n1".to_string()]);
        let summary = summarise(&service, &[done.clone(), old], &active, false);
        assert_eq!(
            (summary.overall.as_str(), summary.converged),
            ("job progress: 1 out of 2 complete", false)
        );
        let mut second = done.clone();
        second.slot = 1;
        assert!(summarise(&service, &[done, second], &active, false).converged);
    }
}
