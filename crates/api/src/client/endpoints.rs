//! Typed calls: one method per API operation the CLI uses.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::{Client, percent_encode};
use crate::error::Result;
use crate::model;

/// Filters for list calls: key → accepted values.
pub type Filters = BTreeMap<String, Vec<String>>;

/// Encodes filters the way the docker CLI does: `{"key":{"value":true}}`.
pub(super) fn filters_json(filters: &Filters) -> String {
    let mut outer = Map::new();
    for (key, values) in filters {
        let inner: Map<String, Value> = values.iter().map(|v| (v.clone(), Value::Bool(true))).collect();
        outer.insert(key.clone(), Value::Object(inner));
    }
    Value::Object(outer).to_string()
}

impl Client {
    /// `GET /info`.
    pub async fn info(&self) -> Result<model::Info> {
        self.get("/info", &[]).await
    }

    /// `GET /version`.
    pub async fn version(&self) -> Result<model::Version> {
        self.get("/version", &[]).await
    }

    /// `POST /swarm/init`: the new node's ID.
    pub async fn swarm_init(&self, request: &model::InitRequest) -> Result<String> {
        self.post("/swarm/init", &[], request).await
    }

    /// `POST /swarm/join`.
    pub async fn swarm_join(&self, request: &model::JoinRequest) -> Result<()> {
        self.post_unit("/swarm/join", &[], Some(request)).await
    }

    /// `POST /swarm/leave`.
    pub async fn swarm_leave(&self, force: bool) -> Result<()> {
        self.post_unit::<()>("/swarm/leave", &[("force", force.to_string())], None)
            .await
    }

    /// `GET /swarm`.
    pub async fn swarm_inspect(&self) -> Result<model::Swarm> {
        self.get("/swarm", &[]).await
    }

    /// `POST /swarm/update`.
    pub async fn swarm_update(
        &self,
        version: u64,
        spec: &model::SwarmSpec,
        rotate_worker_token: bool,
        rotate_manager_token: bool,
    ) -> Result<()> {
        let query = [
            ("version", version.to_string()),
            ("rotateWorkerToken", rotate_worker_token.to_string()),
            ("rotateManagerToken", rotate_manager_token.to_string()),
        ];
        self.post_unit("/swarm/update", &query, Some(spec)).await
    }

    /// `POST /swarm/update?rotateManagerUnlockKey=true`: a new unlock key (autolock on).
    pub async fn swarm_rotate_unlock_key(&self, version: u64, spec: &model::SwarmSpec) -> Result<()> {
        let query = [
            ("version", version.to_string()),
            ("rotateManagerUnlockKey", "true".to_string()),
        ];
        self.post_unit("/swarm/update", &query, Some(spec)).await
    }

    /// `GET /swarm/unlockkey`: the unlock key, empty without autolock.
    pub async fn swarm_unlock_key(&self) -> Result<String> {
        let reply: model::UnlockKeyResponse = self.get("/swarm/unlockkey", &[]).await?;
        Ok(reply.unlock_key)
    }

    /// `POST /swarm/unlock`.
    pub async fn swarm_unlock(&self, key: &str) -> Result<()> {
        let request = model::UnlockRequest {
            unlock_key: key.to_string(),
        };
        self.post_unit("/swarm/unlock", &[], Some(&request)).await
    }

    /// `GET /shoal/workers` (shoal's own endpoint): the manager's background loops.
    pub async fn workers(&self) -> Result<Vec<model::Worker>> {
        self.get("/shoal/workers", &[]).await
    }

    /// `GET /nodes`.
    pub async fn nodes(&self, filters: &Filters) -> Result<Vec<model::Node>> {
        let query: Vec<(&str, String)> = if filters.is_empty() {
            Vec::new()
        } else {
            vec![("filters", filters_json(filters))]
        };
        self.get("/nodes", &query).await
    }

    /// `GET /nodes/{id}` (ID, name or ID prefix).
    pub async fn node(&self, key: &str) -> Result<model::Node> {
        self.get(&format!("/nodes/{}", percent_encode(key)), &[]).await
    }

    /// `POST /nodes/{id}/update?version=N`.
    pub async fn node_update(&self, id: &str, version: u64, spec: &model::NodeSpec) -> Result<()> {
        let path = format!("/nodes/{}/update", percent_encode(id));
        self.post_unit(&path, &[("version", version.to_string())], Some(spec))
            .await
    }

    /// `DELETE /nodes/{id}`.
    pub async fn node_remove(&self, key: &str, force: bool) -> Result<()> {
        self.delete(
            &format!("/nodes/{}", percent_encode(key)),
            &[("force", force.to_string())],
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_encode_like_docker() {
        let filters = Filters::from([("role".to_string(), vec!["manager".to_string()])]);
        assert_eq!(filters_json(&filters), r#"{"role":{"manager":true}}"#);
        let parsed = crate::convert::filters::node_filters(&filters_json(&filters)).unwrap();
        assert_eq!(parsed.role, vec![types::Role::Manager]);
    }
}
