//! The router driven in-process (tower `oneshot`) over the fake backend: headers, version
//! prefixes, routing, request decoding, and how backend errors become statuses.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use api::backend::LocalNodeState;
use api::host::HostFacts;
use axum::body::Body;
use common::{DOWN_ID, FakeBackend, MANAGER_ID, WORKER_ID, WORKER_TOKEN};
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

/// One answered request.
struct Answer {
    status: StatusCode,
    headers: http::HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    fn message(&self) -> String {
        self.json()["message"].as_str().unwrap_or_default().to_string()
    }
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(|v| v.to_str().unwrap()).unwrap_or("")
    }
}

async fn send(backend: &Arc<FakeBackend>, method: Method, uri: &str, body: Option<&str>) -> Answer {
    let router = api::server::router_with_host(backend.clone(), HostFacts::default());
    let mut request = Request::builder().method(method).uri(uri);
    if body.is_some() {
        request = request.header("content-type", "application/json");
    }
    let request = request.body(Body::from(body.unwrap_or("").to_string())).unwrap();
    let response = router.oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes().to_vec();
    Answer {
        status,
        headers,
        body,
    }
}

async fn get(backend: &Arc<FakeBackend>, uri: &str) -> Answer {
    send(backend, Method::GET, uri, None).await
}

async fn post(backend: &Arc<FakeBackend>, uri: &str, body: &str) -> Answer {
    send(backend, Method::POST, uri, Some(body)).await
}

#[tokio::test]
async fn ping_answers_with_dockerds_headers() {
    let backend = FakeBackend::new();
    for uri in ["/_ping", "/v1.47/_ping"] {
        let answer = get(&backend, uri).await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.text(), "OK");
        assert_eq!(answer.header("api-version"), "1.47");
        assert_eq!(answer.header("docker-experimental"), "false");
        assert_eq!(answer.header("ostype"), "linux");
        assert_eq!(
            answer.header("cache-control"),
            "no-cache, no-store, must-revalidate"
        );
        assert_eq!(answer.header("pragma"), "no-cache");
        assert_eq!(answer.header("swarm"), "active/manager");
        assert!(
            answer.header("server").starts_with("shoal/"),
            "{}",
            answer.header("server")
        );
    }
    let head = send(&backend, Method::HEAD, "/_ping", None).await;
    assert_eq!(head.status, StatusCode::OK);
    assert!(head.body.is_empty());
    assert_eq!(head.header("swarm"), "active/manager");
    assert_eq!(head.header("api-version"), "1.47");

    let mut status = backend.status();
    status.control_available = false;
    backend.set_status(status.clone());
    assert_eq!(get(&backend, "/_ping").await.header("swarm"), "active/worker");
    status.state = LocalNodeState::Inactive;
    backend.set_status(status);
    assert_eq!(get(&backend, "/_ping").await.header("swarm"), "inactive");
}

#[tokio::test]
async fn version_prefix_is_optional_and_checked() {
    let backend = FakeBackend::new();
    assert_eq!(get(&backend, "/nodes").await.json().as_array().unwrap().len(), 3);
    assert_eq!(
        get(&backend, "/v1.47/nodes")
            .await
            .json()
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(get(&backend, "/v1.24/nodes").await.status, StatusCode::OK);

    let too_new = get(&backend, "/v1.99/nodes").await;
    assert_eq!(too_new.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        too_new.message(),
        "client version 1.99 is too new. Maximum supported API version is 1.47"
    );
    assert_eq!(too_new.header("api-version"), "1.47");

    let too_old = get(&backend, "/v1.12/info").await;
    assert_eq!(too_old.status, StatusCode::BAD_REQUEST);
    assert!(
        too_old.text().starts_with("client version 1.12 is too old."),
        "{}",
        too_old.text()
    );

    let version = get(&backend, "/v1.47/version").await.json();
    assert_eq!(
        (version["ApiVersion"].as_str(), version["MinAPIVersion"].as_str()),
        (Some("1.47"), Some("1.24"))
    );
}

#[tokio::test]
async fn unknown_routes_and_methods_are_page_not_found_naming_the_endpoint() {
    let backend = FakeBackend::new();
    for (method, uri, named) in [
        (
            Method::GET,
            "/v1.47/containers/abc/changes",
            "GET /containers/abc/changes",
        ),
        (Method::GET, "/nope", "GET /nope"),
        (Method::GET, "/v1.47", "GET /"),
        (Method::PUT, "/v1.47/nodes", "PUT /nodes"),
        (Method::POST, "/swarm", "POST /swarm"),
    ] {
        let answer = send(&backend, method.clone(), uri, None).await;
        assert_eq!(answer.status, StatusCode::NOT_FOUND, "{method} {uri}");
        assert_eq!(
            answer.json(),
            serde_json::json!({"message": format!("page not found: shoal does not serve {named}")}),
            "{method} {uri}"
        );
        assert_eq!(answer.header("content-type"), "application/json");
    }
    assert!(backend.calls().is_empty());
}

#[tokio::test]
async fn malformed_bodies_never_reach_the_backend() {
    let backend = FakeBackend::new();
    let update = format!("/v1.47/nodes/{WORKER_ID}/update?version=1");
    for (uri, body) in [
        (update.as_str(), "{"),
        (update.as_str(), r#"{"Role": 1}"#),
        (
            update.as_str(),
            r#"{"Role":"worker","Availability":"active"} trailing"#,
        ),
        (update.as_str(), "[]"),
        (update.as_str(), r#"{"Role":"boss","Availability":"active"}"#),
        (update.as_str(), r#"{"Role":"worker","Availability":"asleep"}"#),
        ("/v1.47/swarm/init", "not json"),
        ("/v1.47/swarm/init", r#"{"ListenAddr": 5}"#),
        ("/v1.47/swarm/init", r#"{"Spec":{"Name":"prod"}}"#),
        ("/v1.47/swarm/join", r#"{"JoinToken":"x"}"#),
        ("/v1.47/swarm/join", r#"{"RemoteAddrs":"10.0.0.1"}"#),
        (
            "/v1.47/swarm/update?version=1",
            r#"{"Raft":{"ElectionTick":"ten"}}"#,
        ),
    ] {
        let answer = post(&backend, uri, body).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{uri} {body}: {}",
            answer.text()
        );
        assert!(!answer.message().is_empty());
    }
    assert!(backend.calls().is_empty(), "{:?}", backend.calls());

    let answer = post(&backend, &update, "{").await;
    assert!(
        answer.message().starts_with("invalid JSON"),
        "{}",
        answer.message()
    );
    let answer = post(&backend, "/v1.47/swarm/join", "{}").await;
    assert_eq!(answer.message(), "at least 1 RemoteAddr is required to join");
    let answer = post(&backend, &update, r#"{"Role":"boss","Availability":"active"}"#).await;
    assert_eq!(answer.message(), r#"invalid Role: "boss""#);
}

#[tokio::test]
async fn backend_errors_map_to_dockerd_statuses() {
    let backend = FakeBackend::new();
    let cases = [
        (rules::Error::NotFound("no such thing".into()), 404),
        (rules::Error::InvalidArgument("bad".into()), 400),
        (
            rules::Error::FailedPrecondition("This node is not a swarm manager.".into()),
            400,
        ),
        (rules::Error::Conflict("exists".into()), 409),
        (rules::Error::OutOfSequence, 500),
        (rules::Error::Forbidden("no".into()), 403),
        (rules::Error::Unavailable("no leader".into()), 503),
        (rules::Error::Internal("boom".into()), 500),
    ];
    for (error, status) in cases {
        backend.fail_next(error.clone());
        let answer = post(
            &backend,
            "/v1.47/swarm/join",
            r#"{"RemoteAddrs":["10.0.0.1:2377"],"JoinToken":"t"}"#,
        )
        .await;
        assert_eq!(answer.status.as_u16(), status, "{error:?}");
        assert_eq!(answer.message(), error.to_string());
    }
    let missing = get(&backend, "/v1.47/nodes/nope").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.message(), "node nope not found");
}

#[tokio::test]
async fn node_update_needs_the_current_version() {
    let backend = FakeBackend::new();
    let spec = r#"{"Labels":{"zone":"a"},"Role":"worker","Availability":"drain"}"#;
    let base = format!("/v1.47/nodes/{WORKER_ID}/update");

    let missing = post(&backend, &base, spec).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        missing.message(),
        r#"invalid node version '': strconv.ParseUint: parsing "": invalid syntax"#
    );
    let garbage = post(&backend, &format!("{base}?version=abc"), spec).await;
    assert_eq!(garbage.status, StatusCode::BAD_REQUEST);
    assert!(garbage.message().starts_with("invalid node version 'abc'"));
    assert!(backend.calls().is_empty());

    let version = get(&backend, &format!("/v1.47/nodes/{WORKER_ID}")).await.json()["Version"]["Index"]
        .as_u64()
        .unwrap();
    let ok = post(&backend, &format!("{base}?version={version}"), spec).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text());
    assert!(ok.body.is_empty());
    let stored = backend.stored_node(WORKER_ID);
    assert_eq!(stored.spec.labels.get("zone").map(String::as_str), Some("a"));
    assert_eq!(stored.spec.availability, types::Availability::Drain);

    let stale = post(&backend, &format!("{base}?version={version}"), spec).await;
    assert_eq!(stale.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(stale.message(), "update out of sequence");

    let node = get(&backend, &format!("/v1.47/nodes/{MANAGER_ID}")).await.json();
    let demote = post(
        &backend,
        &format!(
            "/v1.47/nodes/{MANAGER_ID}/update?version={}",
            node["Version"]["Index"]
        ),
        r#"{"Role":"worker","Availability":"active"}"#,
    )
    .await;
    assert_eq!(demote.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        demote.message(),
        "attempting to demote the last manager of the swarm"
    );
}

#[tokio::test]
async fn nodes_filter_and_render() {
    let backend = FakeBackend::new();
    let managers = get(
        &backend,
        "/v1.47/nodes?filters=%7B%22role%22%3A%7B%22manager%22%3Atrue%7D%7D",
    )
    .await
    .json();
    let managers = managers.as_array().unwrap();
    assert_eq!(managers.len(), 1);
    let leader = &managers[0];
    assert_eq!(leader["ID"], MANAGER_ID);
    assert_eq!(leader["ManagerStatus"]["Leader"], true);
    assert_eq!(leader["ManagerStatus"]["Reachability"], "reachable");
    assert_eq!(leader["CreatedAt"], "2026-11-27T05:01:02.123456789Z");
    assert_eq!(leader["Description"]["Hostname"], "alpha");
    assert!(
        !leader["Description"]["TLSInfo"]["TrustRoot"]
            .as_str()
            .unwrap()
            .is_empty()
    );

    let legacy = get(
        &backend,
        "/v1.47/nodes?filters=%7B%22role%22%3A%5B%22worker%22%5D%7D",
    )
    .await
    .json();
    assert_eq!(legacy.as_array().unwrap().len(), 2);
    assert!(legacy[0].get("ManagerStatus").is_none());

    let bad = get(
        &backend,
        "/v1.47/nodes?filters=%7B%22colour%22%3A%7B%22red%22%3Atrue%7D%7D",
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert_eq!(bad.message(), "invalid filter 'colour'");

    let by_name = get(&backend, "/v1.47/nodes/gamma").await.json();
    assert_eq!(by_name["ID"], DOWN_ID);
}

#[tokio::test]
async fn swarm_inspect_and_update() {
    let backend = FakeBackend::new();
    let key_line = backend.ca_key_line();
    let answer = get(&backend, "/v1.47/swarm").await;
    assert!(!answer.text().contains(&key_line), "the CA key leaked");
    let swarm = answer.json();
    assert_eq!(swarm["JoinTokens"]["Worker"], WORKER_TOKEN);
    assert!(!swarm["TLSInfo"]["CertIssuerSubject"].as_str().unwrap().is_empty());
    let version = swarm["Version"]["Index"].as_u64().unwrap();

    let missing = post(&backend, "/v1.47/swarm/update", "{}").await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    assert!(
        missing.message().starts_with("invalid swarm version ''"),
        "{}",
        missing.message()
    );
    let bad_flag = post(
        &backend,
        &format!("/v1.47/swarm/update?version={version}&rotateWorkerToken=perhaps"),
        "{}",
    )
    .await;
    assert_eq!(bad_flag.message(), "invalid value for rotateWorkerToken: perhaps");

    let mut spec = swarm["Spec"].clone();
    spec["Raft"]["SnapshotInterval"] = 5000.into();
    let uri = format!("/v1.47/swarm/update?version={version}&rotateWorkerToken=true");
    let ok = post(&backend, &uri, &spec.to_string()).await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text());
    let cluster = backend.stored_cluster();
    assert_eq!(cluster.spec.raft.snapshot_interval, 5000);
    assert_eq!(cluster.spec.task_history_retention_limit, 5);
    assert_ne!(cluster.root_ca.join_tokens.worker, WORKER_TOKEN);

    let info = get(&backend, "/v1.47/info").await;
    assert!(!info.text().contains(&key_line), "the CA key leaked");
    let info = info.json();
    assert_eq!(info["Swarm"]["Nodes"], 3);
    assert_eq!(info["Swarm"]["Managers"], 1);
    assert_eq!(info["Swarm"]["Cluster"]["Spec"]["Raft"]["SnapshotInterval"], 5000);
    assert!(info["Swarm"]["Cluster"].get("JoinTokens").is_none());
}

#[tokio::test]
async fn init_join_and_leave_reach_the_backend() {
    let backend = FakeBackend::new();
    let init = post(
        &backend,
        "/v1.47/swarm/init",
        r#"{"ListenAddr":"","Spec":{"Labels":null}}"#,
    )
    .await;
    assert_eq!(init.status, StatusCode::OK, "{}", init.text());
    assert_eq!(init.json(), Value::String(MANAGER_ID.into()));
    let join = post(
        &backend,
        "/v1.47/swarm/join",
        r#"{"RemoteAddrs":["10.0.0.1"],"JoinToken":"t"}"#,
    )
    .await;
    assert_eq!(join.status, StatusCode::OK);
    let leave = send(&backend, Method::POST, "/v1.47/swarm/leave?force=1", None).await;
    assert_eq!(leave.status, StatusCode::OK);
    let removed = send(&backend, Method::DELETE, &format!("/v1.47/nodes/{DOWN_ID}"), None).await;
    assert_eq!(removed.status, StatusCode::OK, "{}", removed.text());
    let refused = send(
        &backend,
        Method::DELETE,
        &format!("/v1.47/nodes/{WORKER_ID}?force=false"),
        None,
    )
    .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(refused.message().contains("is not down"));
    assert_eq!(
        backend.calls(),
        [
            "swarm_init",
            "swarm_join",
            "swarm_leave",
            "node_remove",
            "node_remove"
        ]
    );
}

mod robustness {
    //! Arbitrary requests against the routes: the server answers every one (no panic) and
    //! every error it answers is dockerd-shaped.

    use proptest::prelude::*;

    use super::*;

    const PREFIXES: &[&str] = &[
        "/_ping",
        "/v1.47/nodes/",
        "/nodes?filters=",
        "/v1.47/nodes/w1bbbbbbbbbbbbbbbbbbbbbbb/update?version=",
        "/swarm/update?version=1&rotateWorkerToken=",
        "/v1.47/swarm/init",
        "/v1.47/swarm/join",
        "/swarm/leave?force=",
        "/v",
        "/",
    ];

    fn method(index: usize) -> Method {
        [Method::GET, Method::POST, Method::DELETE, Method::HEAD][index % 4].clone()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn arbitrary_requests_get_an_answer(
            prefix in 0..PREFIXES.len(),
            // Characters a URI may hold unencoded (`{}[]"` may not, and no client sends them),
            // so nearly every case is a request.
            tail in "[a-zA-Z0-9._%:,=&/-]{0,30}",
            body in "\\PC{0,40}",
            method_index in 0..4usize,
        ) {
            let uri = format!("{}{}", PREFIXES[prefix], tail);
            prop_assume!(uri.parse::<http::Uri>().is_ok());
            let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let backend = FakeBackend::new();
            let body = if body.is_empty() { None } else { Some(body.as_str()) };
            let method = method(method_index);
            let answer = runtime.block_on(send(&backend, method.clone(), &uri, body));
            // HEAD answers carry no body to check.
            if method != Method::HEAD && (answer.status.is_client_error() || answer.status.is_server_error()) {
                let plain = answer.header("content-type").starts_with("text/plain");
                prop_assert!(plain || !answer.message().is_empty(), "{} {}: {}", answer.status, uri, answer.text());
            }
        }
    }
}
