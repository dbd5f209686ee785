//! The services and tasks calls: services with their VIPs and task counts, updates replanned
//! when only the daemon's bookkeeping moved, tasks with their nodes given as `self`.

use std::sync::Arc;

use api::ServiceView;
use manager::Error;
use rules::controlapi::service::ServiceFilters;
use rules::controlapi::task::TaskFilters;
use rules::controlapi::{service, task};
use types::{ServiceSpec, Task};

use super::Result;
use crate::daemon::networks;
use crate::daemon::swarm::Swarm;

/// `POST /services/create`.
pub(super) async fn create(s: &Swarm, spec: ServiceSpec) -> Result<(String, Vec<String>)> {
    let m = s.require_manager().await?;
    let id = m.new_id();
    let op = service::create(&*m.synced_view().await, id.clone(), spec, s.clock.now())?;
    m.propose(vec![op]).await?;
    Ok((id, Vec::new()))
}

/// `GET /services`.
pub(super) async fn list(s: &Swarm, filters: ServiceFilters, status: bool) -> Result<Vec<ServiceView>> {
    let m = s.require_manager().await?;
    let view = m.synced_view().await;
    Ok(service::list(&view, &filters)
        .into_iter()
        .map(|s| ServiceView {
            status: if status {
                service::status(&view, &s)
            } else {
                Default::default()
            },
            service: networks::with_vips(&view, s),
        })
        .collect())
}

/// `GET /services/{id}`.
pub(super) async fn get(s: &Swarm, key: &str) -> Result<ServiceView> {
    let m = s.require_manager().await?;
    let view = m.synced_view().await;
    let s = view
        .lookup_service(key)
        .map_err(|e| Error::NotFound(e.to_string()))?;
    Ok(ServiceView {
        status: service::status(&view, &s),
        service: networks::with_vips(&view, s),
    })
}

/// `POST /services/{id}/update`.
pub(super) async fn update(
    s: &Swarm,
    key: &str,
    version: u64,
    spec: ServiceSpec,
    rollback: bool,
) -> Result<Vec<String>> {
    let m = s.require_manager().await?;
    super::commit_planned(&m, |state| {
        let op = service::update(state, key, version, spec.clone(), rollback, s.clock.now())?;
        Ok((op, Vec::new()))
    })
    .await
}

/// `DELETE /services/{id}`.
pub(super) async fn remove(s: &Swarm, key: &str) -> Result<()> {
    let m = s.require_manager().await?;
    let op = service::remove(&*m.synced_view().await, key)?;
    m.propose(vec![op]).await?;
    Ok(())
}

/// `GET /tasks`.
pub(super) async fn tasks(s: &Swarm, mut filters: TaskFilters) -> Result<Vec<Arc<Task>>> {
    let m = s.require_manager().await?;
    filters.node = filters.node.iter().map(|k| s.node_key(k).into_owned()).collect();
    Ok(task::list(&*m.synced_view().await, &filters))
}

/// `GET /tasks/{id}`.
pub(super) async fn task(s: &Swarm, key: &str) -> Result<Arc<Task>> {
    let m = s.require_manager().await?;
    m.synced_view()
        .await
        .lookup_task(key)
        .map_err(|e| Error::NotFound(e.to_string()))
}

/// The generic resources each task was given.
pub(super) async fn generic_resources(
    s: &Swarm,
    task_ids: &[String],
) -> Result<Vec<Vec<types::generic::GenericResource>>> {
    let view = s.require_manager().await?.synced_view().await;
    Ok(task_ids
        .iter()
        .map(|id| view.generic_resources(id).to_vec())
        .collect())
}
