//! Services: reads with Docker's filters and status counts, and the rules for create, update
//! and remove.

use std::collections::BTreeMap;
use std::sync::Arc;

use state::{Op, State};
use types::{
    Kind, Object, Service, ServiceMode, ServiceSpec, TaskState, Timestamp, UpdateState, UpdateStatus,
};

use crate::{Error, Result};

/// Filters of `GET /services`.
#[derive(Debug, Clone, Default)]
pub struct ServiceFilters {
    /// ID prefixes.
    pub id: Vec<String>,
    /// Name prefixes.
    pub name: Vec<String>,
    /// Labels, `key` or `key=value`.
    pub label: Vec<String>,
    /// Modes (`replicated`, `global`, `replicated-job`, `global-job`).
    pub mode: Vec<String>,
}

/// Task counts for `?status=true` (Docker's ServiceStatus).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServiceStatus {
    /// Tasks observed running.
    pub running: u64,
    /// Tasks wanted (replicas, or eligible nodes for global services).
    pub desired: u64,
    /// Completed tasks (jobs).
    pub completed: u64,
}

/// Whether `labels` has every `key` or `key=value` of `wanted`.
pub(crate) fn labels_match(labels: &BTreeMap<String, String>, wanted: &[String]) -> bool {
    wanted.iter().all(|w| match w.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|have| have == v),
        None => labels.contains_key(w.as_str()),
    })
}

/// Services matching every filter.
pub fn list(state: &State, f: &ServiceFilters) -> Vec<Arc<Service>> {
    state
        .services()
        .filter(|s| f.id.is_empty() || f.id.iter().any(|p| s.id.starts_with(p.as_str())))
        .filter(|s| f.name.is_empty() || f.name.iter().any(|p| s.spec.name.starts_with(p.as_str())))
        .filter(|s| labels_match(&s.spec.labels, &f.label))
        .filter(|s| f.mode.is_empty() || f.mode.iter().any(|m| m == s.spec.mode.as_str()))
        .cloned()
        .collect()
}

/// Running / desired / completed counts of a service.
pub fn status(state: &State, service: &Service) -> ServiceStatus {
    let mut st = ServiceStatus {
        running: state.running_tasks(&service.id),
        ..Default::default()
    };
    // Only jobs count completions, and only global modes count desired tasks: leave the
    // task walk to them.
    if let Some(job) = &service.job_status {
        st.completed = state
            .tasks_of_service(&service.id)
            .filter(|t| t.status.state == TaskState::Complete && t.job_iteration == Some(job.job_iteration))
            .count() as u64;
    }
    st.desired = match service.spec.mode {
        ServiceMode::Replicated { replicas } => replicas,
        ServiceMode::ReplicatedJob {
            max_concurrent,
            total_completions,
        } => max_concurrent.min(total_completions.saturating_sub(st.completed)),
        ServiceMode::Global => state
            .tasks_of_service(&service.id)
            .filter(|t| t.desired_state <= TaskState::Complete)
            .count() as u64,
        // A node that finished its run is no longer wanted: a done global job wants 0, as
        // dockerd reports it.
        ServiceMode::GlobalJob => {
            let iteration = service.job_status.as_ref().map(|j| j.job_iteration);
            state
                .tasks_of_service(&service.id)
                .filter(|t| {
                    t.desired_state <= TaskState::Complete
                        && t.job_iteration == iteration
                        && t.status.state != TaskState::Complete
                })
                .count() as u64
        }
    };
    st
}

/// Docker's rule for service names.
fn valid_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !name.is_empty()
        && name.len() <= 63
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// Swarm's checks on a service spec.
pub fn validate(spec: &ServiceSpec) -> Result<()> {
    if !valid_name(&spec.name) {
        return Err(Error::InvalidArgument(format!(
            "invalid name {:?}: a service name must be 1-63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit",
            types::excerpt(&spec.name)
        )));
    }
    let c = &spec.task.container;
    if c.image.trim().is_empty() {
        return Err(Error::InvalidArgument(
            "ContainerSpec: image reference must be provided".into(),
        ));
    }
    // The reference grammar is checked where the image is normalised (`image.rs`), which
    // create and update do before this.
    let r = &spec.task.resources;
    if r.reservations.nano_cpus < 0
        || r.limits.nano_cpus < 0
        || r.reservations.memory_bytes < 0
        || r.limits.memory_bytes < 0
    {
        return Err(Error::InvalidArgument("resources cannot be negative".into()));
    }
    if (r.limits.nano_cpus > 0 && r.limits.nano_cpus < 1_000_000)
        || (r.reservations.nano_cpus > 0 && r.reservations.nano_cpus < 1_000_000)
    {
        return Err(Error::InvalidArgument(
            "invalid cpu value: must be at least 0.001".into(),
        ));
    }
    if (r.limits.memory_bytes > 0 && r.limits.memory_bytes < 4 << 20)
        || (r.reservations.memory_bytes > 0 && r.reservations.memory_bytes < 4 << 20)
    {
        return Err(Error::InvalidArgument(
            "invalid memory value: must be at least 4MiB".into(),
        ));
    }
    let ports = spec.endpoint.as_ref().map_or(&[][..], |e| &e.ports[..]);
    super::client_address::route_return_ports(&spec.labels, ports)?;
    crate::constraint::parse(&spec.task.placement.constraints)
        .map_err(|e| Error::InvalidArgument(e.to_string()))?;
    for pref in &spec.task.placement.preferences {
        // The scheduler reads the prefix ignoring case, as SwarmKit does; the key is any label.
        let label_of = |prefix: &str| {
            pref.len() > prefix.len()
                && pref
                    .get(..prefix.len())
                    .is_some_and(|h| h.eq_ignore_ascii_case(prefix))
        };
        // SwarmKit skips any other descriptor without a word; here it is refused, as it would
        // spread nothing.
        if !(label_of("node.labels.") || label_of("engine.labels.")) {
            return Err(Error::InvalidArgument(format!(
                "invalid placement preference spread={}: only node.labels.<key> and engine.labels.<key> can be spread over",
                types::excerpt(pref)
            )));
        }
    }
    // A replicated job with MaxConcurrent 0 is accepted, as SwarmKit does: `docker service
    // create --mode replicated-job --replicas 0` sends 0 of both and the job is done at once
    // (with completions left it runs nothing, as there).
    for cfg in [&spec.update, &spec.rollback].into_iter().flatten() {
        if !(0.0..=1.0).contains(&cfg.max_failure_ratio) {
            return Err(Error::InvalidArgument(
                "UpdateConfig: max failure ratio must be between 0 and 1".into(),
            ));
        }
        if cfg.delay < 0 || cfg.monitor < 0 {
            return Err(Error::InvalidArgument(
                "UpdateConfig: delay and monitor cannot be negative".into(),
            ));
        }
    }
    if let Some(delay) = spec.task.restart.delay
        && delay < 0
    {
        return Err(Error::InvalidArgument(
            "TaskSpec: restart-delay cannot be negative".into(),
        ));
    }
    if let Some(window) = spec.task.restart.window
        && window < 0
    {
        return Err(Error::InvalidArgument(
            "TaskSpec: restart-window cannot be negative".into(),
        ));
    }
    Ok(())
}

/// Plans `POST /services/create`.
pub fn create(state: &State, id: String, spec: ServiceSpec, now: Timestamp) -> Result<Op> {
    plan_create(state, id, spec, now, super::supported::PUBLISHING)
}

/// Like [`create`], with published ports let through or refused as `publishing` says: the
/// knob tests of the port control plane turn, while the nodes do not serve ports yet.
#[cfg(any(test, feature = "testing"))]
pub fn create_with(
    state: &State,
    id: String,
    spec: ServiceSpec,
    now: Timestamp,
    publishing: super::supported::Publishing,
) -> Result<Op> {
    plan_create(state, id, spec, now, publishing)
}

/// The ports `spec` publishes as allocated for service `id` (none for a create), keeping what
/// `previous` allocated where it still fits.
fn endpoint_ports(
    state: &State,
    id: Option<&str>,
    spec: &ServiceSpec,
    previous: &[types::PortConfig],
) -> Result<Vec<types::PortConfig>> {
    let Some(endpoint) = &spec.endpoint else {
        return Ok(Vec::new());
    };
    crate::allocator::ports::validate(endpoint)?;
    if crate::allocator::ports::publishes_ingress(Some(endpoint)) && !state.networks().any(|n| n.spec.ingress)
    {
        // Swarm's words: the mesh's ports would be allocated and reached by nothing.
        return Err(Error::FailedPrecondition(
            "service needs ingress network, but no ingress network is present".into(),
        ));
    }
    crate::allocator::ports::allocate(state, id, endpoint, previous)
}

fn plan_create(
    state: &State,
    id: String,
    mut spec: ServiceSpec,
    now: Timestamp,
    publishing: super::supported::Publishing,
) -> Result<Op> {
    if spec.name.is_empty() {
        // As dockerd: a service created without a name gets a generated one.
        spec.name = (0..)
            .map(|n| super::names::generated(&id, n))
            .find(|name| state.service_by_name(name).is_none())
            .unwrap_or_default();
    }
    super::image::normalise_spec(&mut spec)?;
    validate(&spec)?;
    super::network::resolve_spec(state, &mut spec)?;
    super::references::resolve_spec(state, &mut spec)?;
    super::task_limit::check(state, &spec, None)?;
    super::supported::check(state, &spec, publishing)?;
    let ports = endpoint_ports(state, None, &spec, &[])?;
    if state.service_by_name(&spec.name).is_some() {
        return Err(Error::Conflict(format!(
            "service {} already exists: name conflicts with an existing object",
            spec.name
        )));
    }
    let job_status = spec.mode.is_job().then_some(types::JobStatus {
        job_iteration: 0,
        last_execution: Some(now),
    });
    let endpoint = types::Endpoint {
        spec: spec.endpoint.clone().unwrap_or_default(),
        ports,
        virtual_ips: Vec::new(),
    };
    // The first rollout is watched like an update (failure action, monitor window), so a
    // crash-looping service pauses and the waiting client is told why. Jobs run to completion
    // and are not watched, as in Swarm.
    let update_status = (!spec.mode.is_job()).then(|| rollout_started(now));
    Ok(Op::Create(Object::Service(Service {
        id,
        meta: Default::default(),
        spec,
        spec_version: 1,
        // The create commits at an index above the one this plan read.
        spec_changed_at: state.index + 1,
        previous_spec: None,
        endpoint,
        update_status,
        job_status,
    })))
}

/// The update status of a rollout that starts now.
fn rollout_started(now: Timestamp) -> UpdateStatus {
    UpdateStatus {
        state: UpdateState::Updating,
        started_at: Some(now),
        completed_at: None,
        message: "update in progress".into(),
    }
}

/// The version an update of `current` by a client that read `version` must find in the store.
///
/// A client that read the current spec may update even if the orchestrator rewrote the
/// object since (update status, endpoint): what it read is still what it changes. Older
/// versions saw another spec and are out of sequence, as dockerd answers. The store then
/// checks the object did not move between this plan and its commit.
fn expected_version(current: &Service, version: u64) -> Result<u64> {
    if version < current.spec_changed_at {
        return Err(Error::OutOfSequence);
    }
    // A version above ours means this replica's view is behind: let the store decide.
    Ok(version.max(current.meta.version))
}

/// Plans `POST /services/{id}/update` (with `rollback` for `?rollback=previous`).
///
/// As Swarm's, every update resets the update status: a task-spec change starts a rollout
/// (`updating`), anything else (scale, labels, update config) clears it, so a client's
/// convergence wait never ends on the status of an earlier update. A cleared status with
/// tasks still on an old spec (an update paused earlier) lets the orchestrator resume.
pub fn update(
    state: &State,
    key: &str,
    version: u64,
    spec: ServiceSpec,
    rollback: bool,
    now: Timestamp,
) -> Result<Op> {
    plan_update(
        state,
        key,
        version,
        spec,
        rollback,
        now,
        super::supported::PUBLISHING,
    )
}

/// Like [`update`], with published ports let through or refused as `publishing` says (see
/// [`create_with`]).
#[cfg(any(test, feature = "testing"))]
pub fn update_with(
    state: &State,
    key: &str,
    version: u64,
    spec: ServiceSpec,
    rollback: bool,
    now: Timestamp,
    publishing: super::supported::Publishing,
) -> Result<Op> {
    plan_update(state, key, version, spec, rollback, now, publishing)
}

fn plan_update(
    state: &State,
    key: &str,
    version: u64,
    spec: ServiceSpec,
    rollback: bool,
    now: Timestamp,
    publishing: super::supported::Publishing,
) -> Result<Op> {
    let current = state
        .lookup_service(key)
        .map_err(|e| Error::NotFound(e.to_string()))?;
    let expect_version = Some(expected_version(&current, version)?);
    let mut next = (*current).clone();
    if rollback {
        let previous = current.previous_spec.clone().ok_or_else(|| {
            Error::FailedPrecondition(format!("service {} does not have a previous spec", current.id))
        })?;
        next.previous_spec = Some(current.spec.clone());
        next.spec = previous;
        next.update_status = Some(UpdateStatus {
            state: UpdateState::RollbackStarted,
            started_at: Some(now),
            completed_at: None,
            message: "manually requested rollback".into(),
        });
    } else {
        let mut spec = spec;
        super::image::normalise_spec(&mut spec)?;
        validate(&spec)?;
        super::network::resolve_spec(state, &mut spec)?;
        super::references::resolve_spec(state, &mut spec)?;
        super::task_limit::check(state, &spec, Some(&current.id))?;
        super::supported::check(state, &spec, publishing)?;
        if std::mem::discriminant(&spec.mode) != std::mem::discriminant(&current.spec.mode) {
            return Err(Error::Unimplemented("service mode change is not allowed".into()));
        }
        if spec.name != current.spec.name {
            return Err(Error::Unimplemented("renaming services is not supported".into()));
        }
        next.update_status = None;
        if spec == current.spec {
            // Nothing changed: keep the spec version so tasks are not replaced.
            return Ok(Op::Update {
                object: Object::Service(next),
                expect_version,
            });
        }
        let task_changed = spec.task != current.spec.task || spec.endpoint != current.spec.endpoint;
        next.previous_spec = Some(current.spec.clone());
        next.spec = spec;
        // Jobs are not rolled out: a changed job runs a new iteration instead.
        if task_changed && !next.spec.mode.is_job() {
            next.update_status = Some(rollout_started(now));
        }
    }
    next.spec_version += 1;
    next.spec_changed_at = state.index + 1;
    if next.spec.mode.is_job() {
        // A changed job runs again.
        let iteration = current
            .job_status
            .as_ref()
            .map(|j| j.job_iteration + 1)
            .unwrap_or(0);
        next.job_status = Some(types::JobStatus {
            job_iteration: iteration,
            last_execution: Some(now),
        });
    }
    next.endpoint.spec = next.spec.endpoint.clone().unwrap_or_default();
    // A rollback re-allocates too: the ports of its previous spec may have gone to another
    // service since.
    next.endpoint.ports = endpoint_ports(state, Some(&current.id), &next.spec, &current.endpoint.ports)?;
    Ok(Op::Update {
        object: Object::Service(next),
        expect_version,
    })
}

/// Plans `DELETE /services/{id}`; its tasks are shut down and reaped by the orchestrator.
pub fn remove(state: &State, key: &str) -> Result<Op> {
    let s = state
        .lookup_service(key)
        .map_err(|e| Error::NotFound(e.to_string()))?;
    Ok(Op::Delete {
        kind: Kind::Service,
        id: s.id.clone(),
        expect_version: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orchestrator::fixtures::World;

    fn web(w: &World) -> Arc<Service> {
        w.state.service_by_name("web").unwrap().clone()
    }

    fn scaled(s: &Service, replicas: u64) -> ServiceSpec {
        let mut spec = s.spec.clone();
        spec.mode = ServiceMode::Replicated { replicas };
        spec
    }

    /// Plays the scheduler, the agents and the orchestrator until the first rollout is over.
    fn first_rollout(w: &mut World) {
        for _ in 0..3 {
            let plan = w.reconcile();
            w.apply(plan);
            w.place_all_round_robin();
            w.run_all();
        }
        w.advance_secs(6);
        let plan = w.reconcile();
        w.apply(plan);
    }

    #[test]
    fn a_client_version_from_before_the_daemons_own_writes_is_accepted() {
        let mut w = World::new().nodes(&["n1"]).created("web", 1);
        let read = web(&w);
        first_rollout(&mut w);
        let now = web(&w);
        assert!(
            now.meta.version > read.meta.version,
            "the rollout's end rewrote the service"
        );
        assert_eq!(now.update_status, None);
        let op = update(&w.state, "web", read.meta.version, scaled(&read, 2), false, w.now)
            .expect("the spec the client read is the current one");
        w.commit_op(op);
        assert_eq!(web(&w).spec.mode, ServiceMode::Replicated { replicas: 2 });
        // The spec moved on since `read`: a client holding it is out of sequence.
        let stale = update(&w.state, "web", read.meta.version, scaled(&read, 3), false, w.now);
        assert_eq!(stale.unwrap_err(), Error::OutOfSequence);
        let fresh = web(&w);
        assert!(
            update(
                &w.state,
                "web",
                fresh.meta.version,
                scaled(&fresh, 3),
                false,
                w.now
            )
            .is_ok()
        );
    }

    #[test]
    fn images_are_stored_in_normal_form() {
        let w = World::new().nodes(&["n1"]).created("web", 1);
        assert_eq!(web(&w).spec.task.container.image, "busybox:latest");
        let mut spec = web(&w).spec.clone();
        Arc::make_mut(&mut spec.task).container.image = "Not A Reference".into();
        let err = update(&w.state, "web", web(&w).meta.version, spec, false, w.now).unwrap_err();
        assert_eq!(
            err.to_string(),
            "ContainerSpec: \"Not A Reference\" is not a valid repository/tag: repository name must be lowercase"
        );
    }

    #[test]
    fn spread_takes_any_label_key_with_the_prefix_in_any_case() {
        let w = World::new().nodes(&["n1"]).created("web", 1);
        let attempt = |pref: &str| {
            let mut spec = web(&w).spec.clone();
            Arc::make_mut(&mut spec.task).placement.preferences = vec![pref.into()];
            update(&w.state, "web", web(&w).meta.version, spec, false, w.now).map(|_| ())
        };
        for pref in [
            "node.labels.dc.rack",
            "Node.Labels.zone",
            "ENGINE.LABELS.region",
            "node.labels.a/b",
        ] {
            assert_eq!(attempt(pref), Ok(()), "{pref}");
        }
        for pref in ["node.hostname", "node.labels.", "labels.zone"] {
            let err = attempt(pref).unwrap_err().to_string();
            assert!(
                err.contains("only node.labels.<key> and engine.labels.<key>"),
                "{pref}: {err}"
            );
        }
    }

    #[test]
    fn a_done_global_job_wants_no_tasks() {
        let mut w = World::new().nodes(&["n1", "n2"]).service(
            "job",
            ServiceMode::GlobalJob,
            types::TaskSpec::default(),
        );
        let plan = w.reconcile();
        w.apply(plan);
        w.place_all_round_robin();
        w.run_all();
        let job = w.state.service_by_name("job").unwrap().clone();
        assert_eq!(status(&w.state, &job).desired, 2);
        w.complete_all();
        let st = status(&w.state, &job);
        assert_eq!((st.running, st.desired, st.completed), (0, 0, 2));
    }
}
