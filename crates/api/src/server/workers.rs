//! `GET /shoal/workers`: shoal's own route (Docker has none like it) listing the answering
//! manager's background loops. Off a manager it is refused with dockerd's 503 for manager
//! calls, as `/nodes` is.

use axum::extract::State;
use axum::response::Response;

use super::AppState;
use super::response::json;
use crate::error::Result;

/// `GET /shoal/workers`.
pub async fn list(State(state): State<AppState>) -> Result<Response> {
    let workers = state.backend.workers().await?;
    Ok(json(&workers))
}
