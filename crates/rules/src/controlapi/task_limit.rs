//! The cluster-wide task limit: a service create or update that would make the services want
//! more tasks than the cluster's `max_tasks` is refused, so no single request can make the
//! orchestrator build more tasks than the managers can hold.

use state::State;
use types::{NodeState, ServiceMode, ServiceSpec};

use crate::{Error, Result};

/// Tasks `mode` wants at once: replicas, concurrent job tasks, or one per node that is not
/// down (global modes).
pub fn wanted(state: &State, mode: &ServiceMode) -> u64 {
    match *mode {
        ServiceMode::Replicated { replicas } => replicas,
        ServiceMode::ReplicatedJob {
            max_concurrent,
            total_completions,
        } => max_concurrent.min(total_completions),
        ServiceMode::Global | ServiceMode::GlobalJob => state
            .nodes()
            .filter(|n| n.status.state != NodeState::Down)
            .count() as u64,
    }
}

/// Refuses `spec` when it and every other service (all but `replacing`, the service being
/// updated) would want more tasks than the cluster's limit.
pub fn check(state: &State, spec: &ServiceSpec, replacing: Option<&str>) -> Result<()> {
    let limit = state
        .cluster()
        .map(|c| c.spec.task_limit())
        .unwrap_or(types::cluster::FALLBACK_MAX_TASKS);
    let others: u64 = state
        .services()
        .filter(|s| Some(s.id.as_str()) != replacing)
        .map(|s| wanted(state, &s.spec.mode))
        .fold(0, u64::saturating_add);
    let this = wanted(state, &spec.mode);
    let room = limit.saturating_sub(others);
    // Shrinking never hurts, even in a cluster already over its limit.
    let now = replacing
        .and_then(|id| state.service(id))
        .map(|s| wanted(state, &s.spec.mode))
        .unwrap_or(0);
    if this <= room || this <= now {
        return Ok(());
    }
    let what = match spec.mode {
        ServiceMode::Replicated { replicas } => format!("replicas {replicas}"),
        ServiceMode::ReplicatedJob { .. } => format!("{this} concurrent job tasks"),
        ServiceMode::Global | ServiceMode::GlobalJob => format!("{this} tasks (one per node)"),
    };
    Err(Error::InvalidArgument(format!(
        "{what} exceed the cluster's task limit: MaxTasks is {limit} and other services want {others}, \
         leaving room for {room}; raise it with `shoal swarm update --max-tasks N`"
    )))
}

#[cfg(test)]
mod tests {

    use state::{Op, Txn};
    use types::{Cluster, ClusterSpec, Meta, Object, Service, Timestamp};

    use super::*;

    fn spec(name: &str, replicas: u64) -> ServiceSpec {
        types::testing::service(name).replicas(replicas).spec()
    }

    fn state(max_tasks: u64, services: &[(&str, u64)]) -> State {
        let mut ops = vec![Op::Create(Object::Cluster(Cluster {
            id: "c".into(),
            meta: Meta::default(),
            spec: ClusterSpec {
                max_tasks,
                ..Default::default()
            },
            root_ca: types::RootCa {
                ca_cert_pem: String::new(),
                ca_key_pem: String::new(),
                join_tokens: Default::default(),
            },
            default_addr_pool: Vec::new(),
            subnet_size: 24,
            data_path_port: 4789,
        }))];
        for (name, replicas) in services {
            ops.push(Op::Create(Object::Service(Service {
                id: format!("id-{name}"),
                meta: Meta::default(),
                spec: spec(name, *replicas),
                spec_version: 1,
                spec_changed_at: 0,
                previous_spec: None,
                endpoint: Default::default(),
                update_status: None,
                job_status: None,
            })));
        }
        State::default()
            .apply(
                &Txn {
                    id: 0,
                    ops,
                    now: Timestamp(0),
                },
                1,
            )
            .unwrap()
            .0
    }

    #[test]
    fn refuses_what_would_pass_the_limit_and_names_it() {
        let s = state(100, &[("a", 60)]);
        assert!(check(&s, &spec("b", 40), None).is_ok());
        let err = check(&s, &spec("b", 41), None).unwrap_err().to_string();
        assert!(
            err.contains("replicas 41 exceed the cluster's task limit"),
            "{err}"
        );
        assert!(
            err.contains("MaxTasks is 100 and other services want 60, leaving room for 40"),
            "{err}"
        );
        // An update replaces its own service's share.
        assert!(check(&s, &spec("a", 100), Some("id-a")).is_ok());
        assert!(check(&s, &spec("a", 101), Some("id-a")).is_err());
        // A huge count neither overflows nor passes.
        assert!(check(&s, &spec("b", u64::MAX), None).is_err());
        let full = state(100, &[("a", u64::MAX), ("b", u64::MAX)]);
        assert!(check(&full, &spec("c", 1), None).is_err());
        // Scaling down in an over-limit cluster is allowed.
        assert!(check(&full, &spec("a", 5), Some("id-a")).is_ok());
    }

    #[test]
    fn unset_limit_uses_the_fallback() {
        let s = state(0, &[]);
        assert!(check(&s, &spec("a", types::cluster::FALLBACK_MAX_TASKS), None).is_ok());
        assert!(check(&s, &spec("a", types::cluster::FALLBACK_MAX_TASKS + 1), None).is_err());
    }
}
