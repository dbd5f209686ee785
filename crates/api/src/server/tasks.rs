//! `/tasks`, `/tasks/{id}`.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;

use super::query::Query;
use super::response::json;
use super::{AppState, path_key};
use crate::convert::{filters, task};
use crate::error::Result;
use crate::model;

/// `GET /tasks?filters=…`.
pub async fn list(State(state): State<AppState>, RawQuery(query): RawQuery) -> Result<Response> {
    let query = Query::parse(query.as_deref().unwrap_or(""));
    let filters = filters::task_filters(query.get("filters").unwrap_or(""))?;
    let tasks = state.backend.tasks(filters).await?;
    let tasks: Vec<model::Task> = tasks.iter().map(|t| task::to_docker(t)).collect();
    Ok(json(&tasks))
}

/// `GET /tasks/{id}` (ID or ID prefix).
pub async fn inspect(
    State(state): State<AppState>,
    key: std::result::Result<Path<String>, PathRejection>,
) -> Result<Response> {
    let key = path_key(key)?;
    let task = state.backend.task(&key).await?;
    Ok(json(&task::to_docker(&task)))
}
