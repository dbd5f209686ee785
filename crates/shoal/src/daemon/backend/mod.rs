//! The daemon as the API sees it: [`api::Backend`] over the swarm state and the manager.
//!
//! The impl below is the index: each call goes to the file of its API area (`swarm.rs`: the
//! cluster's facts and updates, `nodes.rs`, `services.rs`: services and tasks, `logs.rs`,
//! `images.rs`, `networks.rs`), or straight to the daemon module that serves it (secrets,
//! containers, standalone containers, exec, volumes).

mod images;
mod logs;
mod networks;
mod nodes;
mod services;
mod swarm;

use std::sync::Arc;

use api::{Backend, LogLine, LogOptions, LogTarget, ManagerInfo, NodeView, ServiceView, SwarmStatus};
use futures::stream::BoxStream;
use manager::{Error, Manager};
use rules::controlapi::cluster::Rotation;
use rules::controlapi::node::NodeFilters;
use rules::controlapi::service::ServiceFilters;
use rules::controlapi::task::TaskFilters;
use types::{Cluster, ClusterSpec, NodeSpec, ServiceSpec, Task};

use super::swarm::{Local, Swarm, msg};

type Result<T> = std::result::Result<T, Error>;

impl Swarm {
    /// The manager, or dockerd's error for a node that is not one.
    async fn require_manager(&self) -> Result<Manager> {
        match self.local() {
            Local::Active(node) => match node.manager().await {
                Some(m) => Ok(m),
                None => Err(Error::Unavailable(msg::NOT_MANAGER.into())),
            },
            Local::Locked(_) => Err(Error::Unavailable(msg::SWARM_LOCKED.into())),
            _ => Err(Error::Unavailable(msg::NOT_IN_SWARM.into())),
        }
    }
}

/// Commits the write `plan` makes from the manager's current view, and returns what came
/// with it. A plan may accept a client's version older than the object's when only the
/// daemon's own bookkeeping moved it since (a service's update status, a node's status); if
/// such a write lands between plan and commit, plan again rather than fail the client.
async fn commit_planned<T>(
    m: &Manager,
    plan: impl Fn(&store::State) -> rules::Result<(store::Op, T)>,
) -> Result<T> {
    let mut attempts = 0;
    loop {
        let (op, out) = plan(&*m.synced_view().await)?;
        match m.propose(vec![op]).await {
            Err(Error::OutOfSequence) if attempts < 5 => attempts += 1,
            other => return other.map(|_| out),
        }
    }
}

#[async_trait::async_trait]
impl Backend for Swarm {
    fn swarm_status(&self) -> SwarmStatus {
        swarm::status(self)
    }

    fn manager_info(&self) -> Option<ManagerInfo> {
        swarm::manager_info(self)
    }

    fn hostname(&self) -> String {
        self.description().hostname
    }

    async fn host_warnings(&self) -> Vec<String> {
        match self.local() {
            Local::Active(node) => match node.tasks().node_network().await {
                // Prefixed as dockerd's are: the CLI prints them as they come.
                Some(layer) => layer
                    .host_warnings()
                    .into_iter()
                    .map(|warning| format!("WARNING: {warning}"))
                    .collect(),
                None => Vec::new(),
            },
            _ => Vec::new(),
        }
    }

    async fn swarm_init(&self, req: api::InitRequest) -> Result<String> {
        self.init(req).await
    }

    async fn swarm_join(&self, req: api::JoinRequest) -> Result<()> {
        self.join(req).await
    }

    async fn swarm_leave(&self, force: bool) -> Result<()> {
        self.leave(force).await
    }

    async fn swarm_inspect(&self) -> Result<Arc<Cluster>> {
        swarm::inspect(self).await
    }

    async fn swarm_update(&self, version: u64, spec: ClusterSpec, rotation: Rotation) -> Result<()> {
        swarm::update(self, version, spec, rotation).await
    }

    async fn swarm_unlock_key(&self) -> Result<String> {
        swarm::unlock_key(self).await
    }

    async fn swarm_unlock(&self, key: String) -> Result<()> {
        self.unlock(&key).await
    }

    async fn nodes(&self, filters: NodeFilters) -> Result<Vec<NodeView>> {
        nodes::list(self, filters).await
    }

    async fn node(&self, key: &str) -> Result<NodeView> {
        nodes::get(self, key).await
    }

    async fn node_update(&self, key: &str, version: u64, spec: NodeSpec) -> Result<Option<String>> {
        nodes::update(self, key, version, spec).await
    }

    async fn node_remove(&self, key: &str, force: bool) -> Result<()> {
        nodes::remove(self, key, force).await
    }

    async fn service_create(&self, spec: ServiceSpec) -> Result<(String, Vec<String>)> {
        services::create(self, spec).await
    }

    async fn services(&self, filters: ServiceFilters, status: bool) -> Result<Vec<ServiceView>> {
        services::list(self, filters, status).await
    }

    async fn service(&self, key: &str) -> Result<ServiceView> {
        services::get(self, key).await
    }

    async fn service_update(
        &self,
        key: &str,
        version: u64,
        spec: ServiceSpec,
        rollback: bool,
    ) -> Result<Vec<String>> {
        services::update(self, key, version, spec, rollback).await
    }

    async fn service_remove(&self, key: &str) -> Result<()> {
        services::remove(self, key).await
    }

    async fn tasks(&self, filters: TaskFilters) -> Result<Vec<Arc<Task>>> {
        services::tasks(self, filters).await
    }

    async fn task(&self, key: &str) -> Result<Arc<Task>> {
        services::task(self, key).await
    }

    async fn logs(&self, target: LogTarget, options: LogOptions) -> Result<BoxStream<'static, LogLine>> {
        logs::logs(self, target, options).await
    }

    async fn images(&self) -> image::Result<Vec<image::ImageDetails>> {
        self.image_list()
    }

    async fn image_inspect(&self, name: &str) -> image::Result<image::ImageDetails> {
        self.image_store()?.inspect(name)
    }
    async fn image_pull(
        &self,
        reference: &str,
        creds: image::Credentials,
        progress: api::ImageProgress,
    ) -> image::Result<image::Pulled> {
        images::pull(self, reference, creds, progress).await
    }

    async fn image_import(
        &self,
        body: api::ImageUpload,
        reference: Option<String>,
    ) -> image::Result<image::Digest> {
        images::import(self, body, reference).await
    }

    async fn image_load(&self, body: api::ImageUpload) -> image::Result<Vec<image::Loaded>> {
        images::load(self, body).await
    }

    async fn image_tag(&self, source: &str, target: &str) -> image::Result<()> {
        images::tag(self, source, target).await
    }

    async fn image_remove(&self, name: &str, force: bool) -> image::Result<Vec<image::Removed>> {
        images::remove(self, name, force).await
    }

    async fn image_prune(&self, all: bool) -> image::Result<(Vec<image::Removed>, image::GcReport)> {
        images::prune(self, all).await
    }

    async fn events(&self) -> Result<api::EventFeed> {
        Ok(self.events.feed())
    }

    async fn images_used(&self) -> image::Result<std::collections::HashMap<image::Digest, usize>> {
        images::used(self).await
    }
    // Task containers of this node (`containers.rs`, `container_stats.rs`).

    async fn containers(&self) -> api::backend::Result<Vec<api::containers::ContainerView>> {
        Ok(self.container_views().await)
    }

    async fn container_size(&self, view: &api::containers::ContainerView) -> Option<u64> {
        Swarm::container_layer_size(view).await
    }

    async fn container_logs(
        &self,
        task_id: &str,
        options: LogOptions,
    ) -> api::backend::Result<BoxStream<'static, LogLine>> {
        self.container_log_lines(task_id, options).await
    }

    async fn container_top(
        &self,
        task_id: &str,
        ps_args: &str,
    ) -> api::backend::Result<api::containers::ContainerTop> {
        self.container_ps(task_id, ps_args).await
    }

    async fn container_stats(&self, task_id: &str) -> api::backend::Result<api::containers::ContainerStats> {
        self.container_sample(task_id).await
    }

    async fn container_signal(&self, task_id: &str, signal: &str) -> api::backend::Result<()> {
        self.container_send_signal(task_id, signal).await
    }

    async fn container_wait(&self, task_id: &str) -> api::backend::Result<i64> {
        self.container_exit(task_id).await
    }

    async fn network_create(&self, spec: types::NetworkSpec) -> Result<Arc<types::Network>> {
        super::networks::create(&self.require_manager().await?, spec).await
    }

    async fn networks(&self) -> Result<Vec<Arc<types::Network>>> {
        networks::list(self).await
    }

    async fn network(&self, key: &str) -> Result<Arc<types::Network>> {
        super::networks::lookup(&self.require_manager().await?, key).await
    }

    async fn network_remove(&self, key: &str) -> Result<()> {
        super::networks::remove(&self.require_manager().await?, key).await
    }

    async fn network_prune(&self, labels: Vec<String>, not_labels: Vec<String>) -> Result<Vec<String>> {
        super::networks::prune(&self.require_manager().await?, &labels, &not_labels).await
    }

    async fn task_attachments(&self, task_ids: &[String]) -> Result<Vec<Vec<api::Attachment>>> {
        networks::attachments(self, task_ids).await
    }

    async fn task_generic_resources(
        &self,
        task_ids: &[String],
    ) -> Result<Vec<Vec<types::generic::GenericResource>>> {
        services::generic_resources(self, task_ids).await
    }

    async fn payload_create(
        &self,
        kind: types::Kind,
        name: String,
        labels: std::collections::BTreeMap<String, String>,
        data: Vec<u8>,
    ) -> Result<String> {
        super::secrets::create(&self.require_manager().await?, kind, name, labels, data).await
    }

    async fn payload_list(
        &self,
        kind: types::Kind,
        filters: rules::controlapi::secret::ListFilters,
    ) -> Result<Vec<types::Object>> {
        super::secrets::list(&self.require_manager().await?, kind, &filters).await
    }

    async fn payload_get(&self, kind: types::Kind, key: &str) -> Result<types::Object> {
        super::secrets::get(&self.require_manager().await?, kind, key).await
    }

    async fn payload_update(
        &self,
        kind: types::Kind,
        key: &str,
        version: u64,
        name: String,
        labels: std::collections::BTreeMap<String, String>,
        data: Option<Vec<u8>>,
    ) -> Result<()> {
        let m = self.require_manager().await?;
        super::secrets::update(&m, kind, key, version, &name, labels, data.as_deref()).await
    }

    async fn payload_remove(&self, kind: types::Kind, key: &str) -> Result<()> {
        super::secrets::remove(&self.require_manager().await?, kind, key).await
    }

    async fn secret_rotate(&self, key: &str, data: Vec<u8>) -> Result<api::backend::SecretRotated> {
        let m = self.require_manager().await?;
        super::secrets::rotate(&m, types::Kind::Secret, key, data, self.clock.now()).await
    }

    async fn config_rotate(&self, key: &str, data: Vec<u8>) -> Result<api::backend::SecretRotated> {
        let m = self.require_manager().await?;
        super::secrets::rotate(&m, types::Kind::Config, key, data, self.clock.now()).await
    }

    async fn root_ca_state(&self) -> Result<types::CaState> {
        let m = self.require_manager().await?;
        Ok(m.synced_view().await.ca_state().clone())
    }

    async fn external_cas(&self) -> Result<Vec<types::ExternalCa>> {
        let m = self.require_manager().await?;
        Ok(m.synced_view().await.external_cas().to_vec())
    }

    // Standalone containers (`standalone/`).

    async fn container_create(
        &self,
        name: &str,
        create: api::convert::standalone::ContainerCreate,
    ) -> api::backend::Result<String> {
        let node_id = self.local_node_id();
        self.standalone()?.create(name, create, &node_id).await
    }

    async fn container_start(&self, task_id: &str) -> api::backend::Result<()> {
        self.standalone()?.start(task_id).await
    }

    async fn container_attach(
        &self,
        task_id: &str,
        options: api::AttachOptions,
    ) -> api::backend::Result<api::ExecStreams> {
        // A service task's container: its terminal (`task_terminal.rs`).
        if !self.standalone.get().is_some_and(|s| s.holds(task_id)) {
            return self.task_attach(task_id, options).await;
        }
        self.standalone()?.attach(task_id, options).await
    }

    async fn container_remove(&self, task_id: &str, force: bool, volumes: bool) -> api::backend::Result<()> {
        self.standalone()?.remove(task_id, force, volumes).await
    }

    async fn container_prune(&self) -> api::backend::Result<Vec<String>> {
        // A node without standalone containers has none to prune (`docker system prune` on a
        // `process` node goes on to its other steps).
        match self.standalone.get() {
            Some(standalone) => standalone.prune().await,
            None => Ok(Vec::new()),
        }
    }

    async fn container_resize(&self, task_id: &str, height: u16, width: u16) -> api::backend::Result<()> {
        if !self.standalone.get().is_some_and(|s| s.holds(task_id)) {
            return self.task_resize(task_id, height, width).await;
        }
        self.standalone()?.resize(task_id, height, width).await
    }

    async fn network_connect(&self, key: &str, task_id: &str) -> api::backend::Result<()> {
        self.standalone()?.connect(key, task_id, Default::default()).await
    }

    async fn network_disconnect(&self, key: &str, task_id: &str, force: bool) -> api::backend::Result<()> {
        self.standalone()?.disconnect(key, task_id, force).await
    }

    async fn network_connect_endpoint(
        &self,
        key: &str,
        task_id: &str,
        endpoint: api::convert::standalone::EndpointSettings,
    ) -> api::backend::Result<()> {
        self.standalone()?.connect(key, task_id, endpoint).await
    }

    async fn volumes(&self) -> api::backend::Result<Vec<api::VolumeView>> {
        self.volume_list().await
    }

    async fn volumes_pruned(&self, reclaimed: u64) {
        super::volume_events::pruned(&self.events, reclaimed);
    }

    async fn volumes_usage(&self) -> api::backend::Result<Vec<api::VolumeUsage>> {
        self.volume_usage().await
    }

    async fn volume(&self, name: &str) -> api::backend::Result<api::VolumeView> {
        self.volume_get(name).await
    }

    async fn volume_create(&self, create: api::VolumeCreate) -> api::backend::Result<api::VolumeView> {
        self.volume_make(create).await
    }

    async fn volume_remove(&self, name: &str, force: bool) -> api::backend::Result<u64> {
        self.volume_delete(name, force).await
    }

    async fn network_endpoints(&self, network_id: &str) -> api::backend::Result<Vec<api::NetworkEndpoint>> {
        networks::endpoints(self, network_id).await
    }

    async fn network_peers(&self, network_id: &str) -> api::backend::Result<Vec<api::model::NetworkPeer>> {
        networks::peers(self, network_id).await
    }

    async fn exec_create(&self, container: &str, config: api::ExecCreate) -> Result<String> {
        self.exec_create_in(container, config).await
    }

    async fn exec_start(
        &self,
        id: &str,
        detach: bool,
        size: Option<(u16, u16)>,
    ) -> Result<Option<api::ExecStreams>> {
        self.exec_start_of(id, detach, size).await
    }

    async fn exec_inspect(&self, id: &str) -> Result<api::ExecView> {
        self.exec_inspect_of(id)
    }

    async fn exec_resize(&self, id: &str, height: u16, width: u16) -> Result<()> {
        self.exec_resize_of(id, height, width)
    }

    async fn workers(&self) -> Result<Vec<api::model::Worker>> {
        let m = self.require_manager().await?;
        Ok(m.workers()
            .into_iter()
            .map(|w| api::model::Worker {
                name: w.name,
                state: w.state.to_string(),
                iterations: w.iterations,
                errors: w.errors,
                last_error: w.last_error,
            })
            .collect())
    }
}
