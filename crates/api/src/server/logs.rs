//! `GET /services/{id}/logs` and `GET /tasks/{id}/logs`: everything is checked before the
//! 200 goes out (errors until then are ordinary JSON errors), then lines stream until the
//! backend's stream ends or the client goes away (dropping the body drops the stream).

use std::convert::Infallible;

use axum::Extension;
use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use futures::StreamExt;
use http::{HeaderValue, header};

use super::edge::RequestedVersion;
use super::query::Query;
use super::{AppState, path_key};
use crate::backend::{LogOptions, LogTarget};
use crate::convert::logs::{Framing, MULTIPLEXED_STREAM, RAW_STREAM, frame};
use crate::convert::time::parse_unix;
use crate::error::{Error, Result};
use crate::version;

/// The first API version whose clients are told the stream is multiplexed.
const MULTIPLEXED_SINCE: &str = "1.42";

/// `GET /services/{id}/logs`.
pub async fn service(
    State(state): State<AppState>,
    key: std::result::Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
    requested: Option<Extension<RequestedVersion>>,
) -> Result<Response> {
    let key = path_key(key)?;
    let query = Query::parse(query.as_deref().unwrap_or(""));
    let options = options(&query)?;
    let view = state.backend.service(&key).await?;
    let tty = view.service.spec.task.container.tty;
    stream(
        &state,
        LogTarget::Service(view.service.id.clone()),
        options,
        &query,
        tty,
        requested,
    )
    .await
}

/// `GET /tasks/{id}/logs`.
pub async fn task(
    State(state): State<AppState>,
    key: std::result::Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
    requested: Option<Extension<RequestedVersion>>,
) -> Result<Response> {
    let key = path_key(key)?;
    let query = Query::parse(query.as_deref().unwrap_or(""));
    let options = options(&query)?;
    let task = state.backend.task(&key).await?;
    let tty = task.spec.container.tty;
    stream(
        &state,
        LogTarget::Task(task.id.clone()),
        options,
        &query,
        tty,
        requested,
    )
    .await
}

/// The backend's options from the query, with dockerd's checks and messages.
pub(super) fn options(query: &Query) -> Result<LogOptions> {
    let (stdout, stderr) = (query.flag("stdout"), query.flag("stderr"));
    if !stdout && !stderr {
        return Err(Error::BadRequest(
            "must specify at least one of 'stdout' or 'stderr'".into(),
        ));
    }
    let time = |key: &str| match query.get(key).unwrap_or("") {
        "" => Ok(None),
        text => parse_unix(text).map(Some).ok_or_else(|| {
            Error::BadRequest(format!(
                r#"invalid value for "{key}": {text:?} is not a unix timestamp (seconds[.nanoseconds])"#
            ))
        }),
    };
    let tail = match query.get("tail").unwrap_or("") {
        "" | "all" => None,
        text => match text.parse::<i64>() {
            Ok(n) if n < 0 => return Err(Error::BadRequest("negative tail values not supported".into())),
            Ok(n) => Some(usize::try_from(n).unwrap_or(usize::MAX)),
            Err(_) => {
                return Err(Error::BadRequest(
                    r#"tail value must be a positive integer or "all""#.into(),
                ));
            }
        },
    };
    Ok(LogOptions {
        follow: query.flag("follow"),
        tail,
        since: time("since")?,
        until: time("until")?,
        stdout,
        stderr,
    })
}

async fn stream(
    state: &AppState,
    target: LogTarget,
    options: LogOptions,
    query: &Query,
    tty: bool,
    requested: Option<Extension<RequestedVersion>>,
) -> Result<Response> {
    let lines = state.backend.logs(target, options).await?;
    Ok(respond(lines, query, tty, requested))
}

/// The streaming response of log `lines`, framed as dockerd frames them for this client
/// (shared by service, task and container logs).
pub(super) fn respond(
    lines: futures::stream::BoxStream<'static, crate::backend::LogLine>,
    query: &Query,
    tty: bool,
    requested: Option<Extension<RequestedVersion>>,
) -> Response {
    // No prefix means the current version.
    let modern = requested
        .is_none_or(|Extension(RequestedVersion(v))| version::compare(&v, MULTIPLEXED_SINCE).is_ge());
    // TTY output has no separate streams, so it is never multiplexed; old clients are told
    // "raw" but still get frames, as dockerd does.
    let framing = Framing {
        timestamps: query.flag("timestamps"),
        details: query.flag("details"),
        multiplexed: !tty,
    };
    let content_type = if !tty && modern {
        MULTIPLEXED_STREAM
    } else {
        RAW_STREAM
    };
    let body = Body::from_stream(lines.map(move |line| Ok::<_, Infallible>(frame(&line, framing))));
    let mut response = Response::new(body);
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
