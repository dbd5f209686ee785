//! `GET /events`: dockerd's event stream, one JSON object a line.
//!
//! ```text
//! since/until/filters checked (400) ─► backend feed: kept events ─► live events
//!   kept: replayed when since or until is given, within [since, until]
//!   live: streamed until the client leaves, `until` passes, or the daemon drops a slow client
//! ```

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::response::Response;
use futures::StreamExt;
use http::{HeaderValue, header};
use types::Timestamp;

use super::AppState;
use super::query::Query;
use crate::convert::events::EventFilters;
use crate::convert::time::parse_unix;
use crate::error::{Error, Result};
use crate::model::EventMessage;

/// `GET /events?since=&until=&filters=`.
pub async fn stream(State(state): State<AppState>, RawQuery(query): RawQuery) -> Result<Response> {
    let query = Query::parse(query.as_deref().unwrap_or(""));
    let since = time(&query, "since")?;
    let until = time(&query, "until")?;
    if let (Some(since), Some(until)) = (since, until)
        && until < since
    {
        return Err(Error::BadRequest(format!(
            "`since` time ({}) cannot be after `until` time ({})",
            query.get("since").unwrap_or(""),
            query.get("until").unwrap_or("")
        )));
    }
    let filters = EventFilters::parse(query.get("filters").unwrap_or(""))?;
    let feed = state.backend.events().await?;
    let in_range = move |e: &EventMessage| {
        since.is_none_or(|s| e.time_nano >= s.0) && until.is_none_or(|u| e.time_nano <= u.0)
    };
    // dockerd replays its kept events only when asked for a time range.
    let replay = if since.is_some() || until.is_some() {
        feed.past
    } else {
        Vec::new()
    };
    let live_for = match until {
        None => None,
        Some(until) => Some(Duration::from_nanos(
            until.0.saturating_sub(feed.now.0).max(0) as u64
        )),
    };
    let live = match live_for {
        Some(d) if d.is_zero() => futures::stream::empty().boxed(),
        Some(d) => feed.live.take_until(tokio::time::sleep(d)).boxed(),
        None => feed.live,
    };
    let events = futures::stream::iter(replay)
        .chain(live)
        .filter(move |e| std::future::ready(in_range(e) && filters.matches(e)))
        .map(|e| {
            let mut line = serde_json::to_vec(&e).unwrap_or_default();
            line.push(b'\n');
            Ok::<_, Infallible>(line)
        });
    let mut response = Response::new(Body::from_stream(events));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(response)
}

/// `since`/`until` as the docker CLI sends them (`seconds[.nanoseconds]`).
fn time(query: &Query, key: &str) -> Result<Option<Timestamp>> {
    match query.get(key).unwrap_or("") {
        "" => Ok(None),
        text => parse_unix(text).map(Some).ok_or_else(|| {
            Error::BadRequest(format!(
                r#"invalid value for "{key}": {text:?} is not a unix timestamp (seconds[.nanoseconds])"#
            ))
        }),
    }
}
