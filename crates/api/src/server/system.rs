//! `/_ping`, `/version` and `/info`.

use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use http::{HeaderValue, header};

use super::AppState;
use super::response::json;
use crate::backend::{LocalNodeState, SwarmStatus};
use crate::convert::system;

/// The `Swarm` header of `/_ping`: the local state, with the role once active.
pub fn swarm_header(status: &SwarmStatus) -> String {
    match status.state {
        LocalNodeState::Active if status.control_available => "active/manager".into(),
        LocalNodeState::Active => "active/worker".into(),
        other => other.as_str().into(),
    }
}

/// `GET /_ping`: `OK`.
pub async fn ping(State(state): State<AppState>) -> Response {
    ping_response(&state, Body::from("OK"))
}

/// `HEAD /_ping`: the same headers, no body (the docker CLI pings with HEAD first).
pub async fn ping_head(State(state): State<AppState>) -> Response {
    let mut response = ping_response(&state, Body::empty());
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
    response
}

fn ping_response(state: &AppState, body: Body) -> Response {
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store, must-revalidate"),
    );
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    if let Ok(value) = HeaderValue::from_str(&swarm_header(&state.backend.swarm_status())) {
        headers.insert("swarm", value);
    }
    response
}

/// `GET /version`.
pub async fn version(State(state): State<AppState>) -> Response {
    json(&system::version(&state.host))
}

/// `GET /info`.
pub async fn info(State(state): State<AppState>) -> Response {
    let backend = &state.backend;
    let status = backend.swarm_status();
    let manager = backend.manager_info();
    let mut info = system::info(&status, manager.as_ref(), backend.hostname(), &state.host);
    info.warnings = backend.host_warnings().await;
    json(&info)
}
