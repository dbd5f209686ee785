//! Typed calls for services and tasks.

use http::Method;

use super::endpoints::filters_json;
use super::{Client, Filters, percent_encode};
use crate::error::Result;
use crate::model;

/// The `filters` query pair, or nothing for no filters.
fn filter_query(filters: &Filters) -> Vec<(&'static str, String)> {
    if filters.is_empty() {
        Vec::new()
    } else {
        vec![("filters", filters_json(filters))]
    }
}

impl Client {
    /// `POST /services/create`.
    pub async fn service_create(&self, spec: &model::ServiceSpec) -> Result<model::ServiceCreateResponse> {
        self.post("/services/create", &[], spec).await
    }

    /// `GET /services` (`status` adds the task counts).
    pub async fn services(&self, filters: &Filters, status: bool) -> Result<Vec<model::Service>> {
        let mut query = filter_query(filters);
        if status {
            query.push(("status", "true".into()));
        }
        self.get("/services", &query).await
    }

    /// `GET /services/{id}` (ID, name or ID prefix), with Swarm's defaults filled in if asked.
    pub async fn service(&self, key: &str, insert_defaults: bool) -> Result<model::Service> {
        let query = if insert_defaults {
            vec![("insertDefaults", "true".to_string())]
        } else {
            Vec::new()
        };
        self.get(&format!("/services/{}", percent_encode(key)), &query)
            .await
    }

    /// `POST /services/{id}/update?version=N` (`rollback` for `rollback=previous`).
    pub async fn service_update(
        &self,
        id: &str,
        version: u64,
        spec: &model::ServiceSpec,
        rollback: bool,
    ) -> Result<model::ServiceUpdateResponse> {
        let mut query = vec![("version", version.to_string())];
        if rollback {
            query.push(("rollback", "previous".into()));
        }
        self.post(&format!("/services/{}/update", percent_encode(id)), &query, spec)
            .await
    }

    /// `DELETE /services/{id}`.
    pub async fn service_remove(&self, key: &str) -> Result<()> {
        self.call(
            Method::DELETE,
            &format!("/services/{}", percent_encode(key)),
            &[],
            None,
        )
        .await
        .map(drop)
    }

    /// `GET /tasks`.
    pub async fn tasks(&self, filters: &Filters) -> Result<Vec<model::Task>> {
        self.get("/tasks", &filter_query(filters)).await
    }

    /// `GET /tasks/{id}`.
    pub async fn task(&self, key: &str) -> Result<model::Task> {
        self.get(&format!("/tasks/{}", percent_encode(key)), &[]).await
    }
}
