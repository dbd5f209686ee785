//! Service and task logs through the router over the fake backend: dockerd's framing byte
//! for byte, refusals before the stream starts, and a followed stream that stays open.

#![allow(clippy::unwrap_used)]

mod common;
mod support;

use std::time::Duration;

use common::FakeBackend;
use http::{Method, StatusCode};
use http_body_util::BodyExt;
use support::router::{create, get, post, request};
use tower::ServiceExt;

/// Splits a multiplexed body into (stream, payload) frames.
fn frames(body: &[u8]) -> Vec<(u8, String)> {
    let mut out = Vec::new();
    let mut rest = body;
    while !rest.is_empty() {
        assert!(rest.len() >= 8, "truncated header");
        assert_eq!(&rest[1..4], &[0, 0, 0]);
        let len = u32::from_be_bytes([rest[4], rest[5], rest[6], rest[7]]) as usize;
        out.push((rest[0], String::from_utf8(rest[8..8 + len].to_vec()).unwrap()));
        rest = &rest[8 + len..];
    }
    out
}

#[tokio::test]
async fn logs_are_framed_like_dockerd() {
    let backend = FakeBackend::new();
    let id = create(&backend, "web", 1).await;
    let task = backend.stored_tasks(&id).remove(0);
    let answer = get(&backend, "/v1.47/services/web/logs?stdout=1&stderr=1&details=1").await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        answer.header("content-type"),
        "application/vnd.docker.multiplexed-stream"
    );
    let details = format!(
        "com.docker.swarm.node.id={},com.docker.swarm.service.id={id},com.docker.swarm.task.id={}",
        task.node_id, task.id
    );
    let mut expected = Vec::new();
    for (stream, text) in [
        (1u8, "starting up"),
        (2, "warning: running on a fake daemon"),
        (1, "ready"),
    ] {
        let payload = format!("{details} {text}\n");
        expected.push(stream);
        expected.extend_from_slice(&[0, 0, 0]);
        expected.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        expected.extend_from_slice(payload.as_bytes());
    }
    assert_eq!(answer.body, expected, "byte-exact frames");

    let stamped = get(&backend, "/services/web/logs?stdout=true&timestamps=1&tail=1").await;
    assert_eq!(
        frames(&stamped.body),
        [(1, "2026-11-27T05:01:02.125456789Z ready\n".to_string())]
    );
    let task_logs = get(&backend, &format!("/v1.47/tasks/{}/logs?stderr=1", task.id)).await;
    assert_eq!(
        frames(&task_logs.body),
        [(2, "warning: running on a fake daemon\n".to_string())]
    );
    let old_client = get(&backend, "/v1.41/services/web/logs?stdout=1&tail=all").await;
    assert_eq!(
        old_client.header("content-type"),
        "application/vnd.docker.raw-stream"
    );
    assert_eq!(frames(&old_client.body).len(), 2, "still framed, as dockerd does");
    let since = get(&backend, "/v1.47/services/web/logs?stdout=1&since=1795755662.124").await;
    assert_eq!(frames(&since.body), [(1, "ready\n".to_string())]);

    for (uri, status, message) in [
        (
            "/v1.47/services/web/logs",
            StatusCode::BAD_REQUEST,
            "must specify at least one of 'stdout' or 'stderr'",
        ),
        (
            "/v1.47/services/web/logs?stdout=1&tail=-1",
            StatusCode::BAD_REQUEST,
            "negative tail values not supported",
        ),
        (
            "/v1.47/services/web/logs?stdout=1&tail=x",
            StatusCode::BAD_REQUEST,
            "tail value must be a positive integer",
        ),
        (
            "/v1.47/services/web/logs?stdout=1&since=yesterday",
            StatusCode::BAD_REQUEST,
            "invalid value for \"since\"",
        ),
        (
            "/v1.47/services/nope/logs?stdout=1",
            StatusCode::NOT_FOUND,
            "service nope not found",
        ),
        (
            "/v1.47/tasks/nope/logs?stdout=1",
            StatusCode::NOT_FOUND,
            "task nope not found",
        ),
    ] {
        let answer = get(&backend, uri).await;
        assert_eq!(answer.status, status, "{uri}");
        assert_eq!(answer.header("content-type"), "application/json", "{uri}");
        assert!(
            answer.message().starts_with(message),
            "{uri}: {}",
            answer.message()
        );
    }

    // A TTY service's logs are raw: no headers.
    let tty = r#"{"Name":"term","TaskTemplate":{"ContainerSpec":{"Image":"busybox","TTY":true}}}"#;
    assert_eq!(
        post(&backend, "/v1.47/services/create", tty).await.status,
        StatusCode::CREATED
    );
    let raw = get(&backend, "/v1.47/services/term/logs?stdout=1&stderr=1").await;
    assert_eq!(raw.header("content-type"), "application/vnd.docker.raw-stream");
    assert_eq!(
        raw.text(),
        "starting up\nwarning: running on a fake daemon\nready\n"
    );
}

#[tokio::test]
async fn followed_logs_stream_until_the_client_leaves() {
    let backend = FakeBackend::new();
    create(&backend, "web", 2).await;
    let router = api::server::router_with_host(backend.clone(), api::host::HostFacts::default());
    let response = router
        .oneshot(request(
            Method::GET,
            "/v1.47/services/web/logs?stdout=1&follow=1",
            None,
        ))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut body = response.into_body();
    let mut received = Vec::new();
    // Four stdout lines (two per task) arrive, then the stream stays open.
    while frames_complete(&received) < 4 {
        let frame = tokio::time::timeout(Duration::from_secs(5), body.frame())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        received.extend_from_slice(&frame.into_data().unwrap());
    }
    assert!(
        tokio::time::timeout(Duration::from_millis(100), body.frame())
            .await
            .is_err(),
        "still open"
    );
    drop(body);
}

/// Number of complete frames in `bytes`.
fn frames_complete(bytes: &[u8]) -> usize {
    let (mut count, mut rest) = (0, bytes);
    while rest.len() >= 8 {
        let len = u32::from_be_bytes([rest[4], rest[5], rest[6], rest[7]]) as usize;
        if rest.len() < 8 + len {
            break;
        }
        count += 1;
        rest = &rest[8 + len..];
    }
    count
}
