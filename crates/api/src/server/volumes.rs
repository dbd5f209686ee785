//! `/volumes`, `/volumes/create`, `/volumes/{name}`, `/volumes/prune`: this node's named
//! volumes (dockerd's `local` driver). On a `docker`-executor node these paths go to dockerd
//! instead (`proxy.rs`).

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use http::{HeaderMap, StatusCode};

use super::body::decode;
use super::query::Query;
use super::response::{json, json_with_status};
use super::{AppState, path_key};
use crate::backend::VolumeCreate;
use crate::convert::volume;
use crate::error::{Error, Result};
use crate::model;

/// `GET /volumes?filters=…`.
pub async fn list(State(state): State<AppState>, RawQuery(query): RawQuery) -> Result<Response> {
    let query = Query::parse(query.as_deref().unwrap_or(""));
    let filters = volume::list_filters(query.get("filters").unwrap_or(""))?;
    let volumes = state
        .backend
        .volumes()
        .await?
        .iter()
        .filter(|v| volume::matches(v, &filters))
        .map(volume::to_docker)
        .collect();
    Ok(json(&model::VolumeListResponse {
        volumes,
        warnings: None,
    }))
}

/// `POST /volumes/create`: 201 with the volume (an existing one of that name as it is).
pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Response> {
    let req: model::VolumeCreateRequest = decode(&headers, body)?;
    if req.cluster_volume_spec.as_ref().is_some_and(|v| !v.is_null()) {
        return Err(Error::BadRequest(
            "cluster volumes (ClusterVolumeSpec, CSI drivers) are not supported by shoal".into(),
        ));
    }
    let created = state
        .backend
        .volume_create(VolumeCreate {
            name: req.name,
            driver: req.driver,
            options: req.driver_opts,
            labels: req.labels,
        })
        .await?;
    Ok(json_with_status(
        StatusCode::CREATED,
        &volume::to_docker(&created),
    ))
}

/// `GET /volumes/{name}`.
pub async fn inspect(
    State(state): State<AppState>,
    key: std::result::Result<Path<String>, PathRejection>,
) -> Result<Response> {
    let name = path_key(key)?;
    Ok(json(&volume::to_docker(&state.backend.volume(&name).await?)))
}

/// `DELETE /volumes/{name}?force=`: 204; 409 while a container of this node uses it.
pub async fn remove(
    State(state): State<AppState>,
    key: std::result::Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Result<StatusCode> {
    let name = path_key(key)?;
    let query = Query::parse(query.as_deref().unwrap_or(""));
    state.backend.volume_remove(&name, query.flag("force")).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /volumes/prune?filters=…`: unused anonymous volumes (every unused one with
/// `all=true`). A volume a container took meanwhile is left alone.
pub async fn prune(State(state): State<AppState>, RawQuery(query): RawQuery) -> Result<Response> {
    let query = Query::parse(query.as_deref().unwrap_or(""));
    let filters = volume::prune_filters(query.get("filters").unwrap_or(""))?;
    let mut out = model::VolumesPruneResponse::default();
    for v in state.backend.volumes().await? {
        if !volume::prunable(&v, &filters) {
            continue;
        }
        match state.backend.volume_remove(&v.volume.name, false).await {
            Ok(bytes) => {
                out.space_reclaimed += bytes;
                out.volumes_deleted.push(v.volume.name);
            }
            Err(rules::Error::Conflict(_) | rules::Error::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    state.backend.volumes_pruned(out.space_reclaimed).await;
    Ok(json(&out))
}
