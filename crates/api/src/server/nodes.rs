//! `/nodes`, `/nodes/{id}`, `/nodes/{id}/update`.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use http::HeaderMap;

use super::AppState;
use super::body::decode;
use super::query::Query;
use super::response::json;
use crate::convert::{cluster, filters, node};
use crate::error::{Error, Result};
use crate::model;

/// The node key from the path; a path that does not decode is a 400 in our JSON shape.
fn node_key(key: std::result::Result<Path<String>, PathRejection>) -> Result<String> {
    key.map(|Path(key)| key)
        .map_err(|rejection| Error::BadRequest(rejection.body_text()))
}

/// Each node's TLSInfo: the cluster's root as trust root, and as issuer the root that
/// signed its certificate (during a rotation, the new root once the node renewed under it).
struct Issuers {
    cluster: Option<std::sync::Arc<types::Cluster>>,
    ca: types::CaState,
}

impl Issuers {
    async fn read(state: &AppState) -> Issuers {
        Issuers {
            cluster: state.backend.manager_info().map(|m| m.cluster),
            // A backend without rotation state shows none.
            ca: state.backend.root_ca_state().await.unwrap_or_default(),
        }
    }

    fn of(&self, node_id: &str) -> model::TlsInfo {
        let Some(cluster) = &self.cluster else {
            return model::TlsInfo::default();
        };
        let mut info = cluster::tls_info(rules::root_rotation::node_issuer_pem(&self.ca, cluster, node_id));
        info.trust_root = cluster.root_ca.ca_cert_pem.clone();
        info
    }
}

/// `GET /nodes?filters=…`.
pub async fn list(State(state): State<AppState>, RawQuery(query): RawQuery) -> Result<Response> {
    let query = Query::parse(query.as_deref().unwrap_or(""));
    let filters = filters::node_filters(query.get("filters").unwrap_or(""))?;
    let views = state.backend.nodes(filters).await?;
    let tls = Issuers::read(&state).await;
    let nodes: Vec<model::Node> = views
        .iter()
        .map(|view| node::to_docker(view, &tls.of(&view.node.id)))
        .collect();
    Ok(json(&nodes))
}

/// `GET /nodes/{id}` (ID, name or ID prefix).
pub async fn inspect(
    State(state): State<AppState>,
    key: std::result::Result<Path<String>, PathRejection>,
) -> Result<Response> {
    let key = node_key(key)?;
    let view = state.backend.node(&key).await?;
    let tls = Issuers::read(&state).await;
    Ok(json(&node::to_docker(&view, &tls.of(&view.node.id))))
}

/// `POST /nodes/{id}/update?version=N` with a NodeSpec body.
pub async fn update(
    State(state): State<AppState>,
    key: std::result::Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: std::result::Result<Bytes, BytesRejection>,
) -> Result<()> {
    let key = node_key(key)?;
    let spec: model::NodeSpec = decode(&headers, body)?;
    let query = Query::parse(query.as_deref().unwrap_or(""));
    let version = query.object_version("node")?;
    let spec = node::spec_from_docker(&spec)?;
    if let Some(warning) = state.backend.node_update(&key, version, spec).await? {
        tracing::warn!(node = %key, "{warning}");
    }
    Ok(())
}

/// `DELETE /nodes/{id}?force=1`.
pub async fn remove(
    State(state): State<AppState>,
    key: std::result::Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Result<()> {
    let key = node_key(key)?;
    let query = Query::parse(query.as_deref().unwrap_or(""));
    Ok(state.backend.node_remove(&key, query.flag("force")).await?)
}
