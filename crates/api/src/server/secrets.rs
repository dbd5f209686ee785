//! `/secrets`, `/secrets/create`, `/secrets/{id}`, `/secrets/{id}/update` and the same for
//! `/configs`. One set of handlers; `CONFIG` picks the kind. Inspect of a secret never
//! carries its data (the backend's objects hold it; `convert::secret` leaves it out).

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use http::{HeaderMap, StatusCode};
use types::Kind;

use super::body::decode;
use super::query::Query;
use super::response::{json, json_with_status};
use super::{AppState, path_key};
use crate::convert::secret;
use crate::error::{Error, Result};
use crate::model;

const fn kind<const CONFIG: bool>() -> Kind {
    if CONFIG { Kind::Config } else { Kind::Secret }
}

fn to_docker(object: &types::Object) -> Result<model::Payload> {
    secret::to_docker(object)
        .ok_or_else(|| Error::Backend(rules::Error::Internal("not a secret or config".into())))
}

/// `POST /secrets/create`: 201 with the new ID.
pub async fn create<const CONFIG: bool>(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Response> {
    let spec: model::PayloadSpec = decode(&headers, body)?;
    let what = kind::<CONFIG>().as_str();
    let (driver, templating) = secret::plugins(&spec);
    rules::controlapi::secret::refuse_plugins(what, driver, templating)?;
    let data = secret::data(&spec)?.unwrap_or_default();
    let id = state
        .backend
        .payload_create(kind::<CONFIG>(), spec.name, spec.labels, data)
        .await?;
    Ok(json_with_status(
        StatusCode::CREATED,
        &model::PayloadCreateResponse { id },
    ))
}

/// `GET /secrets?filters=…`.
pub async fn list<const CONFIG: bool>(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Response> {
    let query = Query::parse(query.as_deref().unwrap_or(""));
    let filters = secret::list_filters(query.get("filters").unwrap_or(""))?;
    let objects = state.backend.payload_list(kind::<CONFIG>(), filters).await?;
    let out = objects.iter().map(to_docker).collect::<Result<Vec<_>>>()?;
    Ok(json(&out))
}

/// `GET /secrets/{id}` (ID, name or unique ID prefix).
pub async fn inspect<const CONFIG: bool>(
    State(state): State<AppState>,
    key: std::result::Result<Path<String>, PathRejection>,
) -> Result<Response> {
    let key = path_key(key)?;
    let object = state.backend.payload_get(kind::<CONFIG>(), &key).await?;
    Ok(json(&to_docker(&object)?))
}

/// `POST /secrets/{id}/update?version=N`: labels only.
pub async fn update<const CONFIG: bool>(
    State(state): State<AppState>,
    key: std::result::Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<StatusCode> {
    let key = path_key(key)?;
    let spec: model::PayloadSpec = decode(&headers, body)?;
    let what = kind::<CONFIG>().as_str();
    let version = Query::parse(query.as_deref().unwrap_or("")).object_version(what)?;
    let (driver, templating) = secret::plugins(&spec);
    rules::controlapi::secret::refuse_plugins(what, driver, templating)?;
    let data = secret::data(&spec)?;
    state
        .backend
        .payload_update(kind::<CONFIG>(), &key, version, spec.name, spec.labels, data)
        .await?;
    Ok(StatusCode::OK)
}

/// `DELETE /secrets/{id}`: 204; refused while a service references it.
pub async fn remove<const CONFIG: bool>(
    State(state): State<AppState>,
    key: std::result::Result<Path<String>, PathRejection>,
) -> Result<StatusCode> {
    let key = path_key(key)?;
    state.backend.payload_remove(kind::<CONFIG>(), &key).await?;
    Ok(StatusCode::NO_CONTENT)
}
