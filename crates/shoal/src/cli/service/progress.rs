//! Waiting for a service to converge after create, update, scale or rollback, with a display
//! like the docker CLI's: an overall line and one line per slot (or node), each printed
//! again only when it changes, so it reads well on a terminal and in a log alike.
//!
//! ```text
//! loop every 200 ms:
//!   GET /services/{id}        paused update/rollback → error; completed update → done
//!   GET /tasks?filters={service, _up-to-date}   (tasks of the current spec)
//!   GET /nodes                tasks on down nodes do not count
//!   all slots running (jobs: all completions complete) → done
//! ```

use std::collections::{BTreeMap, HashSet};
use std::io::Write as _;
use std::time::Duration;

use api::Client;
use api::client::Filters;
use api::model::{Service, Task};

use crate::cli::Console;
use crate::cli::output::short_id;

/// Between polls, as the docker CLI.
const POLL: Duration = Duration::from_millis(200);
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
    let total = match (mode.replicated, mode.replicated_job) {
        (Some(r), _) => r.replicas.unwrap_or(1),
        (_, Some(j)) => j.total_completions.unwrap_or(1),
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
    let overall = if job {
        format!("job progress: {done} out of {total} complete")
    } else if rollback {
        format!("overall progress: rolling back update: {done} out of {total} tasks")
    } else {
        format!("overall progress: {done} out of {total} tasks")
    };
    // A global service with no task yet has no known total: wait for the tasks to appear.
    let converged = total > 0 && done >= total;
    Summary {
        overall,
        slots,
        converged,
        job,
    }
}

/// Polls until `service_id` converges, printing progress unless `quiet`. Fails when an
/// update or rollback pauses, or the service disappears.
pub async fn wait(
    client: &Client,
    console: &mut Console,
    service_id: &str,
    quiet: bool,
) -> anyhow::Result<()> {
    let filters = Filters::from([
        ("service".to_string(), vec![service_id.to_string()]),
        ("_up-to-date".to_string(), vec!["true".to_string()]),
    ]);
    let mut shown: BTreeMap<String, String> = BTreeMap::new();
    let mut rollback = false;
    let mut print = |console: &mut Console, key: &str, line: String| -> anyhow::Result<()> {
        if !quiet && shown.get(key) != Some(&line) {
            writeln!(console.out, "{line}")?;
            shown.insert(key.to_string(), line);
        }
        Ok(())
    };
    loop {
        let service = match crate::cli::lookup::service(client, service_id, false).await {
            Ok(service) => service,
            Err(e) if e.is_not_found() => anyhow::bail!("service {service_id} was removed while converging"),
            Err(e) => return Err(e.into()),
        };
        if let Some(status) = &service.update_status {
            match status.state.as_str() {
                "paused" => anyhow::bail!("service update paused: {}", status.message),
                "rollback_paused" => anyhow::bail!("service rollback paused: {}", status.message),
                "rollback_started" => {
                    rollback = true;
                    if !status.message.is_empty() {
                        print(console, "rollback", format!("rollback: {}", status.message))?;
                    }
                }
                _ => {}
            }
        }
        let tasks = client.tasks(&filters).await?;
        let active: HashSet<String> = client
            .nodes(&Filters::new())
            .await?
            .into_iter()
            .filter(|n| n.status.state != "down")
            .map(|n| n.id)
            .collect();
        let summary = summarise(&service, &tasks, &active, rollback);
        print(console, "overall", summary.overall.clone())?;
        for (label, text) in &summary.slots {
            print(console, label, format!("{label}: {text}"))?;
        }
        let completed = service
            .update_status
            .as_ref()
            .is_some_and(|s| s.state.ends_with("completed"));
        if summary.converged || completed {
            let last = if summary.job {
                "job complete".to_string()
            } else {
                format!("verify: Service {service_id} converged")
            };
            print(console, "verify", last)?;
            return Ok(());
        }
        tokio::time::sleep(POLL).await;
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
