//! Services and tasks through the router (tower `oneshot`) over the fake backend:
//! Docker's shapes, filters, and refusals with dockerd's statuses.

#![allow(clippy::unwrap_used)]

mod common;
mod support;

use std::sync::Arc;

use common::{FakeBackend, MANAGER_ID, WORKER_ID};
use http::{Method, StatusCode};
use serde_json::{Value, json};
use support::router::{Answer, create, get, post, send, spec};

#[tokio::test]
async fn create_then_inspect_and_list() {
    let backend = FakeBackend::new();
    let answer = post(&backend, "/v1.47/services/create", &spec("web", 3)).await;
    assert_eq!(answer.status, StatusCode::CREATED);
    let id = answer.json()["ID"].as_str().unwrap().to_string();
    assert_eq!(answer.json()["Warnings"], json!([]));
    assert_eq!(id.len(), 25);

    for key in ["web", id.as_str(), &id[..6]] {
        let service = get(&backend, &format!("/v1.47/services/{key}")).await.json();
        assert_eq!(service["ID"], id.as_str(), "{key}");
    }
    let service = get(&backend, "/v1.47/services/web").await.json();
    assert_eq!(service["Spec"]["Mode"], json!({"Replicated": {"Replicas": 3}}));
    assert_eq!(
        service["Spec"]["TaskTemplate"]["ContainerSpec"]["Mounts"],
        json!([{"Type": "tmpfs", "Target": "/tmp"}])
    );
    assert_eq!(service["Spec"]["Labels"], json!({"team": "a"}));
    assert_eq!(service["Endpoint"], json!({"Spec": {"Mode": "vip"}}));
    assert!(service.get("ServiceStatus").is_none());
    assert!(service["Spec"].get("UpdateConfig").is_none());
    let defaults = get(&backend, "/v1.47/services/web?insertDefaults=true")
        .await
        .json();
    assert_eq!(defaults["Spec"]["UpdateConfig"]["Monitor"], 5_000_000_000i64);
    assert_eq!(defaults["Spec"]["RollbackConfig"]["Parallelism"], 1);
    assert_eq!(
        defaults["Spec"]["TaskTemplate"]["RestartPolicy"]["Condition"],
        "any"
    );
    assert_eq!(
        defaults["Spec"]["TaskTemplate"]["ContainerSpec"]["StopGracePeriod"],
        10_000_000_000i64
    );

    let listed = get(&backend, "/v1.47/services?status=true").await.json();
    assert_eq!(
        listed[0]["ServiceStatus"],
        json!({"RunningTasks": 3, "DesiredTasks": 3, "CompletedTasks": 0})
    );
    assert!(
        get(&backend, "/v1.47/services").await.json()[0]
            .get("ServiceStatus")
            .is_none()
    );

    create(&backend, "db", 1).await;
    let names = |answer: Answer| -> Vec<String> {
        answer
            .json()
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["Spec"]["Name"].as_str().unwrap().to_string())
            .collect()
    };
    let filtered = get(
        &backend,
        "/v1.47/services?filters=%7B%22name%22%3A%7B%22we%22%3Atrue%7D%7D",
    )
    .await;
    assert_eq!(names(filtered), ["web"]);
    let by_mode = get(
        &backend,
        "/v1.47/services?filters=%7B%22mode%22%3A%7B%22global%22%3Atrue%7D%7D",
    )
    .await;
    assert!(names(by_mode).is_empty());
}

#[tokio::test]
async fn an_unnamed_service_gets_a_generated_name() {
    let backend = FakeBackend::new();
    let mut names = Vec::new();
    for _ in 0..2 {
        let answer = post(&backend, "/v1.47/services/create", &spec("", 1)).await;
        assert_eq!(answer.status, StatusCode::CREATED);
        let id = answer.json()["ID"].as_str().unwrap().to_string();
        let service = get(&backend, &format!("/v1.47/services/{id}")).await.json();
        let name = service["Spec"]["Name"].as_str().unwrap().to_string();
        assert!(
            name.split_once('_')
                .is_some_and(|(a, n)| !a.is_empty() && !n.is_empty()),
            "{name}"
        );
        names.push(name);
    }
    assert_ne!(names[0], names[1]);
}

#[tokio::test]
async fn bad_requests_are_refused_with_dockerds_statuses() {
    let backend = FakeBackend::new();
    create(&backend, "web", 1).await;
    let cases: &[(&str, &str, StatusCode, &str)] = &[
        (
            "/v1.47/services/create",
            "{",
            StatusCode::BAD_REQUEST,
            "invalid JSON",
        ),
        (
            "/v1.47/services/create",
            r#"{"Name":"x","Mode":{"Replicated":{"Replicas":-1}}}"#,
            StatusCode::BAD_REQUEST,
            "invalid Replicas -1: must not be negative",
        ),
        (
            "/v1.47/services/create",
            r#"{"Name":"x","TaskTemplate":{"ContainerSpec":{}}}"#,
            StatusCode::BAD_REQUEST,
            "image reference must be provided",
        ),
        (
            "/v1.47/services/create",
            r#"{"Name":"x","TaskTemplate":{"RestartPolicy":{"Condition":"sometimes"}}}"#,
            StatusCode::BAD_REQUEST,
            "invalid RestartCondition",
        ),
        (
            "/v1.47/services/create",
            r#"{"Name":"x","Mode":{"Global":{},"GlobalJob":{}}}"#,
            StatusCode::BAD_REQUEST,
            "must specify only one service mode",
        ),
        (
            "/v1.47/services/create",
            &spec("web", 1),
            StatusCode::CONFLICT,
            "already exists",
        ),
        (
            "/v1.47/services/nope/update?version=1",
            &spec("nope", 1),
            StatusCode::NOT_FOUND,
            "service nope not found",
        ),
        (
            "/v1.47/services/web/update",
            &spec("web", 2),
            StatusCode::BAD_REQUEST,
            "invalid service version ''",
        ),
        (
            "/v1.47/services/web/update?version=1",
            &spec("web", 2),
            StatusCode::INTERNAL_SERVER_ERROR,
            "update out of sequence",
        ),
        (
            "/v1.47/services/web/update?version=1&rollback=sideways",
            &spec("web", 2),
            StatusCode::BAD_REQUEST,
            "unrecognized rollback option sideways",
        ),
        (
            "/v1.47/services/web/update?version=1&registryAuthFrom=elsewhere",
            &spec("web", 2),
            StatusCode::BAD_REQUEST,
            "invalid registryAuthFrom 'elsewhere'",
        ),
    ];
    for (uri, body, status, message) in cases {
        let answer = post(&backend, uri, body).await;
        assert_eq!(answer.status, *status, "{uri} {body}: {}", answer.text());
        assert!(answer.message().contains(message), "{uri}: {}", answer.message());
    }
    let version = backend.stored_service("web").meta.version;
    let global =
        r#"{"Name":"web","TaskTemplate":{"ContainerSpec":{"Image":"busybox"}},"Mode":{"Global":{}}}"#;
    let answer = post(
        &backend,
        &format!("/v1.47/services/web/update?version={version}"),
        global,
    )
    .await;
    assert_eq!(answer.status, StatusCode::NOT_IMPLEMENTED, "{}", answer.text());
    assert_eq!(answer.message(), "service mode change is not allowed");
    let answer = post(
        &backend,
        &format!("/v1.47/services/web/update?version={version}&rollback=previous"),
        &spec("web", 1),
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(
        answer.message().contains("does not have a previous spec"),
        "{}",
        answer.message()
    );
    for uri in [
        "/v1.47/services?filters=%7B%22role%22%3A%7B%22x%22%3Atrue%7D%7D",
        "/v1.47/services?status=maybe",
        "/v1.47/services/web?insertDefaults=maybe",
    ] {
        assert_eq!(get(&backend, uri).await.status, StatusCode::BAD_REQUEST, "{uri}");
    }
    assert_eq!(
        get(&backend, "/v1.47/services/nope").await.message(),
        "service nope not found"
    );
}

#[tokio::test]
async fn update_scale_rollback_and_remove() {
    let backend = FakeBackend::new();
    let id = create(&backend, "web", 3).await;
    let first: Vec<String> = backend.stored_tasks(&id).iter().map(|t| t.id.clone()).collect();
    assert_eq!(first.len(), 3);

    // Scale: the three tasks stay (same task spec), two more start.
    let service = get(&backend, "/v1.47/services/web").await.json();
    let mut spec = service["Spec"].clone();
    spec["Mode"]["Replicated"]["Replicas"] = json!(5);
    let version = service["Version"]["Index"].as_u64().unwrap();
    let answer = post(
        &backend,
        &format!("/v1.47/services/web/update?version={version}&registryAuthFrom=spec"),
        &spec.to_string(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    assert_eq!(answer.json(), json!({"Warnings": []}));
    let tasks = backend.stored_tasks(&id);
    assert_eq!(tasks.len(), 5);
    assert!(
        first.iter().all(|t| tasks.iter().any(|s| &s.id == t)),
        "scaling keeps the running tasks"
    );

    // Sending the spec back unchanged changes nothing.
    let service = get(&backend, "/v1.47/services/web").await.json();
    let version = service["Version"]["Index"].as_u64().unwrap();
    post(
        &backend,
        &format!("/v1.47/services/web/update?version={version}"),
        &service["Spec"].to_string(),
    )
    .await;
    assert_eq!(backend.stored_service("web").spec_version, 2);

    // A new image replaces every task; the old ones are shut down.
    let mut spec = service["Spec"].clone();
    spec["TaskTemplate"]["ContainerSpec"]["Image"] = json!("busybox:2");
    let version = backend.stored_service("web").meta.version;
    post(
        &backend,
        &format!("/v1.47/services/web/update?version={version}"),
        &spec.to_string(),
    )
    .await;
    let updated = get(&backend, "/v1.47/services/web").await.json();
    // The fake daemon runs the real updater to its end inside the call.
    assert_eq!(updated["UpdateStatus"]["State"], "completed");
    assert_eq!(
        updated["PreviousSpec"]["TaskTemplate"]["ContainerSpec"]["Image"], "busybox:latest",
        "stored in normal form"
    );
    let running = |backend: &Arc<FakeBackend>| -> Vec<String> {
        backend
            .stored_tasks(&id)
            .iter()
            .filter(|t| t.desired_state == types::TaskState::Running)
            .map(|t| t.spec.container.image.clone())
            .collect()
    };
    assert_eq!(running(&backend), vec!["busybox:2"; 5]);
    assert_eq!(backend.stored_tasks(&id).len(), 10);

    // Rollback: the previous spec comes back.
    let version = backend.stored_service("web").meta.version;
    let answer = post(
        &backend,
        &format!("/v1.47/services/web/update?version={version}&rollback=previous"),
        &spec.to_string(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let rolled = get(&backend, "/v1.47/services/web").await.json();
    assert_eq!(
        rolled["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"],
        "busybox:latest"
    );
    assert_eq!(rolled["UpdateStatus"]["State"], "rollback_completed");
    assert_eq!(running(&backend), vec!["busybox:latest"; 5]);
    assert!(backend.calls().contains(&"service_rollback".to_string()));

    let removed = send(&backend, Method::DELETE, "/v1.47/services/web", None).await;
    assert_eq!((removed.status, removed.body.len()), (StatusCode::OK, 0));
    assert_eq!(
        send(&backend, Method::DELETE, "/v1.47/services/web", None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert!(backend.stored_tasks(&id).is_empty());
}

fn filters(value: Value) -> String {
    let text = value.to_string();
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test]
async fn tasks_list_filter_and_inspect() {
    let backend = FakeBackend::new();
    let id = create(&backend, "web", 3).await;
    create(&backend, "db", 1).await;
    let all = get(&backend, "/v1.47/tasks").await.json();
    assert_eq!(all.as_array().unwrap().len(), 4);

    let of_web = get(
        &backend,
        &format!(
            "/v1.47/tasks?filters={}",
            filters(json!({"service": {"web": true}}))
        ),
    )
    .await
    .json();
    let of_web = of_web.as_array().unwrap();
    assert_eq!(of_web.len(), 3);
    let task = &of_web[0];
    assert_eq!(task["ServiceID"], id.as_str());
    assert_eq!(
        (task["Status"]["State"].as_str(), task["DesiredState"].as_str()),
        (Some("running"), Some("running"))
    );
    assert_eq!(task["Spec"]["ContainerSpec"]["Image"], "busybox:latest");
    assert!(
        task["Status"]["ContainerStatus"]["ContainerID"]
            .as_str()
            .unwrap()
            .len()
            == 64
    );
    assert!(task["Slot"].as_u64().unwrap() >= 1);
    assert!([MANAGER_ID, WORKER_ID].contains(&task["NodeID"].as_str().unwrap()));

    // The CLI's progress query: current spec, desired running.
    let progress = filters(
        json!({"service": {id.clone(): true}, "_up-to-date": {"true": true}, "desired-state": {"running": true}}),
    );
    assert_eq!(
        get(&backend, &format!("/v1.47/tasks?filters={progress}"))
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let on_worker = get(
        &backend,
        &format!(
            "/v1.47/tasks?filters={}",
            filters(json!({"node": {"beta": true}}))
        ),
    )
    .await
    .json();
    assert!(
        on_worker
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["NodeID"] == WORKER_ID)
    );
    let shutdown = get(
        &backend,
        &format!(
            "/v1.47/tasks?filters={}",
            filters(json!({"desired-state": {"shutdown": true}}))
        ),
    )
    .await;
    assert_eq!(shutdown.json(), json!([]));
    let bad = get(
        &backend,
        &format!(
            "/v1.47/tasks?filters={}",
            filters(json!({"desired-state": {"asleep": true}}))
        ),
    )
    .await;
    assert_eq!(
        (bad.status, bad.message()),
        (
            StatusCode::BAD_REQUEST,
            "Invalid desired-state filter: 'asleep'".into()
        )
    );

    let task_id = task["ID"].as_str().unwrap();
    let one = get(&backend, &format!("/v1.47/tasks/{}", &task_id[..8]))
        .await
        .json();
    assert_eq!(one["ID"], task_id);
    let missing = get(&backend, "/v1.47/tasks/zzzz").await;
    assert_eq!(
        (missing.status, missing.message()),
        (StatusCode::NOT_FOUND, "task zzzz not found".into())
    );
}

/// A service created with the stock CLI's restart and update flags, its zeros given.
fn spec_with(name: &str, restart: Value, update: Value) -> String {
    let mut body: Value = serde_json::from_str(&spec(name, 1)).unwrap();
    body["TaskTemplate"]["RestartPolicy"] = restart;
    body["UpdateConfig"] = update;
    body.to_string()
}

#[tokio::test]
async fn zero_valued_restart_and_update_fields_come_back_as_dockerd_shows_them() {
    let backend = FakeBackend::new();
    // `--restart-window 0 --restart-max-attempts 0 --restart-delay 0 --update-delay 0`.
    let given = json!({"Condition": "on-failure", "Delay": 0, "MaxAttempts": 0, "Window": 0});
    let update = json!({"Parallelism": 1, "Delay": 0, "FailureAction": "pause", "Monitor": 5_000_000_000i64,
                        "MaxFailureRatio": 0, "Order": "stop-first"});
    let answer = post(
        &backend,
        "/v1.47/services/create",
        &spec_with("zeros", given.clone(), update),
    )
    .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text());
    let service = get(&backend, "/v1.47/services/zeros").await.json();
    assert_eq!(service["Spec"]["TaskTemplate"]["RestartPolicy"], given);
    // UpdateConfig's Delay is a plain duration with omitempty in dockerd: a zero is not shown.
    assert_eq!(
        service["Spec"]["UpdateConfig"],
        json!({"Parallelism": 1, "FailureAction": "pause", "Monitor": 5_000_000_000i64,
               "MaxFailureRatio": 0.0, "Order": "stop-first"})
    );

    // The CLI's defaults without a window flag: no Window, as dockerd (its Window pointer is nil).
    let defaults = json!({"Condition": "any", "Delay": 5_000_000_000i64, "MaxAttempts": 0});
    let answer = post(
        &backend,
        "/v1.47/services/create",
        &spec_with("plain", defaults.clone(), json!(null)),
    )
    .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text());
    let service = get(&backend, "/v1.47/services/plain").await.json();
    assert_eq!(service["Spec"]["TaskTemplate"]["RestartPolicy"], defaults);

    // `service update --restart-window 0` on it keeps the given zero through the update.
    let mut spec = service["Spec"].clone();
    spec["TaskTemplate"]["RestartPolicy"]["Window"] = json!(0);
    let version = service["Version"]["Index"].as_u64().unwrap();
    let answer = post(
        &backend,
        &format!("/v1.47/services/plain/update?version={version}"),
        &spec.to_string(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let service = get(&backend, "/v1.47/services/plain").await.json();
    assert_eq!(service["Spec"]["TaskTemplate"]["RestartPolicy"]["Window"], 0);
    assert_eq!(service["PreviousSpec"]["TaskTemplate"]["RestartPolicy"], defaults);

    // A raw client's `RestartPolicy: {}` comes back as dockerd converts it (condition any,
    // no attempts limit); no policy at all stays absent.
    let answer = post(
        &backend,
        "/v1.47/services/create",
        &spec_with("empty-policy", json!({}), json!(null)),
    )
    .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text());
    let service = get(&backend, "/v1.47/services/empty-policy").await.json();
    assert_eq!(
        service["Spec"]["TaskTemplate"]["RestartPolicy"],
        json!({"Condition": "any", "MaxAttempts": 0})
    );
    let mut body: Value = serde_json::from_str(&support::router::spec("no-policy", 1)).unwrap();
    body["TaskTemplate"]
        .as_object_mut()
        .unwrap()
        .remove("RestartPolicy");
    let answer = post(&backend, "/v1.47/services/create", &body.to_string()).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text());
    let service = get(&backend, "/v1.47/services/no-policy").await.json();
    assert!(
        service["Spec"]["TaskTemplate"].get("RestartPolicy").is_none(),
        "{service}"
    );

    let negative = json!({"Condition": "any", "Window": -1});
    let answer = post(
        &backend,
        "/v1.47/services/create",
        &spec_with("neg", negative, json!(null)),
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(
        answer.message().contains("restart-window cannot be negative"),
        "{}",
        answer.text()
    );
}

#[tokio::test]
async fn a_replicated_job_of_zero_is_accepted_as_dockerd_does() {
    let backend = FakeBackend::new();
    // `docker service create --mode replicated-job --replicas 0`: MaxConcurrent defaults to
    // the replicas in the CLI, so both are 0; SwarmKit accepts it and the job is done at once.
    let mut body: Value = serde_json::from_str(&spec("zero", 1)).unwrap();
    body["Mode"] = json!({"ReplicatedJob": {"MaxConcurrent": 0, "TotalCompletions": 0}});
    let answer = post(&backend, "/v1.47/services/create", &body.to_string()).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text());
    let service = get(&backend, "/v1.47/services/zero").await.json();
    assert_eq!(
        service["Spec"]["Mode"],
        json!({"ReplicatedJob": {"MaxConcurrent": 0, "TotalCompletions": 0}})
    );
    assert!(service.get("UpdateStatus").is_none(), "{service}");
    let id = service["ID"].as_str().unwrap();
    assert!(backend.stored_tasks(id).is_empty(), "a job of zero runs nothing");
}

#[tokio::test]
async fn a_new_service_shows_no_update_status() {
    let backend = FakeBackend::new();
    create(&backend, "web", 2).await;
    let service = get(&backend, "/v1.47/services/web").await.json();
    assert!(service.get("UpdateStatus").is_none(), "{service}");
}
