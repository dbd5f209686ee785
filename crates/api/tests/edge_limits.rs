//! Input limits at the edge, in process over the fake backend: oversize bodies (also when
//! streamed without a length), image references, mounts, and error messages that quote only
//! an excerpt of what the client sent.

#![allow(clippy::unwrap_used)]

mod common;
mod support;

use axum::body::Body;
use common::FakeBackend;
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::json;
use support::router::post;
use tower::ServiceExt;

fn service(image: &str, mounts: serde_json::Value) -> String {
    json!({
        "Name": "web",
        "TaskTemplate": {"ContainerSpec": {"Image": image, "Mounts": mounts}},
        "Mode": {"Replicated": {"Replicas": 1}}
    })
    .to_string()
}

#[tokio::test]
async fn a_streamed_body_over_4_mib_is_413_and_nothing_is_stored() {
    let backend = FakeBackend::new();
    // 5 MiB in 64 KiB chunks with no Content-Length: the limit applies while reading.
    let chunks = (0..80).map(|i| {
        let byte = if i == 0 { b'{' } else { b' ' };
        Ok::<_, std::io::Error>(axum::body::Bytes::from(vec![byte; 64 << 10]))
    });
    let request = Request::builder()
        .method(Method::POST)
        .uri("/v1.47/services/create")
        .header("content-type", "application/json")
        .body(Body::from_stream(futures::stream::iter(chunks)))
        .unwrap();
    let router = api::server::router_with_host(backend.clone(), api::host::HostFacts::default());
    let response = router.oneshot(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(
        status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        String::from_utf8_lossy(&body)
    );
    assert!(String::from_utf8_lossy(&body).contains("4194304"));
    assert!(
        !backend.calls().iter().any(|c| c.starts_with("service_create")),
        "{:?}",
        backend.calls()
    );
}

#[tokio::test]
async fn image_references_follow_the_reference_grammar() {
    let backend = FakeBackend::new();
    for bad in ["Busybox", "busy box", "busybox:", "busybox@sha256:abc", "-x"] {
        let answer = post(&backend, "/v1.47/services/create", &service(bad, json!(null))).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{bad}: {}", answer.text());
        assert!(
            answer.message().contains("is not a valid repository/tag"),
            "{}",
            answer.message()
        );
    }
    let answer = post(
        &backend,
        "/v1.47/services/create",
        &service("localhost:5000/team/app:v1", json!(null)),
    )
    .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text());
}

#[tokio::test]
async fn mounts_are_checked_as_dockerd_checks_them() {
    let backend = FakeBackend::new();
    let cases = [
        (
            json!([{"Type": "bind", "Source": "relative", "Target": "/x"}]),
            "invalid bind mount source",
        ),
        (
            json!([{"Type": "volume", "Source": "/abs", "Target": "/x"}]),
            "invalid volume mount source",
        ),
        (
            json!([{"Type": "tmpfs", "Source": "x", "Target": "/x"}]),
            "invalid tmpfs source",
        ),
        (
            json!([{"Type": "volume", "Source": "v", "Target": "x"}]),
            "invalid mount target",
        ),
        (
            json!([{"Type": "sideways", "Target": "/x"}]),
            "invalid mount type",
        ),
        (
            json!([{"Type": "npipe", "Source": "p", "Target": "/x"}]),
            "Windows",
        ),
        (
            json!([{"Type": "volume", "Source": "v", "Target": "/x", "BindOptions": {"Propagation": "rshared"}}]),
            "field BindOptions must not be specified",
        ),
        (
            json!([{"Type": "volume", "Source": "a", "Target": "/x"}, {"Type": "volume", "Source": "b", "Target": "/x"}]),
            "Duplicate mount point",
        ),
    ];
    for (mounts, want) in cases {
        let answer = post(
            &backend,
            "/v1.47/services/create",
            &service("busybox", mounts.clone()),
        )
        .await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{mounts}: {}",
            answer.text()
        );
        assert!(answer.message().contains(want), "{mounts}: {}", answer.message());
    }
    let good =
        json!([{"Type": "volume", "Source": "data", "Target": "/data"}, {"Type": "tmpfs", "Target": "/run"}]);
    let answer = post(&backend, "/v1.47/services/create", &service("busybox", good)).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text());
}

#[tokio::test]
async fn error_messages_quote_an_excerpt_of_the_input() {
    let backend = FakeBackend::new();
    let huge = "A".repeat(1 << 20);
    let bodies = [
        service(&huge, json!(null)),
        service("busybox", json!([{"Type": "bind", "Source": huge, "Target": "/x"}])),
        json!({"Name": huge, "TaskTemplate": {"ContainerSpec": {"Image": "busybox"}}}).to_string(),
        json!({"Name": "x", "TaskTemplate": {"ContainerSpec": {"Image": "busybox"}}, "Mode": {"Replicated": {"Replicas": huge}}}).to_string(),
        json!({"Name": "x", "TaskTemplate": {"ContainerSpec": {"Image": "busybox"}, "Placement": {"Constraints": [huge]}}}).to_string(),
    ];
    for (i, body) in bodies.iter().enumerate() {
        let answer = post(&backend, "/v1.47/services/create", body).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "case {i}: {:.300}",
            answer.text()
        );
        let message = answer.message();
        assert!(
            message.len() < 400,
            "case {i}: {} bytes: {:.300}",
            message.len(),
            message
        );
    }
    // A count beyond u64 says so, not "must be a whole number".
    let too_big = r#"{"Name":"x","TaskTemplate":{"ContainerSpec":{"Image":"busybox"}},"Mode":{"Replicated":{"Replicas":100000000000000000000}}}"#;
    let answer = post(&backend, "/v1.47/services/create", too_big).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(
        answer.message().contains("beyond the largest count"),
        "{}",
        answer.message()
    );
}
