//! Conversion tests: a full ServiceSpec as the docker CLI and compose send it, defaults,
//! refusals, and the Service JSON shape.

use std::sync::Arc;

use rules::controlapi::service::ServiceStatus;
use serde_json::{Value, json};
use types::{JobStatus, Meta, Service, Timestamp, UpdateState};

use super::*;

/// Every field shoal models plus ones it keeps verbatim (`Mounts`, `Privileges`, `Init`, …).
const FULL_SPEC: &str = r#"{
  "Name": "web",
  "Labels": {"tier": "front"},
  "TaskTemplate": {
    "ContainerSpec": {
      "Image": "nginx:1.27",
      "Labels": {"c": "1"},
      "Command": ["/bin/sh", "-c"],
      "Args": ["nginx", "-g", "daemon off;"],
      "Hostname": "web-{{.Task.Slot}}",
      "Env": ["A=1", "B=2"],
      "Dir": "/srv",
      "User": "33:33",
      "Groups": ["adm"],
      "Privileges": {"CredentialSpec": null, "SELinuxContext": null, "NoNewPrivileges": true},
      "Init": true,
      "StopSignal": "SIGQUIT",
      "TTY": true,
      "OpenStdin": true,
      "ReadOnly": true,
      "Mounts": [{"Type": "volume", "Source": "data", "Target": "/data", "VolumeOptions": {"NoCopy": true}}],
      "StopGracePeriod": 20000000000,
      "Healthcheck": {"Test": ["CMD-SHELL", "curl -f localhost"], "Interval": 30000000000, "Timeout": 5000000000,
                      "Retries": 3, "StartPeriod": 1000000000, "StartInterval": 2000000000},
      "Hosts": ["10.0.0.9 db"],
      "DNSConfig": {"Nameservers": ["8.8.8.8"]},
      "Sysctls": {"net.core.somaxconn": "1024"},
      "CapabilityAdd": ["CAP_NET_ADMIN"],
      "Ulimits": [{"Name": "nofile", "Soft": 1024, "Hard": 2048}],
      "OomScoreAdj": 100
    },
    "Resources": {"Limits": {"NanoCPUs": 500000000, "MemoryBytes": 268435456, "Pids": 100},
                  "Reservations": {"NanoCPUs": 250000000, "MemoryBytes": 134217728}},
    "RestartPolicy": {"Condition": "on-failure", "Delay": 3000000000, "MaxAttempts": 4, "Window": 60000000000},
    "Placement": {"Constraints": ["node.role==worker"], "Preferences": [{"Spread": {"SpreadDescriptor": "node.labels.zone"}}],
                  "MaxReplicas": 2, "Platforms": [{"Architecture": "amd64", "OS": "linux"}]},
    "Networks": [{"Target": "backend", "Aliases": ["www"], "DriverOpts": {"x": "y"}}],
    "LogDriver": {"Name": "json-file", "Options": {"max-size": "10m"}},
    "ForceUpdate": 2,
    "Runtime": "container"
  },
  "Mode": {"Replicated": {"Replicas": 3}},
  "UpdateConfig": {"Parallelism": 2, "Delay": 10000000000, "FailureAction": "rollback", "Monitor": 15000000000,
                   "MaxFailureRatio": 0.25, "Order": "start-first"},
  "RollbackConfig": {"Parallelism": 1, "FailureAction": "continue", "MaxFailureRatio": 0.5, "Order": "stop-first"},
  "EndpointSpec": {"Mode": "vip", "Ports": [{"Name": "http", "Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8080,
                   "PublishMode": "ingress"}]}
}"#;

fn decode(text: &str) -> model::ServiceSpec {
    serde_json::from_str(text).unwrap()
}

/// Drops the keys Go's encoder would leave out (null values), so two JSON texts compare by meaning.
fn without_nulls(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, without_nulls(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(without_nulls).collect()),
        other => other,
    }
}

#[test]
fn full_spec_round_trips() {
    let ours = spec_from_docker(&decode(FULL_SPEC)).unwrap();
    assert_eq!(ours.mode, ServiceMode::Replicated { replicas: 3 });
    assert_eq!(ours.task.container.image, "nginx:1.27");
    assert_eq!(ours.task.restart.max_attempts, 4);
    assert_eq!(ours.task.placement.preferences, ["node.labels.zone"]);
    assert_eq!(ours.update.unwrap().order, UpdateOrder::StartFirst);
    assert!(
        ours.task.container.extra.contains("\"Mounts\""),
        "{}",
        ours.task.container.extra
    );

    let back = serde_json::to_value(spec_to_docker(&ours)).unwrap();
    let mut sent = without_nulls(serde_json::from_str(FULL_SPEC).unwrap());
    // dockerd shows an isolation on every container spec, `default` when none was given.
    sent["TaskTemplate"]["ContainerSpec"]["Isolation"] = "default".into();
    assert_eq!(
        without_nulls(back.clone()),
        sent,
        "every field comes back as sent"
    );
    // And a second trip is stable, as `service update` relies on.
    assert_eq!(
        spec_from_docker(&serde_json::from_value(back).unwrap()).unwrap(),
        ours
    );
}

#[test]
fn cli_defaults_round_trip_unchanged() {
    // What `docker service create --name web busybox sleep 1000` sends.
    let cli = r#"{"Name":"web","Labels":{},"TaskTemplate":{"ContainerSpec":{"Image":"busybox","Args":["sleep","1000"],
        "Init":false,"StopGracePeriod":null,"DNSConfig":{},"Isolation":"default"},"Resources":{"Limits":{},"Reservations":{}},
        "Placement":{},"ForceUpdate":0},"Mode":{"Replicated":{}},"EndpointSpec":{"Mode":"vip"}}"#;
    let ours = spec_from_docker(&decode(cli)).unwrap();
    assert_eq!(ours.mode, ServiceMode::Replicated { replicas: 1 });
    let out = serde_json::to_value(spec_to_docker(&ours)).unwrap();
    assert_eq!(out["Mode"], json!({"Replicated": {"Replicas": 1}}));
    assert_eq!(
        out["TaskTemplate"]["Resources"],
        json!({"Limits": {}, "Reservations": {}})
    );
    assert_eq!(out["TaskTemplate"]["Placement"], json!({}));
    assert!(out["TaskTemplate"].get("RestartPolicy").is_none());
    assert_eq!(out["TaskTemplate"]["ContainerSpec"]["Isolation"], "default");
    assert_eq!(
        spec_from_docker(&serde_json::from_value(out).unwrap()).unwrap(),
        ours
    );
}

#[test]
fn modes_take_dockers_defaults() {
    let mode = |json: &str| spec_from_docker(&decode(json)).map(|s| s.mode);
    assert_eq!(mode("{}").unwrap(), ServiceMode::Replicated { replicas: 1 });
    assert_eq!(mode(r#"{"Mode":{"Global":{}}}"#).unwrap(), ServiceMode::Global);
    assert_eq!(
        mode(r#"{"Mode":{"GlobalJob":{}}}"#).unwrap(),
        ServiceMode::GlobalJob
    );
    assert_eq!(
        mode(r#"{"Mode":{"ReplicatedJob":{}}}"#).unwrap(),
        ServiceMode::ReplicatedJob {
            max_concurrent: 1,
            total_completions: 1
        }
    );
    assert_eq!(
        mode(r#"{"Mode":{"ReplicatedJob":{"MaxConcurrent":3}}}"#).unwrap(),
        ServiceMode::ReplicatedJob {
            max_concurrent: 3,
            total_completions: 3
        }
    );
    assert_eq!(
        mode(r#"{"Mode":{"ReplicatedJob":{"MaxConcurrent":2,"TotalCompletions":10}}}"#).unwrap(),
        ServiceMode::ReplicatedJob {
            max_concurrent: 2,
            total_completions: 10
        }
    );
    assert_eq!(
        mode(r#"{"Mode":{"Global":{},"Replicated":{}}}"#)
            .unwrap_err()
            .to_string(),
        "must specify only one service mode"
    );
}

#[test]
fn bad_values_are_refused_with_the_field_named() {
    let negative = serde_json::from_str::<model::ServiceSpec>(r#"{"Mode":{"Replicated":{"Replicas":-1}}}"#);
    assert!(
        negative
            .unwrap_err()
            .to_string()
            .starts_with("invalid Replicas -1: must not be negative")
    );
    let fraction = serde_json::from_str::<model::ServiceSpec>(r#"{"Mode":{"Replicated":{"Replicas":1.5}}}"#);
    assert!(
        fraction
            .unwrap_err()
            .to_string()
            .contains("must be a whole number")
    );
    let message = |json: &str| spec_from_docker(&decode(json)).unwrap_err().to_string();
    assert!(
        message(r#"{"UpdateConfig":{"FailureAction":"explode"}}"#)
            .starts_with("invalid UpdateConfig.FailureAction")
    );
    assert!(message(r#"{"RollbackConfig":{"Order":"random"}}"#).starts_with("invalid RollbackConfig.Order"));
    assert!(message(r#"{"EndpointSpec":{"Mode":"anycast"}}"#).starts_with("invalid resolution mode"));
    assert!(
        message(r#"{"EndpointSpec":{"Ports":[{"TargetPort":80,"Protocol":"icmp"}]}}"#).contains("protocol")
    );
    assert!(
        message(r#"{"EndpointSpec":{"Ports":[{"TargetPort":80,"PublishMode":"magic"}]}}"#)
            .contains("publish mode")
    );
    assert!(message(r#"{"EndpointSpec":{"Ports":[{"PublishedPort":80}]}}"#).contains("TargetPort"));
}

#[test]
fn insert_defaults_fills_update_and_rollback() {
    let mut spec = spec_to_docker(
        &spec_from_docker(&decode(
            r#"{"Name":"a","TaskTemplate":{"ContainerSpec":{"Image":"x"}}}"#,
        ))
        .unwrap(),
    );
    insert_defaults(&mut spec);
    let json = serde_json::to_value(&spec).unwrap();
    let expected = json!({"Parallelism": 1, "FailureAction": "pause", "Monitor": 5_000_000_000i64,
                          "MaxFailureRatio": 0.0, "Order": "stop-first"});
    assert_eq!(json["UpdateConfig"], expected);
    assert_eq!(json["RollbackConfig"], expected);
    // A given config keeps its values; only a zero monitor becomes 5 s.
    let mut given = decode(r#"{"UpdateConfig":{"Parallelism":0,"Order":"start-first"}}"#);
    insert_defaults(&mut given);
    let update = given.update_config.unwrap();
    assert_eq!(
        (update.parallelism, update.monitor, update.order.as_str()),
        (0, 5_000_000_000, "start-first")
    );
}

#[test]
fn service_json_has_dockers_shape() {
    let spec = spec_from_docker(&decode(FULL_SPEC)).unwrap();
    let service = Service {
        id: "s1".into(),
        meta: Meta {
            version: 9,
            created_at: Timestamp(1_000_000_000),
            updated_at: Timestamp(2_500_000_000),
        },
        spec: spec.clone(),
        spec_version: 2,
        spec_changed_at: 0,
        previous_spec: Some(spec),
        endpoint: types::Endpoint {
            spec: types::EndpointSpec {
                mode: "vip".into(),
                ports: vec![],
            },
            ports: vec![],
            virtual_ips: vec![("n1".into(), "10.0.0.2/24".into())],
        },
        update_status: Some(types::UpdateStatus {
            state: UpdateState::RollbackStarted,
            started_at: Some(Timestamp(3_000_000_000)),
            completed_at: None,
            message: "manually requested rollback".into(),
        }),
        job_status: Some(JobStatus {
            job_iteration: 0,
            last_execution: Some(Timestamp(0)),
        }),
    };
    let view = ServiceView {
        service: Arc::new(service),
        status: ServiceStatus {
            running: 2,
            desired: 3,
            completed: 0,
        },
    };
    let json = serde_json::to_value(to_docker(&view, true)).unwrap();
    assert_eq!(json["ID"], "s1");
    assert_eq!(json["Version"], json!({"Index": 9}));
    assert_eq!(json["CreatedAt"], "1970-01-01T00:00:01Z");
    assert_eq!(json["UpdatedAt"], "1970-01-01T00:00:02.5Z");
    assert_eq!(json["PreviousSpec"]["Name"], "web");
    assert_eq!(
        json["Endpoint"]["VirtualIPs"],
        json!([{"NetworkID": "n1", "Addr": "10.0.0.2/24"}])
    );
    assert_eq!(
        json["UpdateStatus"],
        json!({"State": "rollback_started", "StartedAt": "1970-01-01T00:00:03Z", "Message": "manually requested rollback"})
    );
    assert_eq!(
        json["ServiceStatus"],
        json!({"RunningTasks": 2, "DesiredTasks": 3, "CompletedTasks": 0})
    );
    assert_eq!(
        json["JobStatus"],
        json!({"JobIteration": {}, "LastExecution": "1970-01-01T00:00:00Z"})
    );
    assert!(
        serde_json::to_value(to_docker(&view, false))
            .unwrap()
            .get("ServiceStatus")
            .is_none()
    );
}

#[test]
fn a_new_services_first_rollout_shows_no_update_status() {
    let spec = spec_from_docker(&decode(FULL_SPEC)).unwrap();
    let status = |state| types::UpdateStatus {
        state,
        started_at: Some(Timestamp(1_000_000_000)),
        completed_at: None,
        message: "update in progress".into(),
    };
    let shown = |previous_spec: Option<types::ServiceSpec>, state| {
        let view = ServiceView {
            service: Arc::new(Service {
                id: "s1".into(),
                meta: Meta::default(),
                spec: spec.clone(),
                spec_version: 1,
                spec_changed_at: 0,
                previous_spec,
                endpoint: types::Endpoint::default(),
                update_status: Some(status(state)),
                job_status: None,
            }),
            status: ServiceStatus::default(),
        };
        serde_json::to_value(to_docker(&view, false)).unwrap()["UpdateStatus"].clone()
    };
    // dockerd has no status until the first `service update`.
    assert_eq!(shown(None, UpdateState::Updating), Value::Null);
    // A first rollout paused by failing tasks says why, as an update would.
    assert_eq!(shown(None, UpdateState::Paused)["State"], "paused");
    // An update under way is shown.
    assert_eq!(
        shown(Some(spec.clone()), UpdateState::Updating)["State"],
        "updating"
    );
}
