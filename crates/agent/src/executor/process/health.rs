//! Health checks (Docker's HEALTHCHECK): CMD runs a program, CMD-SHELL runs `/bin/sh -c`,
//! NONE disables. A check passes on exit 0 within its timeout.
//!
//! ```text
//!  starting ──pass──► healthy ──`retries` failures in a row──► unhealthy (task is stopped)
//!     │   failures inside the start period do not count
//!     └──`retries` failures in a row after the start period──► unhealthy
//! ```
//!
//! Checks run from the agent (not the supervisor): a health check is the agent's opinion of
//! the task, and after an agent restart the monitor resumes from the last recorded health.
//! An oci container's check runs through the exec helper (`oci/exec.rs`), as `docker exec`.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::time::Instant;
use types::HealthConfig;

use super::launch::LaunchSpec;
use super::sandbox::Entry;
use crate::executor::{Error, Result};

/// Docker's defaults.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_START_INTERVAL: Duration = Duration::from_secs(5);
const DEFAULT_RETRIES: u64 = 3;

/// What a verdict does: whether a start waits for the first one, and whether unhealthy stops
/// the task.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum HealthPolicy {
    /// A Swarm task (SwarmKit's executor): running only once healthy, and stopped when
    /// unhealthy, for its orchestrator to replace.
    #[default]
    Swarm,
    /// A plain container (dockerd's `docker run`): started once its process runs; the verdict
    /// is only reported (`docker ps`, `inspect`, events), and a passing check makes an
    /// unhealthy container healthy again.
    Report,
}

/// What the monitor thinks of the task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// No verdict yet.
    Starting,
    /// The last checks passed.
    Healthy,
    /// Failed too often; the task is being stopped.
    Unhealthy,
}

impl Health {
    /// The word kept in the task's `health` file.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Starting => "starting",
            Health::Healthy => "healthy",
            Health::Unhealthy => "unhealthy",
        }
    }

    /// Parses the `health` file.
    pub fn parse(text: &str) -> Health {
        match text.trim() {
            "healthy" => Health::Healthy,
            "unhealthy" => Health::Unhealthy,
            _ => Health::Starting,
        }
    }
}

/// A validated health check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    argv: Vec<String>,
    interval: Duration,
    timeout: Duration,
    start_period: Duration,
    start_interval: Duration,
    retries: u64,
}

fn nanos_or(n: i64, default: Duration) -> Duration {
    if n > 0 {
        Duration::from_nanos(n as u64)
    } else {
        default
    }
}

impl HealthCheck {
    /// The check a config asks for; `None` for none (absent, empty or NONE).
    pub fn from_config(config: Option<&HealthConfig>) -> Result<Option<HealthCheck>> {
        let Some(c) = config else { return Ok(None) };
        let argv = match c.test.first().map(String::as_str) {
            None | Some("NONE") => return Ok(None),
            Some("CMD") if c.test.len() > 1 => c.test[1..].to_vec(),
            Some("CMD-SHELL") if c.test.len() == 2 => vec!["/bin/sh".into(), "-c".into(), c.test[1].clone()],
            _ => {
                return Err(Error::Invalid(format!(
                    "invalid healthcheck test {:?}: want [\"NONE\"], [\"CMD\", args…] or [\"CMD-SHELL\", command]",
                    c.test
                )));
            }
        };
        Ok(Some(HealthCheck {
            argv,
            interval: nanos_or(c.interval, DEFAULT_INTERVAL),
            timeout: nanos_or(c.timeout, DEFAULT_TIMEOUT),
            start_period: nanos_or(c.start_period, Duration::ZERO),
            start_interval: nanos_or(c.start_interval, DEFAULT_START_INTERVAL),
            retries: if c.retries > 0 { c.retries } else { DEFAULT_RETRIES },
        }))
    }

    /// Runs checks until the task turns unhealthy under [`HealthPolicy::Swarm`] (returns) or
    /// the caller drops the future. `report` receives every change of verdict; `initial`
    /// resumes a re-attached task. `dir` is the task's state directory (its `task.pid` names
    /// the process to check beside).
    pub async fn monitor(
        &self,
        launch: &LaunchSpec,
        dir: &Path,
        initial: Health,
        policy: HealthPolicy,
        mut report: impl FnMut(Health),
    ) {
        let started = Instant::now();
        let mut health = initial;
        let mut failures = 0u64;
        loop {
            let starting = started.elapsed() < self.start_period && health == Health::Starting;
            tokio::time::sleep(if starting {
                self.start_interval
            } else {
                self.interval
            })
            .await;
            // Judge the start period by when the check began (Docker's rule).
            let in_start_period = started.elapsed() < self.start_period;
            let passed = self.check_once(launch, dir).await;
            if passed {
                failures = 0;
                if health != Health::Healthy {
                    health = Health::Healthy;
                    report(health);
                }
            } else if !(in_start_period && health == Health::Starting) {
                failures += 1;
                if failures >= self.retries {
                    if health != Health::Unhealthy {
                        health = Health::Unhealthy;
                        report(health);
                    }
                    if policy == HealthPolicy::Swarm {
                        return;
                    }
                }
            }
        }
    }

    /// Runs the check once with the task's environment, directory and user.
    async fn check_once(&self, launch: &LaunchSpec, dir: &Path) -> bool {
        let mut command = tokio::process::Command::new(&self.argv[0]);
        command
            .args(&self.argv[1..])
            .env_clear()
            .envs(launch.env.iter().filter_map(|kv| kv.split_once('=')))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        if let Some(oci) = &launch.oci {
            // Inside the container: its namespaces, root, working directory and user.
            let Some(task) = super::launch::read_pid(&oci.task_dir.join(super::launch::TASK_PID)) else {
                return false;
            };
            // Through the exec helper, under all of the container's confinement (its seccomp
            // filter included); a spec from before that enters the namespaces only.
            match crate::executor::oci::exec::health_check(launch, task.pid, &self.argv) {
                Ok(Some(check)) => return self.run_check(check).await,
                Ok(None) => {}
                Err(_) => return false,
            }
            if crate::executor::oci::sys::enter_namespaces(&mut command, task.pid, &oci.cwd, oci.uid, oci.gid)
                .is_err()
            {
                return false;
            }
        } else if !launch.sandbox.is_empty() {
            // A native task in a sandbox: the check joins its network and mount namespaces.
            let Some(task) = super::launch::read_pid(&dir.join(super::launch::TASK_PID)) else {
                return false;
            };
            let Ok(entry) = Entry::beside(task.pid, &launch.sandbox, &launch.dir, launch.uid, launch.gid)
            else {
                return false;
            };
            super::sys::set_pre_exec(command.as_std_mut(), Vec::new(), entry);
            return self.run_check(command).await;
        } else {
            command.current_dir(&launch.dir);
        }
        if let Some(uid) = launch.uid {
            command.uid(uid);
        }
        if let Some(gid) = launch.gid {
            command.gid(gid);
        }
        super::sys::set_task_umask(&mut command);
        self.run_check(command).await
    }

    /// Runs a prepared check command within the timeout; true when it exits 0.
    async fn run_check(&self, mut command: tokio::process::Command) -> bool {
        let Ok(mut child) = command.spawn() else {
            return false;
        };
        match tokio::time::timeout(self.timeout, child.wait()).await {
            Ok(Ok(status)) => status.success(),
            // Timed out: kill_on_drop ends the check.
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(test: &[&str]) -> HealthConfig {
        HealthConfig {
            test: test.iter().map(|s| s.to_string()).collect(),
            ..HealthConfig::default()
        }
    }

    #[test]
    fn parses_docker_test_forms() {
        assert_eq!(HealthCheck::from_config(None).unwrap(), None);
        assert_eq!(HealthCheck::from_config(Some(&config(&["NONE"]))).unwrap(), None);
        let shell = HealthCheck::from_config(Some(&config(&["CMD-SHELL", "exit 0"])))
            .unwrap()
            .unwrap();
        assert_eq!(shell.argv, ["/bin/sh", "-c", "exit 0"]);
        assert_eq!(
            (shell.interval, shell.retries),
            (DEFAULT_INTERVAL, DEFAULT_RETRIES)
        );
        let cmd = HealthCheck::from_config(Some(&config(&["CMD", "/bin/true"])))
            .unwrap()
            .unwrap();
        assert_eq!(cmd.argv, ["/bin/true"]);
        assert!(HealthCheck::from_config(Some(&config(&["CMD"]))).is_err());
        assert!(HealthCheck::from_config(Some(&config(&["WHAT", "x"]))).is_err());
        assert_eq!(Health::parse(Health::Unhealthy.as_str()), Health::Unhealthy);
    }
}
