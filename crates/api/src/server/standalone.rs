//! Standalone containers (`docker run`): `POST /containers/create`, `/containers/{id}/start`,
//! `/containers/{id}/attach` (hijacked as exec's stream), `/containers/{id}/resize`,
//! `DELETE /containers/{id}` and `POST /containers/prune`. Inspect, logs, wait, kill, stop
//! and the rest are `containers.rs`'s, for task and standalone containers alike.
//!
//! ```text
//! docker run:  create ─► attach (unless -d) ─► wait?condition=next-exit|removed ─► start
//!              output ◄── attach stream (ends with the container) ; exit code ◄── wait
//! ```

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, Request, State};
use axum::response::Response;
use http::StatusCode;

use super::query::Query;
use super::response::{json, json_with_status};
use super::{AppState, body, hijack, path_key};
use crate::backend::AttachOptions;
use crate::containers::{ContainerStatus, ContainerView, is_standalone};
use crate::convert::container as convert;
use crate::convert::standalone::{self as create_body, CreateError};
use crate::error::{Error, Result};

/// `POST /containers/create?name=`.
pub async fn create(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: http::HeaderMap,
    body: std::result::Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response> {
    let query = Query::parse(query.as_deref().unwrap_or(""));
    let name = match query.get("name").unwrap_or("") {
        "" => String::new(),
        given => create_body::check_name(given).map_err(bad_request)?,
    };
    if !query.get("platform").unwrap_or("").is_empty() {
        return Err(Error::BadRequest(
            "shoal runs containers of this node's platform only; run without --platform".into(),
        ));
    }
    let raw: serde_json::Map<String, serde_json::Value> = body::decode(&headers, body)?;
    let create = create_body::from_body(&raw).map_err(bad_request)?;
    let id = state.backend.container_create(&name, create).await?;
    Ok(json_with_status(
        StatusCode::CREATED,
        &serde_json::json!({"Id": id, "Warnings": []}),
    ))
}

fn bad_request(e: CreateError) -> Error {
    Error::BadRequest(e.to_string())
}

/// The standalone container the path names (a task container cannot be started, attached
/// or removed through these routes: its service owns it).
async fn find_standalone(
    state: &AppState,
    key: std::result::Result<Path<String>, PathRejection>,
    verb: &str,
) -> Result<ContainerView> {
    find_standalone_key(state, &path_key(key)?, verb).await
}

/// [`find_standalone`] by the container's ID, name or unique ID prefix.
pub(super) async fn find_standalone_key(state: &AppState, key: &str, verb: &str) -> Result<ContainerView> {
    let views = state.backend.containers().await?;
    let v = convert::resolve(&views, key)?.clone();
    if !is_standalone(&v.task) {
        return Err(Error::Backend(rules::Error::Unimplemented(format!(
            "cannot {verb} container {}: it is a task of service {}; use docker service commands",
            v.name(),
            v.task.service_name
        ))));
    }
    Ok(v)
}

/// The container `key` names, standalone or a service task's.
async fn find_container(
    state: &AppState,
    key: std::result::Result<Path<String>, PathRejection>,
) -> Result<ContainerView> {
    let views = state.backend.containers().await?;
    Ok(convert::resolve(&views, &path_key(key)?)?.clone())
}

/// `POST /containers/{id}/start`: 304 when it already runs.
pub async fn start(
    State(state): State<AppState>,
    key: std::result::Result<Path<String>, PathRejection>,
) -> Result<Response> {
    let v = find_standalone(&state, key, "start").await?;
    if v.status == ContainerStatus::Running {
        return Ok(status(StatusCode::NOT_MODIFIED));
    }
    state.backend.container_start(&v.task.id).await?;
    Ok(status(StatusCode::NO_CONTENT))
}

/// `POST /containers/{id}/attach?stream=&logs=&stdin=&stdout=&stderr=`.
pub async fn attach(
    State(state): State<AppState>,
    key: std::result::Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
    mut request: Request,
) -> Result<Response> {
    let query = Query::parse(query.as_deref().unwrap_or(""));
    // A service task's container too: its terminal, when it has one (the backend says).
    let v = find_container(&state, key).await?;
    // On a terminal, as dockerd: the given sequence or ctrl-p ctrl-q ends the attach.
    let detach = super::detach::parse(query.get("detachKeys").unwrap_or("")).map_err(Error::BadRequest)?;
    let options = AttachOptions {
        logs: query.flag("logs"),
        stream: query.flag("stream"),
        stdout: query.flag("stdout"),
        stderr: query.flag("stderr"),
        stdin: query.flag("stdin"),
    };
    let upgrade = hijack::wants_upgrade(request.headers()).then(|| hyper::upgrade::on(&mut request));
    let streams = state.backend.container_attach(&v.task.id, options).await?;
    let detach = streams.tty.then(|| super::detach::Escape::new(detach));
    Ok(hijack::respond_detachable(
        upgrade,
        streams,
        format!("attach to container {}", v.id),
        detach,
    ))
}

/// `POST /containers/{id}/resize?h=&w=`: the terminal of a running container created with
/// `-t` (`docker run -it` sends its own size after the start, then on every change).
pub async fn resize(
    State(state): State<AppState>,
    key: std::result::Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Result<Response> {
    let v = find_container(&state, key).await?;
    let query = Query::parse(query.as_deref().unwrap_or(""));
    let dimension = |name: &str| -> Result<u16> {
        let raw = query.get(name).unwrap_or("");
        raw.parse::<u16>().map_err(|_| {
            Error::BadRequest(format!(
                "invalid {name} value {:?}: expected 0..65535",
                types::excerpt(raw)
            ))
        })
    };
    let (height, width) = (dimension("h")?, dimension("w")?);
    if !v.task.spec.container.tty {
        return Err(Error::Backend(rules::Error::Conflict(format!(
            "container {} has no TTY to resize",
            v.id
        ))));
    }
    state.backend.container_resize(&v.task.id, height, width).await?;
    Ok(status(StatusCode::OK))
}

/// `DELETE /containers/{id}?force=&v=&link=`.
pub async fn remove(
    State(state): State<AppState>,
    key: std::result::Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Result<Response> {
    let query = Query::parse(query.as_deref().unwrap_or(""));
    if query.flag("link") {
        return Err(Error::BadRequest(
            "container links are not supported by shoal (docker rm --link)".into(),
        ));
    }
    let v = find_standalone(&state, key, "remove").await?;
    let force = query.flag("force");
    if v.status == ContainerStatus::Running && !force {
        return Err(Error::Backend(rules::Error::Conflict(format!(
            "cannot remove container \"/{}\": container is running: stop the container before removing or force remove",
            v.name()
        ))));
    }
    state
        .backend
        .container_remove(&v.task.id, force, query.flag("v"))
        .await?;
    Ok(status(StatusCode::NO_CONTENT))
}

/// `POST /containers/prune`: exited standalone containers go (filters are refused).
pub async fn prune(State(state): State<AppState>, RawQuery(query): RawQuery) -> Result<Response> {
    let query = Query::parse(query.as_deref().unwrap_or(""));
    let filters = query.get("filters").unwrap_or("");
    if !matches!(filters, "" | "{}") {
        return Err(Error::BadRequest(
            "container prune filters (--filter) are not supported by shoal yet".into(),
        ));
    }
    let removed = state.backend.container_prune().await?;
    Ok(json(&serde_json::json!({
        "ContainersDeleted": removed,
        "SpaceReclaimed": 0,
    })))
}

fn status(code: StatusCode) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = code;
    response
}
