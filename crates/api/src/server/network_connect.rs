//! `POST /networks/{id}/connect` and `/disconnect`: a standalone container joins or leaves an
//! attachable overlay (`docker network connect|disconnect`). The container is resolved as the
//! `/containers/*` routes resolve it; of the endpoint settings, aliases and a requested IPv4
//! address are applied, others refused by name.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use http::HeaderMap;
use serde_json::{Map, Value};

use super::body::decode;
use super::standalone::find_standalone_key;
use super::{AppState, path_key};
use crate::convert::standalone::endpoint_settings;
use crate::error::{Error, Result};

/// The body's `Container`, which both calls need.
fn container(body: &Map<String, Value>) -> Result<String> {
    match body.get("Container") {
        Some(Value::String(c)) if !c.is_empty() => Ok(c.clone()),
        None | Some(Value::Null) | Some(Value::String(_)) => {
            Err(Error::BadRequest("container is required".into()))
        }
        Some(_) => Err(Error::BadRequest("Container must be a string".into())),
    }
}

/// `POST /networks/{id}/connect` with `{"Container": …, "EndpointConfig": {…}}`.
pub async fn connect(
    State(state): State<AppState>,
    key: std::result::Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<()> {
    let key = path_key(key)?;
    let body: Map<String, Value> = decode(&headers, body)?;
    let container = container(&body)?;
    let endpoint = match body.get("EndpointConfig") {
        Some(endpoint) => {
            endpoint_settings("EndpointConfig", endpoint).map_err(|e| Error::BadRequest(e.to_string()))?
        }
        None => Default::default(),
    };
    let view = find_standalone_key(&state, &container, "connect").await?;
    state
        .backend
        .network_connect_endpoint(&key, &view.task.id, endpoint)
        .await?;
    Ok(())
}

/// `POST /networks/{id}/disconnect` with `{"Container": …, "Force": bool}`.
pub async fn disconnect(
    State(state): State<AppState>,
    key: std::result::Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<()> {
    let key = path_key(key)?;
    let body: Map<String, Value> = decode(&headers, body)?;
    let container = container(&body)?;
    let force = match body.get("Force") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(Error::BadRequest("Force must be a boolean".into())),
    };
    let view = find_standalone_key(&state, &container, "disconnect").await?;
    state
        .backend
        .network_disconnect(&key, &view.task.id, force)
        .await?;
    Ok(())
}
