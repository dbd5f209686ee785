//! `depends_on`: before a service is created or updated, every service it depends on must
//! run all its tasks. The condition is polled (the API has no "wait for service" call),
//! with a deadline, and each dependency is named on the terminal while it is waited for.
//!
//! `service_healthy` needs nothing more than `service_started` here: a task whose spec has
//! a health check reports RUNNING only once the check passed (the agent's runner), and the
//! compose crate refuses `service_healthy` on a dependency without a health check.

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
        };
        let mut told = false;
        loop {
            let mut filters = Filters::new();
            filters.insert("name".into(), vec![dep.service.clone()]);
            let found = client.services(&filters, true).await?;
            let status = found
                .iter()
                .find(|s| s.spec.name == dep.service)
                .and_then(|s| s.service_status);
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
