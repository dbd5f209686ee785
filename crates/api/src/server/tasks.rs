//! `/tasks`, `/tasks/{id}`.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;

use super::query::Query;
use super::response::json;
use super::{AppState, path_key};
use crate::convert::{filters, network, task};
use crate::error::Result;
use crate::model;

/// Docker's JSON for `tasks`, with each one's `NetworksAttachments` (none from a backend
/// without networks) and `GenericResources`.
async fn with_attachments(
    state: &AppState,
    tasks: &[std::sync::Arc<types::Task>],
) -> Result<Vec<model::Task>> {
    let ids: Vec<String> = tasks.iter().map(|t| t.id.clone()).collect();
    let attachments = match state.backend.task_attachments(&ids).await {
        Ok(a) => a,
        Err(rules::Error::Unimplemented(_)) => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    let generic = match state.backend.task_generic_resources(&ids).await {
        Ok(g) => g,
        Err(rules::Error::Unimplemented(_)) => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    Ok(tasks
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let mut out = task::to_docker(t);
            out.networks_attachments = attachments
                .get(i)
                .into_iter()
                .flatten()
                .map(|a| network::attachment(&a.network, &a.address))
                .collect();
            if let Some(units) = generic.get(i).filter(|u| !u.is_empty()) {
                out.generic_resources = types::generic::to_docker_json(units)
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
            }
            out
        })
        .collect())
}

/// `GET /tasks?filters=…`.
pub async fn list(State(state): State<AppState>, RawQuery(query): RawQuery) -> Result<Response> {
    let query = Query::parse(query.as_deref().unwrap_or(""));
    let filters = filters::task_filters(query.get("filters").unwrap_or(""))?;
    let tasks = state.backend.tasks(filters).await?;
    Ok(json(&with_attachments(&state, &tasks).await?))
}

/// `GET /tasks/{id}` (ID or ID prefix).
pub async fn inspect(
    State(state): State<AppState>,
    key: std::result::Result<Path<String>, PathRejection>,
) -> Result<Response> {
    let key = path_key(key)?;
    let task = state.backend.task(&key).await?;
    let out = with_attachments(&state, std::slice::from_ref(&task)).await?;
    Ok(json(&out.first()))
}
