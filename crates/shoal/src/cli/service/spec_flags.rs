//! Flags `service create` and `service update` share. Every flag is optional and only a flag
//! given changes the spec, so `update` leaves everything else as the daemon has it and
//! `create` leaves the daemon's (Docker's) defaults in place.

use api::model::{
    HealthConfig, Limit, Reservation, ResourceRequirements, RestartPolicy, ServiceSpec, UpdateConfig,
};

use super::values;
use crate::cli::duration;

/// Settings with one value each.
#[derive(clap::Args, Debug, Default, PartialEq)]
pub struct SpecFlags {
    /// Number of tasks (replicated), or of completions (replicated-job).
    #[arg(long, value_name = "N")]
    pub replicas: Option<u64>,
    /// Number of job tasks to run at once (replicated-job).
    #[arg(long, value_name = "N")]
    pub max_concurrent: Option<u64>,
    /// Maximum number of tasks per node (replicated).
    #[arg(long = "replicas-max-per-node", value_name = "N")]
    max_replicas: Option<u64>,
    /// CPUs reserved per task (e.g. 0.5).
    #[arg(long, value_name = "CPUS", value_parser = values::nano_cpus)]
    reserve_cpu: Option<i64>,
    /// Memory reserved per task (e.g. 256m).
    #[arg(long, value_name = "BYTES", value_parser = values::memory_bytes)]
    reserve_memory: Option<i64>,
    /// CPU limit per task.
    #[arg(long, value_name = "CPUS", value_parser = values::nano_cpus)]
    limit_cpu: Option<i64>,
    /// Memory limit per task.
    #[arg(long, value_name = "BYTES", value_parser = values::memory_bytes)]
    limit_memory: Option<i64>,
    /// Maximum number of processes per task (0: unlimited).
    #[arg(long, value_name = "N")]
    limit_pids: Option<i64>,
    /// Restart when condition is met: none, on-failure or any.
    #[arg(long, value_name = "CONDITION", value_parser = ["none", "on-failure", "any"])]
    restart_condition: Option<String>,
    /// Delay between restart attempts (e.g. 5s).
    #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
    restart_delay: Option<i64>,
    /// Maximum number of restarts before giving up.
    #[arg(long, value_name = "N")]
    restart_max_attempts: Option<u64>,
    /// Window used to evaluate the restart policy.
    #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
    restart_window: Option<i64>,
    /// Maximum number of tasks updated simultaneously (0: all at once).
    #[arg(long, value_name = "N")]
    update_parallelism: Option<u64>,
    /// Delay between updates.
    #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
    update_delay: Option<i64>,
    /// Action on update failure: pause, continue or rollback.
    #[arg(long, value_name = "ACTION", value_parser = ["pause", "continue", "rollback"])]
    update_failure_action: Option<String>,
    /// Duration after each task update to monitor for failure.
    #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
    update_monitor: Option<i64>,
    /// Failure rate to tolerate during an update.
    #[arg(long, value_name = "RATIO")]
    update_max_failure_ratio: Option<f32>,
    /// Update order: start-first or stop-first.
    #[arg(long, value_name = "ORDER", value_parser = ["start-first", "stop-first"])]
    update_order: Option<String>,
    /// Maximum number of tasks rolled back simultaneously (0: all at once).
    #[arg(long, value_name = "N")]
    rollback_parallelism: Option<u64>,
    /// Delay between task rollbacks.
    #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
    rollback_delay: Option<i64>,
    /// Action on rollback failure: pause or continue.
    #[arg(long, value_name = "ACTION", value_parser = ["pause", "continue"])]
    rollback_failure_action: Option<String>,
    /// Duration after each task rollback to monitor for failure.
    #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
    rollback_monitor: Option<i64>,
    /// Failure rate to tolerate during a rollback.
    #[arg(long, value_name = "RATIO")]
    rollback_max_failure_ratio: Option<f32>,
    /// Rollback order: start-first or stop-first.
    #[arg(long, value_name = "ORDER", value_parser = ["start-first", "stop-first"])]
    rollback_order: Option<String>,
    /// Working directory inside the container.
    #[arg(short = 'w', long, value_name = "DIR")]
    workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>]).
    #[arg(short = 'u', long, value_name = "USER")]
    user: Option<String>,
    /// Container hostname.
    #[arg(long, value_name = "NAME")]
    hostname: Option<String>,
    /// Signal to stop the container.
    #[arg(long, value_name = "SIGNAL")]
    stop_signal: Option<String>,
    /// Time to wait before force killing a container.
    #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
    stop_grace_period: Option<i64>,
    /// Allocate a pseudo-TTY.
    #[arg(short = 't', long)]
    tty: bool,
    /// Command to run to check health.
    #[arg(long, value_name = "CMD")]
    health_cmd: Option<String>,
    /// Time between running the check.
    #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
    health_interval: Option<i64>,
    /// Maximum time to allow one check to run.
    #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
    health_timeout: Option<i64>,
    /// Consecutive failures needed to report unhealthy.
    #[arg(long, value_name = "N")]
    health_retries: Option<i64>,
    /// Start period for the container to initialize before counting retries.
    #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
    health_start_period: Option<i64>,
    /// Time between running the check during the start period.
    #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
    health_start_interval: Option<i64>,
    /// Disable any container-specified HEALTHCHECK.
    #[arg(long)]
    no_healthcheck: bool,
    /// Endpoint mode: vip or dnsrr.
    #[arg(long, value_name = "MODE", value_parser = ["vip", "dnsrr"])]
    endpoint_mode: Option<String>,
}

/// Swarm's update and rollback defaults, the starting point when a flag sets one field.
fn default_update_config() -> UpdateConfig {
    UpdateConfig {
        parallelism: 1,
        failure_action: "pause".into(),
        monitor: types::service::DEFAULT_MONITOR_NANOS,
        order: "stop-first".into(),
        ..Default::default()
    }
}

impl SpecFlags {
    /// Writes the flags given into `spec`.
    pub fn apply(&self, spec: &mut ServiceSpec) -> anyhow::Result<()> {
        self.apply_mode(spec)?;
        let task = &mut spec.task_template;
        let container = task.container_spec.get_or_insert_with(Default::default);
        set(&mut container.dir, &self.workdir);
        set(&mut container.user, &self.user);
        set(&mut container.hostname, &self.hostname);
        set(&mut container.stop_signal, &self.stop_signal);
        if self.stop_grace_period.is_some() {
            container.stop_grace_period = self.stop_grace_period;
        }
        if self.tty {
            container.tty = true;
        }
        self.apply_health(&mut container.healthcheck)?;

        if self.limit_cpu.is_some() || self.limit_memory.is_some() || self.limit_pids.is_some() {
            let limits = resources(&mut task.resources)
                .limits
                .get_or_insert_with(Limit::default);
            set(&mut limits.nano_cpus, &self.limit_cpu);
            set(&mut limits.memory_bytes, &self.limit_memory);
            set(&mut limits.pids, &self.limit_pids);
        }
        if self.reserve_cpu.is_some() || self.reserve_memory.is_some() {
            let reservations = resources(&mut task.resources)
                .reservations
                .get_or_insert_with(Reservation::default);
            set(&mut reservations.nano_cpus, &self.reserve_cpu);
            set(&mut reservations.memory_bytes, &self.reserve_memory);
        }
        if self.restart_condition.is_some()
            || self.restart_delay.is_some()
            || self.restart_max_attempts.is_some()
            || self.restart_window.is_some()
        {
            let policy = task.restart_policy.get_or_insert_with(|| RestartPolicy {
                condition: "any".into(),
                delay: Some(types::service::DEFAULT_RESTART_DELAY_NANOS),
                max_attempts: Some(0),
                window: None,
            });
            set(&mut policy.condition, &self.restart_condition);
            if self.restart_delay.is_some() {
                policy.delay = self.restart_delay;
            }
            if self.restart_max_attempts.is_some() {
                policy.max_attempts = self.restart_max_attempts;
            }
            if self.restart_window.is_some() {
                policy.window = self.restart_window;
            }
        }
        if let Some(max) = self.max_replicas {
            task.placement.get_or_insert_with(Default::default).max_replicas = max;
        }
        UpdateFlags {
            parallelism: self.update_parallelism,
            delay: self.update_delay,
            failure_action: self.update_failure_action.clone(),
            monitor: self.update_monitor,
            max_failure_ratio: self.update_max_failure_ratio,
            order: self.update_order.clone(),
        }
        .apply(&mut spec.update_config);
        UpdateFlags {
            parallelism: self.rollback_parallelism,
            delay: self.rollback_delay,
            failure_action: self.rollback_failure_action.clone(),
            monitor: self.rollback_monitor,
            max_failure_ratio: self.rollback_max_failure_ratio,
            order: self.rollback_order.clone(),
        }
        .apply(&mut spec.rollback_config);
        if let Some(mode) = &self.endpoint_mode {
            spec.endpoint_spec.get_or_insert_with(Default::default).mode = mode.clone();
        }
        Ok(())
    }

    /// `--replicas` and `--max-concurrent` on an existing mode (create sets the mode first).
    fn apply_mode(&self, spec: &mut ServiceSpec) -> anyhow::Result<()> {
        let mode = &mut spec.mode;
        if let Some(replicas) = self.replicas {
            if let Some(replicated) = mode.replicated.as_mut() {
                replicated.replicas = Some(replicas);
            } else if let Some(job) = mode.replicated_job.as_mut() {
                job.total_completions = Some(replicas);
            } else {
                anyhow::bail!("replicas can only be used with replicated or replicated-job mode");
            }
        }
        if let Some(max) = self.max_concurrent {
            match mode.replicated_job.as_mut() {
                Some(job) => job.max_concurrent = Some(max),
                None => anyhow::bail!("max-concurrent can only be used with replicated-job mode"),
            }
        }
        Ok(())
    }

    fn apply_health(&self, health: &mut Option<HealthConfig>) -> anyhow::Result<()> {
        let tuned = self.health_interval.is_some()
            || self.health_timeout.is_some()
            || self.health_retries.is_some()
            || self.health_start_period.is_some()
            || self.health_start_interval.is_some();
        if self.no_healthcheck {
            if tuned || self.health_cmd.is_some() {
                anyhow::bail!("--no-healthcheck conflicts with --health-* options");
            }
            *health = Some(HealthConfig {
                test: vec!["NONE".into()],
                ..Default::default()
            });
            return Ok(());
        }
        if !tuned && self.health_cmd.is_none() {
            return Ok(());
        }
        let health = health.get_or_insert_with(Default::default);
        if let Some(cmd) = &self.health_cmd {
            health.test = vec!["CMD-SHELL".into(), cmd.clone()];
        }
        set(&mut health.interval, &self.health_interval);
        set(&mut health.timeout, &self.health_timeout);
        set(&mut health.retries, &self.health_retries);
        set(&mut health.start_period, &self.health_start_period);
        set(&mut health.start_interval, &self.health_start_interval);
        Ok(())
    }
}

/// Sets `field` when the flag was given.
fn set<T: Clone>(field: &mut T, flag: &Option<T>) {
    if let Some(value) = flag {
        *field = value.clone();
    }
}

fn resources(resources: &mut Option<ResourceRequirements>) -> &mut ResourceRequirements {
    resources.get_or_insert_with(Default::default)
}

/// The `--update-*` (or `--rollback-*`) flags given.
struct UpdateFlags {
    parallelism: Option<u64>,
    delay: Option<i64>,
    failure_action: Option<String>,
    monitor: Option<i64>,
    max_failure_ratio: Option<f32>,
    order: Option<String>,
}

impl UpdateFlags {
    /// Writes the flags given; the config starts from Swarm's defaults when a first one is set.
    fn apply(&self, config: &mut Option<UpdateConfig>) {
        if self.parallelism.is_none()
            && self.delay.is_none()
            && self.failure_action.is_none()
            && self.monitor.is_none()
            && self.max_failure_ratio.is_none()
            && self.order.is_none()
        {
            return;
        }
        let config = config.get_or_insert_with(default_update_config);
        set(&mut config.parallelism, &self.parallelism);
        set(&mut config.delay, &self.delay);
        set(&mut config.failure_action, &self.failure_action);
        set(&mut config.monitor, &self.monitor);
        set(&mut config.max_failure_ratio, &self.max_failure_ratio);
        set(&mut config.order, &self.order);
    }
}
