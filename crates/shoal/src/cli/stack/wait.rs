//! `depends_on`: before a service is created or updated, every service it depends on must
//! run all its tasks. The condition is polled (the API has no "wait for service" call),
//! with a deadline, and each dependency is named on the terminal while it is waited for.
//!
//! `service_healthy` needs nothing more than `service_started` here: a task whose spec has
//! a health check reports RUNNING only once the check passed (the agent's runner), and the
//! compose crate refuses `service_healthy` on a dependency without a health check.
//!
//! `service_completed_successfully` (compose's meaning: the dependency ran to completion with
//! exit 0) reads the dependency's tasks ([`completion`]): every slot's newest task `complete`
//! (a job: its wanted completions in its current iteration). A task that failed and will not be
//! run again (restart condition `none`, or `on-failure` with its attempts used up) fails the
//! deploy with compose's words; a dependency restarted on any exit never completes, which the
//! compose crate refuses before anything is deployed, and this refuses again for a service
//! changed since.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::time::Duration;

use api::Client;
use api::client::Filters;
use compose::{Condition, Dependency};

use crate::cli::Console;

/// Between two looks at a dependency's task counts.
const POLL: Duration = Duration::from_millis(250);

/// Whether `status` says every task the service wants is running.
pub fn ready(status: Option<api::model::ServiceStatus>) -> bool {
    status.is_some_and(|s| s.desired_tasks > 0 && s.running_tasks >= s.desired_tasks)
}

/// Where a dependency stands on `service_completed_successfully`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completion {
    /// Every task it wants ended with exit 0.
    Done,
    /// `complete` of `wanted` so far.
    Waiting {
        /// Tasks (slots, or a job's completions) that completed.
        complete: u64,
        /// How many it needs.
        wanted: u64,
    },
    /// It cannot complete successfully any more: why.
    Failed(String),
}

/// Where `service` (with `tasks`, every task of it) stands on `service_completed_successfully`.
pub fn completion(service: &api::model::Service, tasks: &[api::model::Task]) -> Completion {
    let spec = &service.spec;
    let name = &spec.name;
    let mode = &spec.mode;
    let policy = spec.task_template.restart_policy.as_ref();
    let condition = policy.map_or("any", |p| p.condition.as_str());
    let job = mode.replicated_job.is_some() || mode.global_job.is_some();
    if !job && matches!(condition, "any" | "") {
        return Completion::Failed(format!(
            "service {name:?} never completes: Swarm restarts its tasks on any exit (restart condition any)"
        ));
    }
    let failed = |t: &api::model::Task| matches!(t.status.state.as_str(), "failed" | "rejected");
    let exit = |t: &api::model::Task| t.status.container_status.as_ref().map_or(-1, |c| c.exit_code);
    if job {
        let iteration = tasks
            .iter()
            .map(|t| t.job_iteration.map_or(0, |v| v.index))
            .max()
            .unwrap_or(0);
        let current = tasks
            .iter()
            .filter(|t| t.job_iteration.map_or(0, |v| v.index) == iteration);
        let complete = current.clone().filter(|t| t.status.state == "complete").count() as u64;
        let wanted = match &mode.replicated_job {
            Some(j) => j.total_completions.or(j.max_concurrent).unwrap_or(1),
            // A global job: one completion per node it runs on.
            None => tasks
                .iter()
                .map(|t| t.node_id.as_str())
                .collect::<std::collections::BTreeSet<_>>()
                .len()
                .max(1) as u64,
        };
        return if complete >= wanted {
            Completion::Done
        } else {
            Completion::Waiting { complete, wanted }
        };
    }
    // A slot's tasks, oldest first: replicated services by slot, global ones by node.
    let mut slots: BTreeMap<(u64, &str), Vec<&api::model::Task>> = BTreeMap::new();
    for t in tasks {
        let key = if mode.global.is_some() {
            (0, t.node_id.as_str())
        } else {
            (t.slot, "")
        };
        slots.entry(key).or_default().push(t);
    }
    let mut complete = 0;
    for history in slots.values_mut() {
        history.sort_by_key(|t| t.version.index);
        let Some(newest) = history.last() else {
            continue;
        };
        if newest.status.state == "complete" {
            complete += 1;
            continue;
        }
        if failed(newest) {
            let failures = history.iter().filter(|t| failed(t)).count() as u64;
            let attempts_left = match (condition, policy.and_then(|p| p.max_attempts)) {
                ("none", _) => false,
                (_, Some(max)) if max > 0 => failures <= max,
                _ => true,
            };
            if !attempts_left {
                return Completion::Failed(format!(
                    "service {name:?} didn't complete successfully: exit {}",
                    exit(newest)
                ));
            }
        }
    }
    let wanted = match &mode.replicated {
        Some(r) => r.replicas.unwrap_or(1),
        None => (slots.len() as u64).max(1),
    };
    if complete >= wanted {
        Completion::Done
    } else {
        Completion::Waiting { complete, wanted }
    }
}

/// Waits until every one of `deps` is ready, or fails at `timeout` naming the laggard.
pub async fn dependencies(
    client: &Client,
    console: &mut Console,
    service: &str,
    deps: &[Dependency],
    timeout: Duration,
) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + timeout;
    for dep in deps {
        let what = match dep.condition {
            Condition::Started => "running",
            Condition::Healthy => "healthy",
            Condition::CompletedSuccessfully => "completed successfully",
        };
        let mut told = false;
        loop {
            let mut filters = Filters::new();
            filters.insert("name".into(), vec![dep.service.clone()]);
            let found = client.services(&filters, true).await?;
            let current = found.iter().find(|s| s.spec.name == dep.service);
            let status = current.and_then(|s| s.service_status);
            if dep.condition == Condition::CompletedSuccessfully {
                let progress = match current {
                    Some(current) => {
                        let mut filters = Filters::new();
                        filters.insert("service".into(), vec![current.id.clone()]);
                        let tasks = client.tasks(&filters).await?;
                        completion(current, &tasks)
                    }
                    None => Completion::Waiting {
                        complete: 0,
                        wanted: 1,
                    },
                };
                match progress {
                    Completion::Done => break,
                    Completion::Failed(why) => {
                        anyhow::bail!(
                            "{service} depends on {} completing successfully: {why}",
                            dep.service
                        )
                    }
                    Completion::Waiting { complete, wanted } => {
                        if !told {
                            writeln!(
                                console.out,
                                "Waiting for {} to complete successfully before {service}",
                                dep.service
                            )?;
                            told = true;
                        }
                        if tokio::time::Instant::now() >= deadline {
                            anyhow::bail!(
                                "{service} depends on {} completing successfully, which it had not after {}s \
                                 ({complete}/{wanted} tasks complete); see `shoal service ps {}`",
                                dep.service,
                                timeout.as_secs(),
                                dep.service
                            );
                        }
                    }
                }
                tokio::time::sleep(POLL).await;
                continue;
            }
            if ready(status) {
                break;
            }
            if !told {
                writeln!(
                    console.out,
                    "Waiting for {} to be {what} before {service}",
                    dep.service
                )?;
                told = true;
            }
            if tokio::time::Instant::now() >= deadline {
                let (running, desired) = status.map_or((0, 0), |s| (s.running_tasks, s.desired_tasks));
                anyhow::bail!(
                    "{service} depends on {} being {what}, which it was not after {}s ({running}/{desired} tasks running); \
                     see `shoal service ps {}`",
                    dep.service,
                    timeout.as_secs(),
                    dep.service
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use api::model::ServiceStatus;

    fn service(mode: serde_json::Value, restart: serde_json::Value) -> api::model::Service {
        serde_json::from_value(serde_json::json!({
            "ID": "s1", "Version": {"Index": 1},
            "Spec": {"Name": "st_init", "Mode": mode,
                     "TaskTemplate": {"ContainerSpec": {"Image": "i"}, "RestartPolicy": restart}},
        }))
        .unwrap()
    }

    fn task(index: u64, slot: u64, state: &str, exit: i64) -> api::model::Task {
        serde_json::from_value(serde_json::json!({
            "ID": format!("t{index}"), "Version": {"Index": index}, "ServiceID": "s1", "Slot": slot,
            "NodeID": "n1", "DesiredState": "running",
            "Status": {"State": state, "ContainerStatus": {"ExitCode": exit}},
            "Spec": {"ContainerSpec": {"Image": "i"}},
        }))
        .unwrap()
    }

    #[test]
    fn completed_successfully_means_every_slots_newest_task_completed() {
        let none = serde_json::json!({"Condition": "none"});
        let two = serde_json::json!({"Replicated": {"Replicas": 2}});
        let s = service(two.clone(), none.clone());
        assert_eq!(
            completion(&s, &[]),
            Completion::Waiting {
                complete: 0,
                wanted: 2
            }
        );
        let done = [task(5, 1, "complete", 0), task(6, 2, "complete", 0)];
        assert_eq!(completion(&s, &done), Completion::Done);
        let one = [task(5, 1, "complete", 0), task(6, 2, "running", 0)];
        assert_eq!(
            completion(&s, &one),
            Completion::Waiting {
                complete: 1,
                wanted: 2
            }
        );
        // Restart none: a failure is final, with compose's words.
        let failed = [task(5, 1, "complete", 0), task(6, 2, "failed", 3)];
        assert_eq!(
            completion(&s, &failed),
            Completion::Failed("service \"st_init\" didn't complete successfully: exit 3".into())
        );
        // On failure with attempts left: its replacement is waited for, and counts once done.
        let retry = service(
            two.clone(),
            serde_json::json!({"Condition": "on-failure", "MaxAttempts": 1}),
        );
        assert!(matches!(completion(&retry, &failed), Completion::Waiting { .. }));
        let retried = [
            task(5, 1, "complete", 0),
            task(6, 2, "failed", 3),
            task(7, 2, "complete", 0),
        ];
        assert_eq!(completion(&retry, &retried), Completion::Done);
        let spent = [
            task(5, 1, "complete", 0),
            task(6, 2, "failed", 3),
            task(7, 2, "failed", 4),
        ];
        assert_eq!(
            completion(&retry, &spent),
            Completion::Failed("service \"st_init\" didn't complete successfully: exit 4".into())
        );
        // Restarted on any exit: never.
        let any = service(two, serde_json::json!({"Condition": "any"}));
        assert!(matches!(completion(&any, &done), Completion::Failed(w) if w.contains("never completes")));
        // A job: its completions in the current iteration.
        let job = service(
            serde_json::json!({"ReplicatedJob": {"MaxConcurrent": 1, "TotalCompletions": 2}}),
            serde_json::json!({"Condition": "any"}),
        );
        assert_eq!(
            completion(&job, &done[..1]),
            Completion::Waiting {
                complete: 1,
                wanted: 2
            }
        );
        assert_eq!(completion(&job, &done), Completion::Done);
    }

    #[test]
    fn ready_means_every_wanted_task_runs() {
        let s = |running, desired| {
            Some(ServiceStatus {
                running_tasks: running,
                desired_tasks: desired,
                ..Default::default()
            })
        };
        assert!(ready(s(2, 2)));
        assert!(ready(s(3, 2)), "an update's old task may still count");
        assert!(!ready(s(1, 2)));
        assert!(
            !ready(s(0, 0)),
            "nothing wanted yet: the orchestrator has not run"
        );
        assert!(!ready(None));
    }
}
