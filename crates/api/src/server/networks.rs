//! `/networks`, `/networks/create`, `/networks/{id}`, `/networks/prune`,
//! (`/networks/{id}/connect|disconnect` are `network_connect.rs`'s).
//!
//! Cluster networks come from the backend; dockerd's predefined local networks (`bridge`,
//! `host`, `none`) are listed beside them, as on any Docker host.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use http::{HeaderMap, StatusCode};

use super::body::decode;
use super::query::Query;
use super::response::{json, json_with_status};
use super::{AppState, path_key};
use crate::convert::network;
use crate::error::{Error, Result};
use crate::model;

/// Whether this daemon can answer for the cluster's networks (an active manager).
fn cluster_networks(state: &AppState) -> bool {
    state.backend.swarm_status().control_available
}

/// `POST /networks/create`: 201 with the new ID.
pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Response> {
    let req: model::NetworkCreateRequest = decode(&headers, body)?;
    if req.name.is_empty() {
        return Err(Error::BadRequest("network name is required".into()));
    }
    let spec = network::spec_from_docker(&req)?;
    let created = state.backend.network_create(spec).await?;
    Ok(json_with_status(
        StatusCode::CREATED,
        &model::NetworkCreateResponse {
            id: created.id.clone(),
            warning: String::new(),
        },
    ))
}

/// `GET /networks?filters=…`.
pub async fn list(State(state): State<AppState>, RawQuery(query): RawQuery) -> Result<Response> {
    let query = Query::parse(query.as_deref().unwrap_or(""));
    let args = network::list_filters(query.get("filters").unwrap_or(""))?;
    let mut all = network::predefined();
    if cluster_networks(&state) {
        all.extend(
            state
                .backend
                .networks()
                .await?
                .iter()
                .map(|n| network::to_docker(n)),
        );
    }
    let out: Vec<model::Network> = all.into_iter().filter(|n| network::matches(n, &args)).collect();
    Ok(json(&out))
}

/// `GET /networks/{id}?scope=…` (ID, name or ID prefix).
pub async fn inspect(
    State(state): State<AppState>,
    key: std::result::Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Result<Response> {
    let key = path_key(key)?;
    let query = Query::parse(query.as_deref().unwrap_or(""));
    let scope = query.get("scope").unwrap_or("");
    let not_found = || Error::Backend(rules::Error::NotFound(format!("network {key} not found")));
    if scope != "swarm"
        && let Some(local) = network::predefined_by_key(&key)
    {
        return Ok(json(&local));
    }
    if scope == "local" || !cluster_networks(&state) {
        return Err(not_found());
    }
    match state.backend.network(&key).await {
        Ok(n) => {
            let mut out = network::to_docker(&n);
            // A backend that cannot list them shows none, as before.
            if let Ok(endpoints) = state.backend.network_endpoints(&n.id).await {
                out.containers = network::containers(&endpoints);
            }
            if let Ok(peers) = state.backend.network_peers(&n.id).await
                && !peers.is_empty()
            {
                out.peers = Some(peers);
            }
            Ok(json(&out))
        }
        Err(rules::Error::NotFound(_)) => Err(not_found()),
        Err(e) => Err(e.into()),
    }
}

/// `DELETE /networks/{id}`: 204; refused while in use.
pub async fn remove(
    State(state): State<AppState>,
    key: std::result::Result<Path<String>, PathRejection>,
) -> Result<StatusCode> {
    let key = path_key(key)?;
    if let Some(local) = network::predefined_by_key(&key) {
        return Err(Error::Forbidden(format!(
            "{} is a pre-defined network and cannot be removed",
            local.name
        )));
    }
    state.backend.network_remove(&key).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /networks/prune?filters=…`.
pub async fn prune(State(state): State<AppState>, RawQuery(query): RawQuery) -> Result<Response> {
    let query = Query::parse(query.as_deref().unwrap_or(""));
    let (labels, not_labels) = network::prune_filters(query.get("filters").unwrap_or(""))?;
    let networks_deleted = if cluster_networks(&state) {
        state.backend.network_prune(labels, not_labels).await?
    } else {
        Vec::new()
    };
    Ok(json(&model::NetworksPruneResponse { networks_deleted }))
}
