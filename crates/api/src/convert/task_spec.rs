//! Task template: Docker's TaskSpec JSON ⇄ shoal's `TaskSpec`.
//!
//! ```text
//! Docker TaskSpec ──from_docker──► types::TaskSpec ──to_docker──► Docker TaskSpec
//!   ContainerSpec fields shoal does not model ─► ContainerSpec.extra (JSON text) ─► back out
//! ```
//!
//! `to_docker` ∘ `from_docker` is the identity on what `from_docker` produces, so a spec read
//! with `inspect` and sent back unchanged with `update` compares equal and replaces no task.

use serde_json::{Map, Value};
use types::{RestartCondition, RestartPolicy};

use crate::error::{Error, Result};
use crate::model;

/// The only runtime shoal runs.
const CONTAINER_RUNTIME: &str = "container";

/// Swarm's default stop grace period (10 s), shown by `insertDefaults`.
const DEFAULT_STOP_GRACE_NANOS: i64 = 10_000_000_000;

/// Health check durations must be 0 (default) or at least this (1 ms), as Swarm checks.
const MIN_HEALTH_DURATION_NANOS: i64 = 1_000_000;

/// ContainerSpec fields that have typed homes (never taken from the extra text).
const TYPED_FIELDS: &[&str] = &[
    "Image",
    "Labels",
    "Command",
    "Args",
    "Hostname",
    "Env",
    "Dir",
    "User",
    "StopSignal",
    "TTY",
    "OpenStdin",
    "StopGracePeriod",
    "Healthcheck",
];

/// ContainerSpec fields Swarm keeps but Docker's API never takes or shows: `PullOptions`
/// holds the `X-Registry-Auth` credentials of `--with-registry-auth` (set from the header
/// only, see [`set_registry_auth`]); the generic reservations are kept under
/// `types::generic::RESERVED_KEY` (set from `Resources.Reservations` only).
const HIDDEN_FIELDS: &[&str] = &["PullOptions", types::generic::RESERVED_KEY];

fn bad(message: String) -> Error {
    Error::BadRequest(message)
}

/// Shoal's task spec from Docker's; refuses runtimes and resources shoal does not run.
pub fn from_docker(spec: &model::TaskSpec) -> Result<types::TaskSpec> {
    match spec.runtime.as_str() {
        "" | CONTAINER_RUNTIME => {}
        other => {
            return Err(bad(format!(
                "unsupported runtime {other:?}: shoal runs container tasks only"
            )));
        }
    }
    if spec.plugin_spec.is_some() || spec.network_attachment_spec.is_some() {
        return Err(bad(
            "unsupported runtime: shoal runs container tasks only (ContainerSpec)".into(),
        ));
    }
    let container = container_from_docker(&spec.container_spec.clone().unwrap_or_default())?;
    let mut resources = types::ResourceRequirements::default();
    let mut generic = Vec::new();
    if let Some(r) = &spec.resources {
        if let Some(limits) = &r.limits {
            resources.limits = types::Limits {
                nano_cpus: limits.nano_cpus,
                memory_bytes: limits.memory_bytes,
                pids: limits.pids,
            };
        }
        if let Some(reservations) = &r.reservations {
            generic = reservations
                .generic_resources
                .iter()
                .map(types::generic::from_docker_json)
                .collect::<std::result::Result<Vec<_>, _>>()
                .and_then(|list| types::generic::validate_reservation(&list).map(|()| list))
                .map_err(|e| bad(e.to_string()))?;
            resources.reservations = types::Reservations {
                nano_cpus: reservations.nano_cpus,
                memory_bytes: reservations.memory_bytes,
            };
        }
    }
    let restart = match &spec.restart_policy {
        Some(policy) => restart_from_docker(policy)?,
        None => RestartPolicy::default(),
    };
    let placement = spec
        .placement
        .as_ref()
        .map(|p| types::Placement {
            constraints: p.constraints.clone(),
            // Docker ignores preferences other than spread; so do we.
            preferences: p
                .preferences
                .iter()
                .filter_map(|pref| pref.spread.as_ref())
                .map(|s| s.spread_descriptor.clone())
                .collect(),
            max_replicas: p.max_replicas,
            platforms: p
                .platforms
                .iter()
                .map(|pl| types::Platform {
                    architecture: pl.architecture.clone(),
                    os: pl.os.clone(),
                })
                .collect(),
        })
        .unwrap_or_default();
    let networks = spec
        .networks
        .iter()
        .map(|n| types::NetworkAttachment {
            target: n.target.clone(),
            aliases: n.aliases.clone(),
            driver_opts: n.driver_opts.clone(),
        })
        .collect();
    let mut out = types::TaskSpec {
        container,
        resources,
        restart,
        placement,
        networks,
        log_driver: spec.log_driver.as_ref().map(|d| types::Driver {
            name: d.name.clone(),
            options: d.options.clone(),
        }),
        force_update: spec.force_update,
        runtime: CONTAINER_RUNTIME.into(),
    };
    types::generic::set_reserved(&mut out, &generic);
    Ok(out)
}

fn restart_from_docker(policy: &model::RestartPolicy) -> Result<RestartPolicy> {
    let condition = match policy.condition.as_str() {
        "" | "any" => RestartCondition::Any,
        "none" => RestartCondition::None,
        "on-failure" => RestartCondition::OnFailure,
        other => {
            return Err(bad(format!(
                "invalid RestartCondition: {other:?} (expected none, on-failure or any)"
            )));
        }
    };
    let window = policy.window;
    if window.is_some_and(|w| w < 0) {
        return Err(bad("TaskSpec: restart-window cannot be negative".into()));
    }
    Ok(RestartPolicy {
        condition,
        delay: policy.delay,
        max_attempts: policy.max_attempts.unwrap_or(0),
        window,
        // dockerd shows a given policy, even `{}`, with its condition and attempts.
        given: true,
    })
}

fn container_from_docker(c: &model::ContainerSpec) -> Result<types::ContainerSpec> {
    if let Some(grace) = c.stop_grace_period
        && grace < 0
    {
        return Err(bad("ContainerSpec: StopGracePeriod cannot be negative".into()));
    }
    let healthcheck = c.healthcheck.as_ref().map(health_from_docker).transpose()?;
    super::mounts::from_docker(&c.extra)?;
    Ok(types::ContainerSpec {
        image: c.image.clone(),
        labels: c.labels.clone(),
        command: c.command.clone(),
        args: c.args.clone(),
        hostname: c.hostname.clone(),
        env: c.env.clone(),
        dir: c.dir.clone(),
        user: c.user.clone(),
        stop_signal: c.stop_signal.clone(),
        stop_grace_period: c.stop_grace_period,
        healthcheck,
        tty: c.tty,
        open_stdin: c.open_stdin,
        extra: extra_text(&c.extra),
    })
}

fn health_from_docker(h: &model::HealthConfig) -> Result<types::HealthConfig> {
    for (field, value) in [
        ("Interval", h.interval),
        ("Timeout", h.timeout),
        ("StartPeriod", h.start_period),
        ("StartInterval", h.start_interval),
    ] {
        if value != 0 && value < MIN_HEALTH_DURATION_NANOS {
            return Err(bad(format!(
                "ContainerSpec: {field} in Healthcheck cannot be less than 1ms"
            )));
        }
    }
    let retries = u64::try_from(h.retries)
        .map_err(|_| bad("ContainerSpec: Retries in Healthcheck cannot be negative".into()))?;
    Ok(types::HealthConfig {
        test: h.test.clone(),
        interval: h.interval,
        timeout: h.timeout,
        retries,
        start_period: h.start_period,
        start_interval: h.start_interval,
    })
}

/// The unmodelled fields as canonical JSON text: keys sorted (serde_json's map), and values
/// that Go would not write back (null, "", []) dropped, so equal specs give equal text.
fn extra_text(extra: &Map<String, Value>) -> String {
    let kept: Map<String, Value> = extra
        .iter()
        .filter(|(k, v)| !is_unset(v) && !HIDDEN_FIELDS.contains(&k.as_str()))
        // `default` is what an absent isolation reads back as (`container_to_docker`).
        .filter(|(k, v)| !(*k == "Isolation" && v.as_str() == Some("default")))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if kept.is_empty() {
        String::new()
    } else {
        Value::Object(kept).to_string()
    }
}

fn is_unset(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// Docker's JSON for a task spec.
pub fn to_docker(spec: &types::TaskSpec) -> model::TaskSpec {
    let r = &spec.resources;
    let restart = &spec.restart;
    // dockerd shows a policy whenever one was given (`{}` as `Condition: any, MaxAttempts:
    // 0`) and none otherwise; a non-default one was given.
    let restart_policy =
        (restart.given || *restart != RestartPolicy::default()).then(|| model::RestartPolicy {
            condition: restart_condition(restart.condition).into(),
            delay: restart.delay,
            max_attempts: Some(restart.max_attempts),
            // dockerd shows a window that was given, zero included, and none otherwise.
            window: restart.window,
        });
    let p = &spec.placement;
    model::TaskSpec {
        container_spec: Some(container_to_docker(&spec.container)),
        plugin_spec: None,
        network_attachment_spec: None,
        resources: Some(model::ResourceRequirements {
            limits: Some(model::Limit {
                nano_cpus: r.limits.nano_cpus,
                memory_bytes: r.limits.memory_bytes,
                pids: r.limits.pids,
            }),
            reservations: Some(model::Reservation {
                nano_cpus: r.reservations.nano_cpus,
                memory_bytes: r.reservations.memory_bytes,
                generic_resources: match types::generic::to_docker_json(&types::generic::reserved(spec)) {
                    Value::Array(items) => items,
                    _ => Vec::new(),
                },
            }),
        }),
        restart_policy,
        placement: Some(model::Placement {
            constraints: p.constraints.clone(),
            preferences: p
                .preferences
                .iter()
                .map(|d| model::PlacementPreference {
                    spread: Some(model::SpreadOver {
                        spread_descriptor: d.clone(),
                    }),
                })
                .collect(),
            max_replicas: p.max_replicas,
            platforms: p
                .platforms
                .iter()
                .map(|pl| model::Platform {
                    architecture: pl.architecture.clone(),
                    os: pl.os.clone(),
                })
                .collect(),
        }),
        networks: spec
            .networks
            .iter()
            .map(|n| model::NetworkAttachmentConfig {
                target: n.target.clone(),
                aliases: n.aliases.clone(),
                driver_opts: n.driver_opts.clone(),
            })
            .collect(),
        log_driver: spec.log_driver.as_ref().map(|d| model::Driver {
            name: d.name.clone(),
            options: d.options.clone(),
        }),
        force_update: spec.force_update,
        runtime: CONTAINER_RUNTIME.into(),
    }
}

/// Docker's spelling of a restart condition.
pub fn restart_condition(condition: RestartCondition) -> &'static str {
    match condition {
        RestartCondition::None => "none",
        RestartCondition::OnFailure => "on-failure",
        RestartCondition::Any => "any",
    }
}

fn container_to_docker(c: &types::ContainerSpec) -> model::ContainerSpec {
    let mut out = model::ContainerSpec {
        image: c.image.clone(),
        labels: c.labels.clone(),
        command: c.command.clone(),
        args: c.args.clone(),
        hostname: c.hostname.clone(),
        env: c.env.clone(),
        dir: c.dir.clone(),
        user: c.user.clone(),
        stop_signal: c.stop_signal.clone(),
        tty: c.tty,
        open_stdin: c.open_stdin,
        stop_grace_period: c.stop_grace_period,
        healthcheck: c.healthcheck.as_ref().map(|h| model::HealthConfig {
            test: h.test.clone(),
            interval: h.interval,
            timeout: h.timeout,
            start_period: h.start_period,
            start_interval: h.start_interval,
            retries: i64::try_from(h.retries).unwrap_or(i64::MAX),
        }),
        extra: Map::new(),
    };
    // Stored text came from `extra_text`, so it parses; text that does not (a hand-made
    // spec) is left out rather than failing the whole read.
    if let Ok(Value::Object(extra)) = serde_json::from_str::<Value>(&c.extra) {
        // A typed field wins over a stray copy of it in the extra text.
        out.extra = extra
            .into_iter()
            .filter(|(key, _)| {
                !TYPED_FIELDS.contains(&key.as_str()) && !HIDDEN_FIELDS.contains(&key.as_str())
            })
            .collect();
    }
    // SwarmKit keeps the isolation as an enum whose zero value dockerd prints as `default`,
    // so every container spec it shows has one.
    if out.extra.get("Isolation").is_none_or(is_unset) {
        out.extra
            .insert("Isolation".into(), Value::String("default".into()));
    }
    out
}

/// The registry credentials (`X-Registry-Auth`, base64) a task spec carries, if any.
pub fn registry_auth(spec: &types::TaskSpec) -> Option<String> {
    let Ok(Value::Object(extra)) = serde_json::from_str::<Value>(&spec.container.extra) else {
        return None;
    };
    extra
        .get("PullOptions")?
        .get("RegistryAuth")?
        .as_str()
        .filter(|a| !a.is_empty())
        .map(str::to_owned)
}

/// Stores (or with `None` removes) the registry credentials in the task spec, where the
/// node's executor reads them as Swarm's `ContainerSpec.PullOptions.RegistryAuth`.
pub fn set_registry_auth(spec: &mut types::TaskSpec, auth: Option<&str>) {
    let mut extra = match serde_json::from_str::<Value>(&spec.container.extra) {
        Ok(Value::Object(extra)) => extra,
        _ => Map::new(),
    };
    extra.remove("PullOptions");
    if let Some(auth) = auth.filter(|a| !a.is_empty()) {
        let mut pull = Map::new();
        pull.insert("RegistryAuth".into(), Value::String(auth.to_owned()));
        extra.insert("PullOptions".into(), Value::Object(pull));
    }
    spec.container.extra = if extra.is_empty() {
        String::new()
    } else {
        Value::Object(extra).to_string()
    };
}

/// Fills Swarm's defaults into the parts of a task spec left empty (`insertDefaults=true`):
/// stop grace period 10 s, an empty DNS config, and restart policy `any` after 5 s.
pub fn insert_defaults(spec: &mut model::TaskSpec) {
    if let Some(c) = spec.container_spec.as_mut() {
        c.stop_grace_period.get_or_insert(DEFAULT_STOP_GRACE_NANOS);
        c.extra
            .entry("DNSConfig")
            .or_insert_with(|| Value::Object(Map::new()));
    }
    let policy = spec.restart_policy.get_or_insert_with(|| model::RestartPolicy {
        condition: "any".into(),
        max_attempts: Some(0),
        ..Default::default()
    });
    policy
        .delay
        .get_or_insert(types::service::DEFAULT_RESTART_DELAY_NANOS);
    spec.resources.get_or_insert_with(Default::default);
    spec.placement.get_or_insert_with(Default::default);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(json: &str) -> model::TaskSpec {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn unknown_container_fields_round_trip() {
        let spec = decode(
            r#"{"ContainerSpec":{"Image":"busybox","Init":false,"Mounts":[{"Type":"bind","Source":"/a","Target":"/b"}],
                "Privileges":{"NoNewPrivileges":true},"DNSConfig":{},"Isolation":"","Groups":null,"Secrets":[]}}"#,
        );
        let ours = from_docker(&spec).unwrap();
        assert_eq!(
            ours.container.extra,
            r#"{"DNSConfig":{},"Init":false,"Mounts":[{"Source":"/a","Target":"/b","Type":"bind"}],"Privileges":{"NoNewPrivileges":true}}"#
        );
        let back = to_docker(&ours);
        let json = serde_json::to_value(&back).unwrap();
        assert_eq!(json["ContainerSpec"]["Mounts"][0]["Target"], "/b");
        assert_eq!(json["ContainerSpec"]["Init"], false);
        assert!(json["ContainerSpec"].get("Groups").is_none());
        assert_eq!(from_docker(&back).unwrap(), ours, "a second pass changes nothing");
    }

    #[test]
    fn registry_auth_is_kept_from_the_header_only_and_never_shown() {
        let spec = decode(
            r#"{"ContainerSpec":{"Image":"a","Init":true,"PullOptions":{"RegistryAuth":"sent-in-body"}}}"#,
        );
        let mut ours = from_docker(&spec).unwrap();
        assert_eq!(registry_auth(&ours), None, "a body cannot set the credentials");
        set_registry_auth(&mut ours, Some("eyJ1c2VybmFtZSI6InUifQ=="));
        assert_eq!(registry_auth(&ours).as_deref(), Some("eyJ1c2VybmFtZSI6InUifQ=="));
        let shown = serde_json::to_string(&to_docker(&ours)).unwrap();
        assert!(
            !shown.contains("PullOptions") && !shown.contains("eyJ1"),
            "{shown}"
        );
        assert!(shown.contains(r#""Init":true"#), "{shown}");
        set_registry_auth(&mut ours, None);
        assert_eq!(registry_auth(&ours), None);
        assert_eq!(ours, from_docker(&spec).unwrap());
    }

    #[test]
    fn bad_values_are_refused() {
        let message = |json: &str| from_docker(&decode(json)).unwrap_err().to_string();
        assert!(message(r#"{"Runtime":"plugin"}"#).contains("unsupported runtime"));
        assert!(
            message(r#"{"RestartPolicy":{"Condition":"always"}}"#).starts_with("invalid RestartCondition")
        );
        assert!(message(r#"{"Resources":{"Reservations":{"GenericResources":[{"NamedResourceSpec":{"Kind":"gpu","Value":"A"}}]}}}"#)
            .contains("not named resources"));
        assert!(
            message(r#"{"Resources":{"Reservations":{"GenericResources":[{}]}}}"#).contains("exactly one")
        );
        assert!(message(r#"{"ContainerSpec":{"Healthcheck":{"Interval":5}}}"#).contains("1ms"));
        assert!(message(r#"{"ContainerSpec":{"Healthcheck":{"Retries":-1}}}"#).contains("negative"));
        assert!(message(r#"{"ContainerSpec":{"StopGracePeriod":-1}}"#).contains("negative"));
    }

    #[test]
    fn generic_reservations_round_trip_and_stay_out_of_the_container_spec() {
        let spec = decode(
            r#"{"ContainerSpec":{"Image":"a","ReservedGenericResources":[{"DiscreteResourceSpec":{"Kind":"evil","Value":9}}]},
                "Resources":{"Reservations":{"GenericResources":[{"DiscreteResourceSpec":{"Kind":"gpu","Value":2}}]}}}"#,
        );
        let ours = from_docker(&spec).unwrap();
        assert_eq!(
            types::generic::reserved(&ours),
            vec![types::generic::GenericResource::Discrete {
                kind: "gpu".into(),
                value: 2
            }],
            "the body's ContainerSpec cannot set them"
        );
        let json = serde_json::to_value(to_docker(&ours)).unwrap();
        assert_eq!(
            json["Resources"]["Reservations"]["GenericResources"],
            serde_json::json!([{"DiscreteResourceSpec": {"Kind": "gpu", "Value": 2}}])
        );
        assert!(
            json["ContainerSpec"].get("ReservedGenericResources").is_none(),
            "{json}"
        );
        assert_eq!(from_docker(&to_docker(&ours)).unwrap(), ours);
    }

    #[test]
    fn defaults_fill_only_what_is_missing() {
        let mut spec = to_docker(&from_docker(&decode(r#"{"ContainerSpec":{"Image":"a"}}"#)).unwrap());
        assert!(spec.restart_policy.is_none());
        insert_defaults(&mut spec);
        let json = serde_json::to_value(&spec).unwrap();
        assert_eq!(
            json["RestartPolicy"],
            serde_json::json!({"Condition": "any", "Delay": 5_000_000_000i64, "MaxAttempts": 0})
        );
        assert_eq!(json["ContainerSpec"]["StopGracePeriod"], 10_000_000_000i64);
        assert_eq!(json["ContainerSpec"]["DNSConfig"], serde_json::json!({}));
        assert_eq!(json["Runtime"], "container");
        assert_eq!(json["ForceUpdate"], 0);
    }
}
