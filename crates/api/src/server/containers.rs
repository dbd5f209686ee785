//! `/containers/*` for this node's task containers: list, inspect, logs, top, stats, wait,
//! kill, stop, restart.
//!
//! ```text
//! request ─► Backend::containers() ─► resolve {id} (full ID, name, unique prefix) ─► task ID
//!         ─► Backend::container_* (keyed by task ID) ─► Docker JSON / stream
//! stop:    signal (query, else the task's stop signal) ─► wait ≤ t ─► SIGKILL ─► wait
//! ```
//!
//! A task container's exit is its task's exit: the runner reports it and the orchestrator
//! starts a replacement, as Swarm does when a task container dies under dockerd. So
//! `restart` stops the container and the service's new task is the restart; the stopped
//! container does not run again.

use std::convert::Infallible;
use std::time::Duration;

use axum::Extension;
use axum::body::{Body, Bytes};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use futures::StreamExt;
use http::{HeaderValue, StatusCode, header};

use super::edge::RequestedVersion;
use super::query::Query;
use super::response::json;
use super::{AppState, logs, path_key};
use crate::containers::{ContainerStats, ContainerStatus, ContainerView};
use crate::convert::container as convert;
use crate::error::{Error, Result};
use crate::model::container as model;

/// Between two stats samples, as dockerd's collector.
const STATS_EVERY: Duration = Duration::from_secs(1);

/// How often `wait?condition=removed` looks whether the container is gone after its exit.
const REMOVED_POLL: Duration = Duration::from_millis(200);

/// The stop timeout when neither the request nor the task has one (dockerd's default).
const DEFAULT_STOP_SECONDS: i64 = 10;

/// `GET /containers/json?all=&limit=&size=&filters=`.
pub async fn list(State(state): State<AppState>, RawQuery(query): RawQuery) -> Result<Response> {
    let query = Query::parse(query.as_deref().unwrap_or(""));
    let limit = match query.get("limit").unwrap_or("") {
        "" => None,
        text => match text.parse::<i64>() {
            Ok(n) if n > 0 => Some(usize::try_from(n).unwrap_or(usize::MAX)),
            Ok(_) => None,
            Err(_) => return Err(Error::BadRequest(format!("invalid limit {text:?}"))),
        },
    };
    let list_query = convert::ListQuery {
        all: query.flag("all"),
        limit,
        filters: convert::list_filters(query.get("filters").unwrap_or(""))?,
    };
    let views = state.backend.containers().await?;
    let selected = convert::select(views, &list_query)?;
    let out: Vec<model::ContainerSummary> = if query.flag("size") {
        sized_summaries(&state, &selected).await?
    } else {
        selected.iter().map(convert::summary).collect()
    };
    Ok(json(&out))
}

/// The summaries of `views` with their sizes, as `size=1` and `/system/df` give them:
/// `SizeRw` the bytes written over the image (walked per container, so only when asked),
/// `SizeRootFs` those and the image's. A container whose layer the node does not keep (or
/// cannot read) has neither, as dockerd leaves them out when it cannot tell.
pub(super) async fn sized_summaries(
    state: &AppState,
    views: &[ContainerView],
) -> Result<Vec<model::ContainerSummary>> {
    let images = image_sizes(state).await?;
    let mut out = Vec::with_capacity(views.len());
    for view in views {
        let mut summary = convert::summary(view);
        (summary.size_rw, summary.size_root_fs) = sizes(state, &images, view).await.unzip();
        out.push(summary);
    }
    Ok(out)
}

/// Each image's size by its ID.
async fn image_sizes(state: &AppState) -> Result<std::collections::HashMap<String, u64>> {
    let images = state
        .backend
        .images()
        .await
        .map_err(crate::convert::image::error)?;
    Ok(images
        .iter()
        .map(|d| (d.summary.id.to_string(), d.summary.size))
        .collect())
}

/// A container's `SizeRw` and `SizeRootFs`, when the node keeps its writable layer.
async fn sizes(
    state: &AppState,
    images: &std::collections::HashMap<String, u64>,
    view: &ContainerView,
) -> Option<(i64, i64)> {
    let written = state.backend.container_size(view).await?;
    let image = images.get(&view.image_id).copied().unwrap_or(0);
    let bytes = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    Some((bytes(written), bytes(written.saturating_add(image))))
}

/// The container the path names.
async fn find(
    state: &AppState,
    key: std::result::Result<Path<String>, PathRejection>,
) -> Result<ContainerView> {
    let key = path_key(key)?;
    let views = state.backend.containers().await?;
    convert::resolve(&views, &key).cloned()
}

/// `GET /containers/{id}/json`.
pub async fn inspect(
    State(state): State<AppState>,
    key: std::result::Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Result<Response> {
    let query = Query::parse(query.as_deref().unwrap_or(""));
    let v = find(&state, key).await?;
    let mut out = convert::inspect(&v);
    if query.flag("size") {
        let images = image_sizes(&state).await?;
        (out.size_rw, out.size_root_fs) = sizes(&state, &images, &v).await.unzip();
    }
    Ok(json(&out))
}

/// `GET /containers/{id}/logs`.
pub async fn container_logs(
    State(state): State<AppState>,
    key: std::result::Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
    requested: Option<Extension<RequestedVersion>>,
) -> Result<Response> {
    let query = Query::parse(query.as_deref().unwrap_or(""));
    let options = logs::options(&query)?;
    let v = find(&state, key).await?;
    let lines = state.backend.container_logs(&v.task.id, options).await?;
    Ok(logs::respond(lines, &query, v.task.spec.container.tty, requested))
}

/// `GET /containers/{id}/top?ps_args=`.
pub async fn top(
    State(state): State<AppState>,
    key: std::result::Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Result<Response> {
    let query = Query::parse(query.as_deref().unwrap_or(""));
    let v = find(&state, key).await?;
    if v.status != ContainerStatus::Running {
        return Err(not_running(&v));
    }
    let top = state
        .backend
        .container_top(&v.task.id, query.get("ps_args").unwrap_or(""))
        .await?;
    Ok(json(&model::ContainerTop {
        titles: top.titles,
        processes: top.processes,
    }))
}

/// `GET /containers/{id}/stats?stream=&one-shot=`.
pub async fn stats(
    State(state): State<AppState>,
    key: std::result::Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Result<Response> {
    let query = Query::parse(query.as_deref().unwrap_or(""));
    // dockerd streams unless told `stream=false`.
    let stream = query.get("stream").is_none_or(|_| query.flag("stream"));
    let one_shot = query.flag("one-shot");
    if one_shot && stream {
        return Err(Error::BadRequest(
            "cannot have stream=true and one-shot=true".into(),
        ));
    }
    let v = find(&state, key).await?;
    let sample = |state: AppState, v: ContainerView| async move {
        if v.status != ContainerStatus::Running {
            // dockerd answers a stopped container with an empty sample.
            return Ok(ContainerStats {
                read: v.read_at,
                ..ContainerStats::default()
            });
        }
        state.backend.container_stats(&v.task.id).await
    };
    let first = sample(state.clone(), v.clone()).await?;
    if !stream {
        if one_shot || v.status != ContainerStatus::Running {
            return Ok(json(&convert::stats(&v, &first, None)));
        }
        // CPU use is a rate: a second sample after dockerd's interval gives the CLI its delta.
        tokio::time::sleep(STATS_EVERY).await;
        let second = sample(state.clone(), v.clone()).await?;
        return Ok(json(&convert::stats(&v, &second, Some(&first))));
    }
    let first_line = line(&convert::stats(&v, &first, None));
    let rest = futures::stream::unfold(Some(first), move |previous| {
        let (state, v) = (state.clone(), v.clone());
        async move {
            let previous = previous?;
            tokio::time::sleep(STATS_EVERY).await;
            // The container may have exited or gone: the stream ends with it.
            let views = state.backend.containers().await.ok()?;
            let now = views.into_iter().find(|c| c.id == v.id)?;
            if now.status != ContainerStatus::Running {
                return None;
            }
            let next = state.backend.container_stats(&now.task.id).await.ok()?;
            let out = line(&convert::stats(&now, &next, Some(&previous)));
            Some((out, Some(next)))
        }
    });
    let body = futures::stream::iter([first_line])
        .chain(rest)
        .map(Ok::<_, Infallible>);
    Ok(json_stream(Body::from_stream(body)))
}

/// `POST /containers/{id}/wait?condition=`.
pub async fn wait(
    State(state): State<AppState>,
    key: std::result::Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Result<Response> {
    let query = Query::parse(query.as_deref().unwrap_or(""));
    let condition = query.get("condition").unwrap_or("");
    if !matches!(condition, "" | "not-running" | "next-exit" | "removed") {
        return Err(Error::BadRequest(format!(
            "invalid condition: {:?}",
            types::excerpt(condition)
        )));
    }
    let v = find(&state, key).await?;
    let condition = condition.to_owned();
    // The status line goes out at once, as dockerd's, so a client knows the wait is set up;
    // the body follows when the condition is met.
    let body = futures::stream::once(async move {
        let code = match wait_for(&state, &v, &condition).await {
            Ok(code) => serde_json::json!({"StatusCode": code}),
            Err(e) => serde_json::json!({"StatusCode": -1, "Error": {"Message": e.to_string()}}),
        };
        Ok::<_, Infallible>(line(&code))
    });
    Ok(json_stream(Body::from_stream(body)))
}

async fn wait_for(state: &AppState, v: &ContainerView, condition: &str) -> Result<i64> {
    let running = v.status == ContainerStatus::Running;
    // `docker run --rm` waits for `removed` before it starts the container: the code is
    // that of the exit still to come.
    let pending = condition == "removed" && v.status == ContainerStatus::Created;
    let code = if condition == "next-exit" || running || pending {
        state.backend.container_wait(&v.task.id).await?
    } else {
        v.exit_code
    };
    if condition == "removed" {
        loop {
            let views = state.backend.containers().await?;
            if !views.iter().any(|c| c.id == v.id) {
                break;
            }
            tokio::time::sleep(REMOVED_POLL).await;
        }
    }
    Ok(code)
}

/// `POST /containers/{id}/kill?signal=`.
pub async fn kill(
    State(state): State<AppState>,
    key: std::result::Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Result<Response> {
    let query = Query::parse(query.as_deref().unwrap_or(""));
    let key = path_key(key)?;
    let views = state.backend.containers().await?;
    let v = convert::resolve(&views, &key)?;
    if v.status != ContainerStatus::Running {
        return Err(Error::Backend(rules::Error::Conflict(format!(
            "Cannot kill container: {}: Container {} is not running",
            types::excerpt(&key),
            v.id
        ))));
    }
    let signal = query.get("signal").unwrap_or("KILL");
    let signal = if signal.is_empty() { "KILL" } else { signal };
    state.backend.container_signal(&v.task.id, signal).await?;
    Ok(no_content())
}

/// `POST /containers/{id}/stop?t=&signal=`: 304 when it was not running.
pub async fn stop(
    State(state): State<AppState>,
    key: std::result::Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Result<Response> {
    let query = Query::parse(query.as_deref().unwrap_or(""));
    let v = find(&state, key).await?;
    if v.status != ContainerStatus::Running {
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        return Ok(response);
    }
    stop_container(&state, &v, &query).await?;
    Ok(no_content())
}

/// `POST /containers/{id}/restart?t=&signal=`: stops the container; its service starts the
/// task's replacement (see the module comment).
pub async fn restart(
    State(state): State<AppState>,
    key: std::result::Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Result<Response> {
    let query = Query::parse(query.as_deref().unwrap_or(""));
    let v = find(&state, key).await?;
    if v.status == ContainerStatus::Running {
        stop_container(&state, &v, &query).await?;
    }
    // A standalone container has no service to replace it: it runs again.
    if crate::containers::is_standalone(&v.task) {
        state.backend.container_start(&v.task.id).await?;
    }
    Ok(no_content())
}

async fn stop_container(state: &AppState, v: &ContainerView, query: &Query) -> Result<()> {
    let spec = &v.task.spec.container;
    let signal = match query.get("signal").unwrap_or("") {
        "" => spec.stop_signal.as_str(),
        s => s,
    };
    let seconds = match query.get("t").unwrap_or("") {
        "" => spec
            .stop_grace_period
            .map(|n| n / 1_000_000_000)
            .unwrap_or(DEFAULT_STOP_SECONDS),
        text => text
            .parse::<i64>()
            .map_err(|_| Error::BadRequest(format!("invalid value for t: {:?}", types::excerpt(text))))?,
    };
    let task = &v.task.id;
    match state.backend.container_signal(task, signal).await {
        // It exited meanwhile: stopped all the same.
        Err(rules::Error::Conflict(_)) => return Ok(()),
        other => other?,
    }
    // A negative timeout waits for as long as it takes, as dockerd.
    let waited = match u64::try_from(seconds) {
        Ok(s) => tokio::time::timeout(Duration::from_secs(s), state.backend.container_wait(task))
            .await
            .ok(),
        Err(_) => Some(state.backend.container_wait(task).await),
    };
    if let Some(done) = waited {
        done?;
        return Ok(());
    }
    match state.backend.container_signal(task, "KILL").await {
        Err(rules::Error::Conflict(_)) => return Ok(()),
        other => other?,
    }
    state.backend.container_wait(task).await?;
    Ok(())
}

fn not_running(v: &ContainerView) -> Error {
    Error::Backend(rules::Error::Conflict(format!(
        "container {} is not running",
        v.id
    )))
}

fn no_content() -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

fn line<T: serde::Serialize>(value: &T) -> Bytes {
    let mut bytes = serde_json::to_vec(value).unwrap_or_default();
    bytes.push(b'\n');
    Bytes::from(bytes)
}

fn json_stream(body: Body) -> Response {
    let mut response = Response::new(body);
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
