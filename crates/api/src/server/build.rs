//! `POST /build/prune` (`docker builder prune`, and the last step of `docker system prune`).
//! shoal has no image builder, so a node holds no build cache (`/system/df` reports none):
//! the answer is dockerd's for an empty cache. Building itself (`POST /build`) is not served
//! and says so; on a `docker`-executor node both go to the local dockerd (`proxy.rs`).

use axum::extract::RawQuery;
use axum::response::Response;

use super::query::Query;
use super::response::json;
use crate::convert::filters;
use crate::error::Result;
use crate::model;

/// `POST /build/prune?filters=…&all=…`: filters are checked as JSON (400 otherwise); there
/// is never anything to delete.
pub async fn prune(RawQuery(query): RawQuery) -> Result<Response> {
    let query = Query::parse(query.as_deref().unwrap_or(""));
    filters::parse(query.get("filters").unwrap_or(""))?;
    Ok(json(&model::BuildCachePruneResponse {
        caches_deleted: Vec::new(),
        space_reclaimed: 0,
    }))
}
