//! Request bodies match keys to Docker's fields ignoring case, as dockerd's Go decoder does:
//! a lower-case body stores what its capitalised form stores (through the HTTP edge).

#![allow(clippy::unwrap_used)]

mod common;
mod support;

use common::FakeBackend;
use http::StatusCode;
use serde_json::json;
use support::router::{get, post};

/// The same service spec twice: as the docker CLI spells it and in lower case.
fn specs() -> (String, String) {
    let upper = json!({
        "Name": "web",
        "Labels": {"Tier": "front"},
        "TaskTemplate": {
            "ContainerSpec": {"Image": "busybox", "Args": ["sleep", "1000"], "Init": true,
                              "Mounts": [{"Type": "tmpfs", "Target": "/tmp"}], "Sysctls": {"Net.Key": "1"}},
            "RestartPolicy": {"Condition": "on-failure", "MaxAttempts": 3},
            "Placement": {"Constraints": ["node.role==worker"],
                          "Preferences": [{"Spread": {"SpreadDescriptor": "node.labels.zone"}}]}
        },
        "Mode": {"Global": {}},
        "UpdateConfig": {"Parallelism": 2, "Order": "start-first", "FailureAction": "rollback"}
    });
    let lower = json!({
        "name": "web",
        "labels": {"Tier": "front"},
        "tasktemplate": {
            "containerspec": {"image": "busybox", "args": ["sleep", "1000"], "init": true,
                              "mounts": [{"type": "tmpfs", "target": "/tmp"}], "sysctls": {"Net.Key": "1"}},
            "restartpolicy": {"condition": "on-failure", "maxattempts": 3},
            "placement": {"constraints": ["node.role==worker"],
                          "preferences": [{"spread": {"spreaddescriptor": "node.labels.zone"}}]}
        },
        "mode": {"global": {}},
        "updateconfig": {"parallelism": 2, "order": "start-first", "failureaction": "rollback"}
    });
    (upper.to_string(), lower.to_string())
}

#[tokio::test]
async fn lower_case_keys_store_the_same_service() {
    let (upper, lower) = specs();
    let mut stored = Vec::new();
    let mut shown = Vec::new();
    for body in [&upper, &lower] {
        let backend = FakeBackend::new();
        let answer = post(&backend, "/v1.47/services/create", body).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text());
        stored.push(backend.stored_service("web").spec);
        shown.push(get(&backend, "/v1.47/services/web").await.json()["Spec"].clone());
    }
    assert_eq!(stored[0], stored[1]);
    assert_eq!(shown[0], shown[1]);
    // The case the issue names: a global service, not one replica; the order kept.
    assert_eq!(shown[1]["Mode"], json!({"Global": {}}));
    assert_eq!(shown[1]["UpdateConfig"]["Order"], "start-first");
    assert_eq!(
        shown[1]["TaskTemplate"]["ContainerSpec"]["Mounts"],
        json!([{"Type": "tmpfs", "Target": "/tmp"}])
    );
    assert_eq!(
        shown[1]["TaskTemplate"]["ContainerSpec"]["Sysctls"],
        json!({"Net.Key": "1"})
    );
}

#[tokio::test]
async fn lower_case_keys_update_a_node() {
    let backend = FakeBackend::new();
    let node = common::WORKER_ID;
    let version = get(&backend, &format!("/v1.47/nodes/{node}")).await.json()["Version"]["Index"]
        .as_u64()
        .unwrap();
    let answer = post(
        &backend,
        &format!("/v1.47/nodes/{node}/update?version={version}"),
        r#"{"role": "worker", "availability": "drain", "labels": {"Zone": "a"}}"#,
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let spec = get(&backend, &format!("/v1.47/nodes/{node}")).await.json()["Spec"].clone();
    assert_eq!(spec["Availability"], "drain");
    assert_eq!(spec["Labels"], json!({"Zone": "a"}));
}

/// Go's decoder takes a struct only from an object; serde's derived structs would also take
/// a list of field values in order (`[9223372036854775807]` became `NanoCPUs`). dockerd answers
/// 400, and nothing is stored — in the typed spec and in the mounts kept as JSON alike.
#[tokio::test]
async fn a_struct_given_as_a_list_is_refused() {
    let (upper, _) = specs();
    let spec: serde_json::Value = serde_json::from_str(&upper).unwrap();
    let mut reservations = spec.clone();
    reservations["TaskTemplate"]["Resources"] = json!({"Reservations": [i64::MAX]});
    let mut bind_options = spec;
    bind_options["TaskTemplate"]["ContainerSpec"]["Mounts"] =
        json!([{"Type": "bind", "Source": "/srv", "Target": "/srv", "BindOptions": ["rprivate"]}]);
    for body in [reservations, bind_options] {
        let backend = FakeBackend::new();
        let answer = post(&backend, "/v1.47/services/create", &body.to_string()).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text());
        assert!(
            answer.text().contains("expected a JSON object"),
            "{}",
            answer.text()
        );
        assert_eq!(get(&backend, "/v1.47/services").await.json(), json!([]));
    }
}
