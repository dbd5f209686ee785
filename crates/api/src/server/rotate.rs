//! `POST /secrets/{id}/rotate` and `POST /configs/{id}/rotate` — a shoal extension (Docker
//! has no rotation): creates the next version of the secret or config (`<base>.v<N>`, linked
//! by the labels `com.shoal.secret.base` and `com.shoal.secret.version`, or `com.shoal.config.*`)
//! and moves every service using any version of it to the new one, each rolling as its
//! `UpdateConfig` says (rules in `rules::controlapi::rotate`).
//!
//! Body: `{"Data": "<base64>"}` as for `POST /secrets/create`. Answer 201:
//! `{"ID": "<new ID>", "Name": "<base>.v<N>", "Services": ["web", …]}`.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, State};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};

use super::body::decode;
use super::response::json_with_status;
use super::{AppState, path_key};
use crate::error::{Error, Result};

/// The request body.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct RotateRequest {
    /// The new version's data, base64.
    #[serde(rename = "Data")]
    pub data: String,
}

/// The answer.
#[derive(Debug, Serialize, Deserialize)]
pub struct RotateResponse {
    /// The new secret's ID.
    #[serde(rename = "ID")]
    pub id: String,
    /// The new secret's name.
    #[serde(rename = "Name")]
    pub name: String,
    /// The services moved to it.
    #[serde(rename = "Services")]
    pub services: Vec<String>,
}

/// `POST /secrets/{id}/rotate`.
pub(super) async fn rotate(
    State(state): State<AppState>,
    key: std::result::Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Response> {
    let key = path_key(key)?;
    let data = data(&headers, body)?;
    let done = state.backend.secret_rotate(&key, data).await?;
    Ok(answer(done))
}

/// `POST /configs/{id}/rotate`.
pub(super) async fn rotate_config(
    State(state): State<AppState>,
    key: std::result::Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Response> {
    let key = path_key(key)?;
    let data = data(&headers, body)?;
    let done = state.backend.config_rotate(&key, data).await?;
    Ok(answer(done))
}

/// The body's data, decoded.
fn data(headers: &HeaderMap, body: std::result::Result<Bytes, BytesRejection>) -> Result<Vec<u8>> {
    let req: RotateRequest = decode(headers, body)?;
    STANDARD
        .decode(req.data.trim())
        .map_err(|e| Error::BadRequest(format!("invalid Data: not base64: {e}")))
}

fn answer(done: crate::backend::SecretRotated) -> Response {
    json_with_status(
        StatusCode::CREATED,
        &RotateResponse {
            id: done.id,
            name: done.name,
            services: done.services,
        },
    )
}
