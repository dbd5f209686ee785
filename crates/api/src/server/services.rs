//! `/services`, `/services/create`, `/services/{id}`, `/services/{id}/update`.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use http::{HeaderMap, StatusCode};

use super::body::decode;
use super::query::Query;
use super::response::{json, json_with_status};
use super::{AppState, path_key};
use crate::convert::{filters, service, task_spec};
use crate::error::{Error, Result};
use crate::model;

/// `POST /services/create` with a ServiceSpec body; `X-Registry-Auth` (`--with-registry-auth`)
/// is kept in the task spec for the nodes' pulls, as Swarm does. Answers 201 with the new ID.
pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Response> {
    let spec: model::ServiceSpec = decode(&headers, body)?;
    let mut spec = service::spec_from_docker(&spec)?;
    if let Some(auth) = registry_auth_header(&headers)? {
        task_spec::set_registry_auth(std::sync::Arc::make_mut(&mut spec.task), Some(&auth));
    }
    let (id, warnings) = state.backend.service_create(spec).await?;
    Ok(json_with_status(
        StatusCode::CREATED,
        &model::ServiceCreateResponse { id, warnings },
    ))
}

/// `GET /services?filters=…&status=…`.
pub async fn list(State(state): State<AppState>, RawQuery(query): RawQuery) -> Result<Response> {
    let query = Query::parse(query.as_deref().unwrap_or(""));
    let filters = filters::service_filters(query.get("filters").unwrap_or(""))?;
    let status = query.strict_bool("status")?;
    let views = state.backend.services(filters, status).await?;
    let services: Vec<model::Service> = views.iter().map(|v| service::to_docker(v, status)).collect();
    Ok(json(&services))
}

/// `GET /services/{id}?insertDefaults=…` (ID, name or ID prefix).
pub async fn inspect(
    State(state): State<AppState>,
    key: std::result::Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Result<Response> {
    let key = path_key(key)?;
    let query = Query::parse(query.as_deref().unwrap_or(""));
    let insert_defaults = query.strict_bool("insertDefaults")?;
    let view = state.backend.service(&key).await?;
    // dockerd never reports counts for a single service.
    let mut out = service::to_docker(&view, false);
    if insert_defaults {
        service::insert_defaults(&mut out.spec);
    }
    Ok(json(&out))
}

/// `POST /services/{id}/update?version=N&rollback=previous&registryAuthFrom=spec`.
pub async fn update(
    State(state): State<AppState>,
    key: std::result::Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Response> {
    let key = path_key(key)?;
    // dockerd's order: body, then version, then the other parameters.
    let spec: model::ServiceSpec = decode(&headers, body)?;
    let query = Query::parse(query.as_deref().unwrap_or(""));
    let version = query.object_version("service")?;
    let auth_from_previous = match query.get("registryAuthFrom").unwrap_or("") {
        "" | "spec" => false,
        "previous-spec" => true,
        other => return Err(Error::BadRequest(format!("invalid registryAuthFrom '{other}'"))),
    };
    let rollback = match query.get("rollback").unwrap_or("") {
        "" | "none" => false,
        "previous" => true,
        other => return Err(Error::BadRequest(format!("unrecognized rollback option {other}"))),
    };
    // The body is checked even for a rollback, which then ignores it, as dockerd does.
    let mut spec = service::spec_from_docker(&spec)?;
    // Credentials: the header's when sent, else those of the current (or previous) spec, since
    // an inspected spec sent back never carries them.
    let auth = match registry_auth_header(&headers)? {
        Some(auth) => Some(auth),
        None => {
            let current = state.backend.service(&key).await?;
            let from = if auth_from_previous {
                current.service.previous_spec.as_ref()
            } else {
                Some(&current.service.spec)
            };
            from.and_then(|s| task_spec::registry_auth(&s.task))
        }
    };
    task_spec::set_registry_auth(std::sync::Arc::make_mut(&mut spec.task), auth.as_deref());
    let warnings = state
        .backend
        .service_update(&key, version, spec, rollback)
        .await?;
    Ok(json(&model::ServiceUpdateResponse { warnings }))
}

/// The `X-Registry-Auth` header, if sent and not empty (its content is checked by the node
/// that pulls; the docker CLI sends it only with `--with-registry-auth`).
fn registry_auth_header(headers: &HeaderMap) -> Result<Option<String>> {
    let Some(value) = headers.get("x-registry-auth") else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .map_err(|_| Error::BadRequest("X-Registry-Auth is not ASCII".into()))?
        .trim();
    Ok((!text.is_empty()).then(|| text.to_owned()))
}

/// `DELETE /services/{id}`: 200 with an empty body.
pub async fn remove(
    State(state): State<AppState>,
    key: std::result::Result<Path<String>, PathRejection>,
) -> Result<()> {
    let key = path_key(key)?;
    Ok(state.backend.service_remove(&key).await?)
}
