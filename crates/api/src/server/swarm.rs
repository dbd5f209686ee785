//! `/swarm`, `/swarm/init`, `/swarm/join`, `/swarm/leave`, `/swarm/update`,
//! `/swarm/unlockkey`, `/swarm/unlock`.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::response::Response;
use http::HeaderMap;
use rules::controlapi::cluster::Rotation;

use super::AppState;
use super::body::decode;
use super::query::Query;
use super::response::json;
use crate::convert::{cluster, swarm_request};
use crate::error::Result;
use crate::model;

/// `POST /swarm/init`: answers the new node's ID as a JSON string.
pub async fn init(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<Response> {
    let request: model::InitRequest = decode(&headers, body)?;
    let request = swarm_request::init_request(&request)?;
    let node_id = state.backend.swarm_init(request).await?;
    Ok(json(&node_id))
}

/// `POST /swarm/join`.
pub async fn join(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<()> {
    let request: model::JoinRequest = decode(&headers, body)?;
    let request = swarm_request::join_request(&request)?;
    Ok(state.backend.swarm_join(request).await?)
}

/// `POST /swarm/leave?force=1`.
pub async fn leave(State(state): State<AppState>, RawQuery(query): RawQuery) -> Result<()> {
    let query = Query::parse(query.as_deref().unwrap_or(""));
    Ok(state.backend.swarm_leave(query.flag("force")).await?)
}

/// `GET /swarm`.
pub async fn inspect(State(state): State<AppState>) -> Result<Response> {
    let cluster = state.backend.swarm_inspect().await?;
    // A backend without rotation state shows none.
    let ca = state.backend.root_ca_state().await.unwrap_or_default();
    let external_cas = state.backend.external_cas().await.unwrap_or_default();
    Ok(json(&cluster::swarm(&cluster, &ca, &external_cas)))
}

/// `POST /swarm/update?version=N&rotateWorkerToken=…&rotateManagerToken=…`.
pub async fn update(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<()> {
    // dockerd's order: body, then version, then rotation flags.
    let spec: model::SwarmSpec = decode(&headers, body)?;
    let query = Query::parse(query.as_deref().unwrap_or(""));
    let version = query.object_version("swarm")?;
    let rotation = Rotation {
        worker_token: query.strict_bool("rotateWorkerToken")?,
        manager_token: query.strict_bool("rotateManagerToken")?,
        unlock_key: query.strict_bool("rotateManagerUnlockKey")?,
        root_ca: cluster::rotate_request(&spec),
        external_cas: None,
    };
    let external_cas = cluster::external_cas_from_docker(&spec)?;
    let spec = cluster::spec_from_docker(&spec)?;
    let rotation = Rotation {
        external_cas: Some(external_cas),
        ..rotation
    };
    Ok(state.backend.swarm_update(version, spec, rotation).await?)
}

/// `GET /swarm/unlockkey`: the managers' unlock key; empty without autolock (the docker CLI
/// then says "no unlock key is set"). Managers only, as dockerd.
pub async fn unlock_key(State(state): State<AppState>) -> Result<Response> {
    let unlock_key = state.backend.swarm_unlock_key().await?;
    Ok(json(&model::UnlockKeyResponse { unlock_key }))
}

/// `POST /swarm/unlock {"UnlockKey": "SWMKEY-1-…"}`: a manager that restarted locked starts.
pub async fn unlock(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<()> {
    let request: model::UnlockRequest = decode(&headers, body)?;
    Ok(state.backend.swarm_unlock(request.unlock_key).await?)
}
