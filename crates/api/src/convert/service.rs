//! Service: Docker's ServiceSpec JSON ⇄ shoal's `ServiceSpec`, and shoal's `Service` (with its
//! task counts) to Docker's Service JSON.
//!
//! Missing fields take Docker's defaults: no mode is replicated with one replica, a replicated
//! job without MaxConcurrent runs one task at a time and without TotalCompletions completes
//! MaxConcurrent times. Values Docker would refuse answer 400 with the field named.

use types::{FailureAction, ServiceMode, UpdateOrder};

use super::task_spec;
use super::time::rfc3339;
use crate::backend::ServiceView;
use crate::error::{Error, Result};
use crate::model;

fn bad(message: String) -> Error {
    Error::BadRequest(message)
}

/// Shoal's service spec from Docker's.
pub fn spec_from_docker(spec: &model::ServiceSpec) -> Result<types::ServiceSpec> {
    Ok(types::ServiceSpec {
        name: spec.name.clone(),
        labels: spec.labels.clone(),
        task: std::sync::Arc::new(task_spec::from_docker(&spec.task_template)?),
        mode: mode_from_docker(&spec.mode)?,
        update: spec
            .update_config
            .as_ref()
            .map(|c| update_from_docker("UpdateConfig", c))
            .transpose()?,
        rollback: spec
            .rollback_config
            .as_ref()
            .map(|c| update_from_docker("RollbackConfig", c))
            .transpose()?,
        endpoint: spec
            .endpoint_spec
            .as_ref()
            .map(endpoint_spec_from_docker)
            .transpose()?,
    })
}

fn mode_from_docker(mode: &model::ServiceMode) -> Result<ServiceMode> {
    let set = [
        mode.replicated.is_some(),
        mode.global.is_some(),
        mode.replicated_job.is_some(),
        mode.global_job.is_some(),
    ];
    if set.iter().filter(|s| **s).count() > 1 {
        return Err(bad("must specify only one service mode".into()));
    }
    Ok(if mode.global.is_some() {
        ServiceMode::Global
    } else if mode.global_job.is_some() {
        ServiceMode::GlobalJob
    } else if let Some(job) = &mode.replicated_job {
        let max_concurrent = job.max_concurrent.unwrap_or(1);
        ServiceMode::ReplicatedJob {
            max_concurrent,
            total_completions: job.total_completions.unwrap_or(max_concurrent),
        }
    } else {
        ServiceMode::Replicated {
            replicas: mode.replicated.and_then(|r| r.replicas).unwrap_or(1),
        }
    })
}

fn update_from_docker(field: &str, c: &model::UpdateConfig) -> Result<types::UpdateConfig> {
    let failure_action = match c.failure_action.as_str() {
        "" | "pause" => FailureAction::Pause,
        "continue" => FailureAction::Continue,
        "rollback" => FailureAction::Rollback,
        other => {
            return Err(bad(format!(
                "invalid {field}.FailureAction {:?} (expected pause, continue or rollback)",
                types::excerpt(other)
            )));
        }
    };
    let order = match c.order.as_str() {
        "" | "stop-first" => UpdateOrder::StopFirst,
        "start-first" => UpdateOrder::StartFirst,
        other => {
            return Err(bad(format!(
                "invalid {field}.Order {:?} (expected stop-first or start-first)",
                types::excerpt(other)
            )));
        }
    };
    Ok(types::UpdateConfig {
        parallelism: c.parallelism,
        delay: c.delay,
        failure_action,
        monitor: c.monitor,
        max_failure_ratio: c.max_failure_ratio,
        order,
    })
}

/// Endpoint spec with Swarm's defaults made explicit (`vip`, `tcp`, `ingress`), so what is
/// stored is what inspect shows and sending it back changes nothing.
fn endpoint_spec_from_docker(e: &model::EndpointSpec) -> Result<types::EndpointSpec> {
    let mode = match e.mode.as_str() {
        "" | "vip" => "vip",
        "dnsrr" => "dnsrr",
        other => {
            return Err(bad(format!(
                "invalid resolution mode: {:?} (expected vip or dnsrr)",
                types::excerpt(other)
            )));
        }
    };
    let ports = e.ports.iter().map(port_from_docker).collect::<Result<Vec<_>>>()?;
    Ok(types::EndpointSpec {
        mode: mode.into(),
        ports,
    })
}

fn port_from_docker(p: &model::PortConfig) -> Result<types::PortConfig> {
    let protocol = match p.protocol.as_str() {
        "" | "tcp" => "tcp",
        "udp" => "udp",
        "sctp" => "sctp",
        other => {
            return Err(bad(format!(
                "invalid port protocol {:?} (expected tcp, udp or sctp)",
                types::excerpt(other)
            )));
        }
    };
    let publish_mode = match p.publish_mode.as_str() {
        "" | "ingress" => "ingress",
        "host" => "host",
        other => {
            return Err(bad(format!(
                "invalid port publish mode {:?} (expected ingress or host)",
                types::excerpt(other)
            )));
        }
    };
    if p.target_port == 0 {
        return Err(bad("invalid port: TargetPort must be given".into()));
    }
    Ok(types::PortConfig {
        name: p.name.clone(),
        protocol: protocol.into(),
        target_port: p.target_port,
        published_port: p.published_port,
        publish_mode: publish_mode.into(),
    })
}

/// Docker's JSON for a service spec.
pub fn spec_to_docker(spec: &types::ServiceSpec) -> model::ServiceSpec {
    model::ServiceSpec {
        name: spec.name.clone(),
        labels: spec.labels.clone(),
        task_template: task_spec::to_docker(&spec.task),
        mode: mode_to_docker(&spec.mode),
        update_config: spec.update.as_ref().map(update_to_docker),
        rollback_config: spec.rollback.as_ref().map(update_to_docker),
        endpoint_spec: spec.endpoint.as_ref().map(endpoint_spec_to_docker),
    }
}

fn mode_to_docker(mode: &ServiceMode) -> model::ServiceMode {
    let mut out = model::ServiceMode::default();
    match *mode {
        ServiceMode::Replicated { replicas } => {
            out.replicated = Some(model::ReplicatedService {
                replicas: Some(replicas),
            });
        }
        ServiceMode::Global => out.global = Some(model::Empty {}),
        ServiceMode::ReplicatedJob {
            max_concurrent,
            total_completions,
        } => {
            out.replicated_job = Some(model::ReplicatedJob {
                max_concurrent: Some(max_concurrent),
                total_completions: Some(total_completions),
            });
        }
        ServiceMode::GlobalJob => out.global_job = Some(model::Empty {}),
    }
    out
}

fn update_to_docker(c: &types::UpdateConfig) -> model::UpdateConfig {
    model::UpdateConfig {
        parallelism: c.parallelism,
        delay: c.delay,
        failure_action: match c.failure_action {
            FailureAction::Pause => "pause",
            FailureAction::Continue => "continue",
            FailureAction::Rollback => "rollback",
        }
        .into(),
        monitor: c.monitor,
        max_failure_ratio: c.max_failure_ratio,
        order: match c.order {
            UpdateOrder::StopFirst => "stop-first",
            UpdateOrder::StartFirst => "start-first",
        }
        .into(),
    }
}

fn endpoint_spec_to_docker(e: &types::EndpointSpec) -> model::EndpointSpec {
    model::EndpointSpec {
        mode: e.mode.clone(),
        ports: e.ports.iter().map(port_to_docker).collect(),
    }
}

fn port_to_docker(p: &types::PortConfig) -> model::PortConfig {
    model::PortConfig {
        name: p.name.clone(),
        protocol: p.protocol.clone(),
        target_port: p.target_port,
        published_port: p.published_port,
        publish_mode: p.publish_mode.clone(),
    }
}

/// Fills Swarm's defaults into the fields a spec leaves empty, as dockerd does for
/// `GET /services/{id}?insertDefaults=true`: update and rollback configs (parallelism 1,
/// pause, monitor 5 s, stop-first) and the task template's defaults.
pub fn insert_defaults(spec: &mut model::ServiceSpec) {
    task_spec::insert_defaults(&mut spec.task_template);
    for config in [&mut spec.update_config, &mut spec.rollback_config] {
        let config = config.get_or_insert_with(|| update_to_docker(&types::UpdateConfig::default()));
        if config.monitor == 0 {
            config.monitor = types::service::DEFAULT_MONITOR_NANOS;
        }
    }
}

/// Docker's JSON for a service; `with_status` adds the task counts (`?status=true`).
pub fn to_docker(view: &ServiceView, with_status: bool) -> model::Service {
    let s = &view.service;
    model::Service {
        id: s.id.clone(),
        version: model::ObjectVersion {
            index: s.meta.version,
        },
        created_at: rfc3339(s.meta.created_at),
        updated_at: rfc3339(s.meta.updated_at),
        spec: spec_to_docker(&s.spec),
        previous_spec: s.previous_spec.as_ref().map(spec_to_docker),
        endpoint: model::Endpoint {
            spec: endpoint_spec_to_docker(&s.endpoint.spec),
            ports: s.endpoint.ports.iter().map(port_to_docker).collect(),
            virtual_ips: s
                .endpoint
                .virtual_ips
                .iter()
                .map(|(network_id, addr)| model::EndpointVirtualIp {
                    network_id: network_id.clone(),
                    addr: addr.clone(),
                })
                .collect(),
        },
        update_status: s.shown_update_status().map(|u| model::UpdateStatus {
            state: u.state.as_str().into(),
            started_at: u.started_at.map(rfc3339),
            completed_at: u.completed_at.map(rfc3339),
            message: u.message.clone(),
        }),
        service_status: with_status.then_some(model::ServiceStatus {
            running_tasks: view.status.running,
            desired_tasks: view.status.desired,
            completed_tasks: view.status.completed,
        }),
        job_status: s.job_status.as_ref().map(|j| model::JobStatus {
            job_iteration: model::ObjectVersion {
                index: j.job_iteration,
            },
            last_execution: j.last_execution.map(rfc3339).unwrap_or_default(),
        }),
    }
}

#[cfg(test)]
mod tests;
