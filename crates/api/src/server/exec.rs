//! `docker exec`: `POST /containers/{id}/exec`, `POST /exec/{id}/start` (the connection is
//! hijacked: 101 Switching Protocols when the client asks to upgrade, as the docker CLI
//! does, else 200 with the output stream and no input), `GET /exec/{id}/json`,
//! `POST /exec/{id}/resize`; detach keys on a terminal as `docker attach`'s (`detach.rs`); and `GET /containers/{id}/json` in the little the docker CLI
//! reads before an exec, until the containers API serves the whole inspect.

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, Request, State};
use axum::response::Response;
use http::StatusCode;

use super::query::Query;
use super::response::{json, json_with_status};
use super::{AppState, body, hijack, path_key};
use crate::backend::{ExecCreate, ExecView};
use crate::error::{Error, Result};
use crate::model::{ExecConfig, ExecInspect, ExecStartConfig, IdResponse, ProcessConfig};

/// Largest exec request body read (a command line and its environment).
const MAX_BODY: usize = 1 << 20;

/// `POST /containers/{id}/exec`.
pub async fn create(
    State(state): State<AppState>,
    key: std::result::Result<Path<String>, PathRejection>,
    headers: http::HeaderMap,
    body: std::result::Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response> {
    let key = path_key(key)?;
    let config: ExecConfig = body::decode(&headers, body)?;
    // The container by dockerd's rules (ID, name, unique ID prefix), as `/containers/*`
    // resolves it; the backend then runs the exec in its task.
    let views = state.backend.containers().await?;
    let task_id = crate::convert::container::resolve(&views, &key)?.task.id.clone();
    if config.cmd.is_empty() {
        return Err(Error::BadRequest("No exec command specified".into()));
    }
    if config.privileged {
        return Err(rules::Error::Unimplemented(
            "shoal does not run privileged exec processes (--privileged)".into(),
        )
        .into());
    }
    // Checked now, as dockerd does, so a bad spelling fails the create and not the start.
    super::detach::parse(&config.detach_keys)
        .map_err(|_| Error::BadRequest(format!("Invalid escape keys ({}) provided", config.detach_keys)))?;
    let id = state
        .backend
        .exec_create(
            &task_id,
            ExecCreate {
                cmd: config.cmd,
                env: config.env,
                user: config.user,
                working_dir: config.working_dir,
                tty: config.tty,
                attach_stdin: config.attach_stdin,
                attach_stdout: config.attach_stdout,
                attach_stderr: config.attach_stderr,
                detach_keys: config.detach_keys,
            },
        )
        .await?;
    Ok(json_with_status(StatusCode::CREATED, &IdResponse { id }))
}

/// `POST /exec/{id}/start`.
pub async fn start(
    State(state): State<AppState>,
    key: std::result::Result<Path<String>, PathRejection>,
    mut request: Request,
) -> Result<Response> {
    let id = path_key(key)?;
    // Taken before the body is read: the upgrade rides on the request's extensions.
    let upgrade = hijack::wants_upgrade(request.headers()).then(|| hyper::upgrade::on(&mut request));
    let (parts, raw) = request.into_parts();
    let bytes = axum::body::to_bytes(raw, MAX_BODY)
        .await
        .map_err(|e| Error::BadRequest(format!("reading the request body: {e}")))?;
    let config: ExecStartConfig = body::decode(&parts.headers, Ok(bytes))?;
    let size = config.console_size.map(|[h, w]| (h, w));
    let Some(streams) = state.backend.exec_start(&id, config.detach, size).await? else {
        return Ok(Response::new(Body::empty()));
    };
    // On a terminal, as dockerd: the exec's detach keys (or ctrl-p ctrl-q) typed into the
    // stream end it and leave the process running.
    let detach = if streams.tty {
        let spelled = match state.backend.exec_inspect(&id).await {
            Ok(view) => view.config.detach_keys,
            Err(_) => String::new(),
        };
        Some(super::detach::Escape::new(
            super::detach::parse(&spelled).unwrap_or_else(|_| super::detach::DEFAULT.to_vec()),
        ))
    } else {
        None
    };
    Ok(hijack::respond_detachable(
        upgrade,
        streams,
        format!("exec {id}"),
        detach,
    ))
}

/// `GET /exec/{id}/json`.
pub async fn inspect(
    State(state): State<AppState>,
    key: std::result::Result<Path<String>, PathRejection>,
) -> Result<Response> {
    let view = state.backend.exec_inspect(&path_key(key)?).await?;
    Ok(json(&to_docker(view)))
}

fn to_docker(view: ExecView) -> ExecInspect {
    let mut cmd = view.config.cmd.into_iter();
    ExecInspect {
        can_remove: !view.running,
        detach_keys: view.config.detach_keys,
        id: view.id,
        running: view.running,
        exit_code: view.exit_code,
        process_config: ProcessConfig {
            privileged: false,
            user: view.config.user,
            tty: view.config.tty,
            entrypoint: cmd.next().unwrap_or_default(),
            arguments: cmd.collect(),
        },
        open_stdin: view.config.attach_stdin,
        open_stderr: view.config.attach_stderr,
        open_stdout: view.config.attach_stdout,
        container_id: view.container_id,
        pid: view.pid,
    }
}

/// `POST /exec/{id}/resize?h=&w=`.
pub async fn resize(
    State(state): State<AppState>,
    key: std::result::Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Result<Response> {
    let id = path_key(key)?;
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
    state
        .backend
        .exec_resize(&id, dimension("h")?, dimension("w")?)
        .await?;
    Ok(Response::new(Body::empty()))
}
