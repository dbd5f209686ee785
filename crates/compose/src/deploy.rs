//! A compose service's `deploy:` section → the service's mode, resources, restart policy,
//! placement and update config, with docker's defaults and its words for unknown values.

use types::service::{
    FailureAction, Limits, Placement, Reservations, ResourceRequirements, RestartCondition, RestartPolicy,
    ServiceMode, UpdateConfig, UpdateOrder,
};

use crate::error::{Result, invalid};
use crate::model::{Deploy, DeployUpdate};

pub(crate) fn mode(d: &Deploy, path: &str) -> Result<ServiceMode> {
    let replicas = d.replicas.map(|r| r.0);
    Ok(match d.mode.as_deref().unwrap_or("replicated") {
        "replicated" => ServiceMode::Replicated {
            replicas: replicas.unwrap_or(1),
        },
        "replicated-job" => ServiceMode::ReplicatedJob {
            max_concurrent: replicas.unwrap_or(1),
            total_completions: replicas.unwrap_or(1),
        },
        m @ ("global" | "global-job") => {
            if replicas.is_some() {
                return Err(invalid(
                    format!("{path}.replicas"),
                    "replicas can only be used with replicated mode",
                ));
            }
            if m == "global" {
                ServiceMode::Global
            } else {
                ServiceMode::GlobalJob
            }
        }
        other => {
            return Err(invalid(
                format!("{path}.mode"),
                format!("unknown mode {other:?} (replicated, global, replicated-job or global-job)"),
            ));
        }
    })
}

pub(crate) fn resources(d: &Deploy) -> ResourceRequirements {
    let Some(r) = &d.resources else {
        return ResourceRequirements::default();
    };
    let mut out = ResourceRequirements::default();
    if let Some(l) = &r.limits {
        out.limits = Limits {
            nano_cpus: l.cpus.map_or(0, |c| c.0),
            memory_bytes: l.memory.map_or(0, |m| m.0),
            pids: l.pids.map_or(0, |p| p.0 as i64),
        };
    }
    if let Some(l) = &r.reservations {
        out.reservations = Reservations {
            nano_cpus: l.cpus.map_or(0, |c| c.0),
            memory_bytes: l.memory.map_or(0, |m| m.0),
        };
    }
    out
}

pub(crate) fn restart(d: &Deploy, path: &str) -> Result<RestartPolicy> {
    let Some(r) = &d.restart_policy else {
        return Ok(RestartPolicy::default());
    };
    let condition = match r.condition.as_deref().unwrap_or("any") {
        "none" => RestartCondition::None,
        "on-failure" => RestartCondition::OnFailure,
        "any" => RestartCondition::Any,
        other => {
            return Err(invalid(
                format!("{path}.restart_policy.condition"),
                format!("unknown condition {other:?} (none, on-failure or any)"),
            ));
        }
    };
    Ok(RestartPolicy {
        condition,
        delay: r.delay.map(|n| n.0),
        max_attempts: r.max_attempts.map_or(0, |n| n.0),
        window: r.window.map(|n| n.0),
        // The docker CLI sends the policy whenever the file has one.
        given: true,
    })
}

pub(crate) fn placement(d: &Deploy, path: &str) -> Result<Placement> {
    let Some(p) = &d.placement else {
        return Ok(Placement::default());
    };
    let preferences = p
        .preferences
        .iter()
        .map(|pref| match (pref.get("spread"), pref.len()) {
            (Some(s), 1) => Ok(s.clone()),
            _ => Err(invalid(
                format!("{path}.placement.preferences"),
                "only {spread: <label>} preferences exist",
            )),
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Placement {
        constraints: p.constraints.0.clone(),
        preferences,
        max_replicas: p.max_replicas_per_node.map_or(0, |n| n.0),
        platforms: Vec::new(),
    })
}

pub(crate) fn update(u: &DeployUpdate, path: &str) -> Result<UpdateConfig> {
    let mut out = UpdateConfig::default();
    if let Some(p) = u.parallelism {
        out.parallelism = p.0;
    }
    if let Some(d) = u.delay {
        out.delay = d.0;
    }
    if let Some(m) = u.monitor {
        out.monitor = m.0;
    }
    if let Some(r) = u.max_failure_ratio {
        out.max_failure_ratio = r;
    }
    if let Some(a) = &u.failure_action {
        out.failure_action = match a.as_str() {
            "pause" => FailureAction::Pause,
            "continue" => FailureAction::Continue,
            "rollback" => FailureAction::Rollback,
            other => {
                return Err(invalid(
                    format!("{path}.failure_action"),
                    format!("unknown action {other:?} (pause, continue or rollback)"),
                ));
            }
        };
    }
    if let Some(o) = &u.order {
        out.order = match o.as_str() {
            "stop-first" => UpdateOrder::StopFirst,
            "start-first" => UpdateOrder::StartFirst,
            other => {
                return Err(invalid(
                    format!("{path}.order"),
                    format!("unknown order {other:?} (stop-first or start-first)"),
                ));
            }
        };
    }
    Ok(out)
}
