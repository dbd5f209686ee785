//! Driving the router in process (tower `oneshot`) over the fake backend.

use std::sync::Arc;

use api::host::HostFacts;
use axum::body::Body;
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::common::FakeBackend;

/// One answered request.
pub struct Answer {
    /// Status code.
    pub status: StatusCode,
    /// Response headers.
    pub headers: http::HeaderMap,
    /// The whole body.
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as JSON (panics if it is not).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    /// The `message` of an error body.
    pub fn message(&self) -> String {
        self.json()["message"].as_str().unwrap_or_default().to_string()
    }
    /// A header's value, or "".
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(|v| v.to_str().unwrap()).unwrap_or("")
    }
}

/// A request with a JSON body, if any.
pub fn request(method: Method, uri: &str, body: Option<&str>) -> Request<Body> {
    let mut request = Request::builder().method(method).uri(uri);
    if body.is_some() {
        request = request.header("content-type", "application/json");
    }
    request.body(Body::from(body.unwrap_or("").to_string())).unwrap()
}

/// Sends one request through a fresh router over `backend`.
pub async fn send(backend: &Arc<FakeBackend>, method: Method, uri: &str, body: Option<&str>) -> Answer {
    let router = api::server::router_with_host(backend.clone(), HostFacts::default());
    let response = router.oneshot(request(method, uri, body)).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await.unwrap().to_bytes().to_vec();
    Answer {
        status,
        headers,
        body,
    }
}

/// `GET uri`.
pub async fn get(backend: &Arc<FakeBackend>, uri: &str) -> Answer {
    send(backend, Method::GET, uri, None).await
}

/// `POST uri` with a JSON body.
pub async fn post(backend: &Arc<FakeBackend>, uri: &str, body: &str) -> Answer {
    send(backend, Method::POST, uri, Some(body)).await
}

/// A spec as the docker CLI sends it for `service create --name NAME --replicas N busybox sleep 1000`.
pub fn spec(name: &str, replicas: u64) -> String {
    json!({
        "Name": name,
        "Labels": {"team": "a"},
        "TaskTemplate": {
            "ContainerSpec": {"Image": "busybox", "Args": ["sleep", "1000"], "Init": false, "DNSConfig": {},
                              "Mounts": [{"Type": "tmpfs", "Target": "/tmp"}]},
            "Resources": {"Limits": {}, "Reservations": {}},
            "Placement": {},
            "ForceUpdate": 0
        },
        "Mode": {"Replicated": {"Replicas": replicas}},
        "EndpointSpec": {"Mode": "vip"}
    })
    .to_string()
}

/// Creates a service and returns its ID.
pub async fn create(backend: &Arc<FakeBackend>, name: &str, replicas: u64) -> String {
    let answer = post(backend, "/v1.47/services/create", &spec(name, replicas)).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text());
    answer.json()["ID"].as_str().unwrap().to_string()
}
