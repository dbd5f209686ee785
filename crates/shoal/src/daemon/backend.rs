//! The daemon as the API sees it: [`api::Backend`] over the swarm state and the manager.

use std::sync::Arc;

use api::{
    Backend, LocalNodeState, LogLine, LogOptions, LogTarget, ManagerInfo, NodeView, ServiceView, SwarmStatus,
};
use futures::stream::BoxStream;
use manager::{Error, Manager};
use rules::controlapi::cluster::Rotation;
use rules::controlapi::node::NodeFilters;
use rules::controlapi::service::ServiceFilters;
use rules::controlapi::task::TaskFilters;
use rules::controlapi::{cluster, node, service, task};
use types::{Cluster, ClusterSpec, NodeSpec, Role, ServiceSpec, Task};

use super::networks;
use super::swarm::{Local, Swarm, msg};

type Result<T> = std::result::Result<T, Error>;

/// How long an autolock change waits for this manager's key file to follow.
const KEY_FILE_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

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

impl Swarm {
    /// dockerd accepts `self` for the node it runs on.
    fn node_key<'a>(&self, key: &'a str) -> std::borrow::Cow<'a, str> {
        match (key, self.local()) {
            ("self", Local::Active(node)) => std::borrow::Cow::Owned(node.state().node_id),
            _ => std::borrow::Cow::Borrowed(key),
        }
    }
}

fn view(m: &Manager, node: Arc<types::Node>) -> NodeView {
    let reachability = m.reachability(&node);
    // A leader this manager cannot reach is shown as what it is to us: Unreachable.
    let leader = m.leader_node_id().is_some_and(|id| id == node.id)
        && reachability != types::Reachability::Unreachable;
    NodeView {
        node,
        leader,
        reachability,
    }
}

#[async_trait::async_trait]
impl Backend for Swarm {
    fn swarm_status(&self) -> SwarmStatus {
        let mut status = SwarmStatus {
            state: LocalNodeState::Inactive,
            node_id: String::new(),
            node_addr: String::new(),
            control_available: false,
            error: String::new(),
            remote_managers: Vec::new(),
        };
        match self.local() {
            Local::Inactive => {}
            Local::Pending => status.state = LocalNodeState::Pending,
            Local::Locked(locked) => {
                status.state = LocalNodeState::Locked;
                status.node_id = locked.state.node_id.clone();
                status.error = msg::SWARM_LOCKED.into();
                status.remote_managers = locked
                    .state
                    .remote_managers
                    .iter()
                    .map(|a| (String::new(), a.clone()))
                    .collect();
            }
            Local::Active(node) => {
                let state = node.state();
                status.state = LocalNodeState::Active;
                if let Some(reason) = node.removed() {
                    status.state = LocalNodeState::Error;
                    status.error = reason;
                }
                status.node_id = state.node_id.clone();
                status.node_addr = state
                    .advertise_addr
                    .rsplit_once(':')
                    .map(|(h, _)| h.trim_matches(['[', ']']).to_string())
                    .unwrap_or_default();
                status.control_available = state.role == Role::Manager;
                if let Some(m) = node.try_manager()
                    && status.error.is_empty()
                {
                    status.error = m.health().error();
                }
                status.remote_managers = match node.try_manager() {
                    Some(m) => m.voters().into_values().map(|p| (p.node_id, p.addr)).collect(),
                    None => state
                        .remote_managers
                        .iter()
                        .map(|a| (String::new(), a.clone()))
                        .collect(),
                };
            }
        }
        status
    }

    fn manager_info(&self) -> Option<ManagerInfo> {
        let Local::Active(node) = self.local() else {
            return None;
        };
        let m = node.try_manager()?;
        let view = m.view();
        let cluster = view.cluster()?.clone();
        Some(ManagerInfo {
            nodes: view.node_count(),
            managers: view.nodes().filter(|n| n.spec.role == Role::Manager).count(),
            cluster,
        })
    }

    fn hostname(&self) -> String {
        self.description().hostname
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
        let m = self.require_manager().await?;
        m.synced_view()
            .await
            .cluster()
            .cloned()
            .ok_or_else(|| Error::Unavailable("cluster object not yet replicated".into()))
    }

    async fn swarm_update(&self, version: u64, spec: ClusterSpec, mut rotation: Rotation) -> Result<()> {
        let m = self.require_manager().await?;
        // A new root CA is valid from now.
        rotation.root_ca.now_secs = self.clock.now().0 / 1_000_000_000;
        let view = m.synced_view().await;
        let ops = m.with_rng(|mut rng| cluster::update(&view, version, spec, rotation, &mut rng))?;
        let key_changed = ops.iter().any(|op| matches!(op, store::Op::SetUnlockKey(_)));
        m.propose(ops).await?;
        if key_changed && let Local::Active(node) = self.local() {
            // Answer once this manager's own key file follows (the docker CLI prints the new
            // key next, and an operator may restart this node right after). The others
            // re-wrap as their replicas apply the change.
            let want = super::autolock::wanted(&m.view()).flatten();
            if !node.certs().wait_wrapped(want.as_ref(), KEY_FILE_WAIT).await {
                tracing::warn!(
                    "the key file was not re-written within {KEY_FILE_WAIT:?} of the autolock change"
                );
            }
        }
        Ok(())
    }

    async fn swarm_unlock_key(&self) -> Result<String> {
        let m = self.require_manager().await?;
        let view = m.synced_view().await;
        Ok(view.unlock_key().map(|k| k.to_text()).unwrap_or_default())
    }

    async fn swarm_unlock(&self, key: String) -> Result<()> {
        self.unlock(&key).await
    }

    async fn nodes(&self, filters: NodeFilters) -> Result<Vec<NodeView>> {
        let m = self.require_manager().await?;
        Ok(node::list(&*m.synced_view().await, &filters)
            .into_iter()
            .map(|n| view(&m, n))
            .collect())
    }

    async fn node(&self, key: &str) -> Result<NodeView> {
        let m = self.require_manager().await?;
        let n = m.synced_view().await.lookup_node(&self.node_key(key))?;
        Ok(view(&m, n))
    }

    async fn node_update(&self, key: &str, version: u64, spec: NodeSpec) -> Result<Option<String>> {
        let m = self.require_manager().await?;
        let plan = node::update(&*m.synced_view().await, &self.node_key(key), version, spec)?;
        m.propose(vec![plan.op]).await?;
        if let Some(w) = &plan.warning {
            tracing::warn!("{w}");
        }
        Ok(plan.warning)
    }

    async fn node_remove(&self, key: &str, force: bool) -> Result<()> {
        let m = self.require_manager().await?;
        let op = node::remove(&*m.synced_view().await, &self.node_key(key), force)?;
        m.propose(vec![op]).await?;
        Ok(())
    }

    async fn service_create(&self, spec: ServiceSpec) -> Result<(String, Vec<String>)> {
        let m = self.require_manager().await?;
        let id = m.new_id();
        let op = service::create(&*m.synced_view().await, id.clone(), spec, self.clock.now())?;
        m.propose(vec![op]).await?;
        Ok((id, Vec::new()))
    }

    async fn services(&self, filters: ServiceFilters, status: bool) -> Result<Vec<ServiceView>> {
        let m = self.require_manager().await?;
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

    async fn service(&self, key: &str) -> Result<ServiceView> {
        let m = self.require_manager().await?;
        let view = m.synced_view().await;
        let s = view
            .lookup_service(key)
            .map_err(|e| Error::NotFound(e.to_string()))?;
        Ok(ServiceView {
            status: service::status(&view, &s),
            service: networks::with_vips(&view, s),
        })
    }

    async fn service_update(
        &self,
        key: &str,
        version: u64,
        spec: ServiceSpec,
        rollback: bool,
    ) -> Result<Vec<String>> {
        let m = self.require_manager().await?;
        // The plan accepts a client version older than the object's when only the daemon's
        // bookkeeping (update status) moved since; if such a write lands between plan and
        // commit, plan again rather than fail the client.
        let mut attempts = 0;
        loop {
            let op = service::update(
                &*m.synced_view().await,
                key,
                version,
                spec.clone(),
                rollback,
                self.clock.now(),
            )?;
            match m.propose(vec![op]).await {
                Err(Error::OutOfSequence) if attempts < 5 => attempts += 1,
                other => return other.map(|_| Vec::new()),
            }
        }
    }

    async fn service_remove(&self, key: &str) -> Result<()> {
        let m = self.require_manager().await?;
        let op = service::remove(&*m.synced_view().await, key)?;
        m.propose(vec![op]).await?;
        Ok(())
    }

    async fn tasks(&self, mut filters: TaskFilters) -> Result<Vec<Arc<Task>>> {
        let m = self.require_manager().await?;
        filters.node = filters
            .node
            .iter()
            .map(|k| self.node_key(k).into_owned())
            .collect();
        Ok(task::list(&*m.synced_view().await, &filters))
    }

    async fn task(&self, key: &str) -> Result<Arc<Task>> {
        let m = self.require_manager().await?;
        m.synced_view()
            .await
            .lookup_task(key)
            .map_err(|e| Error::NotFound(e.to_string()))
    }

    async fn logs(&self, target: LogTarget, options: LogOptions) -> Result<BoxStream<'static, LogLine>> {
        use futures::StreamExt;
        let m = self.require_manager().await?;
        let view = m.synced_view().await;
        let (tasks, follow_service): (Vec<Arc<Task>>, Option<String>) = match &target {
            LogTarget::Service(key) => {
                let s = view
                    .lookup_service(key)
                    .map_err(|e| Error::NotFound(e.to_string()))?;
                let tasks = view.tasks_of_service(&s.id).cloned().collect();
                (tasks, options.follow.then(|| s.id.clone()))
            }
            LogTarget::Task(key) => (
                vec![
                    view.lookup_task(key)
                        .map_err(|e| Error::NotFound(e.to_string()))?,
                ],
                None,
            ),
        };
        let selection = rpc::messages::LogSelection {
            follow: options.follow,
            tail: options.tail.map(|n| n as u64),
            since: options.since,
            until: options.until,
            stdout: options.stdout,
            stderr: options.stderr,
        };
        let rx = super::task_logs::stream(&m, tasks, selection, follow_service).await?;
        Ok(tokio_stream::wrappers::ReceiverStream::new(rx)
            .flat_map(futures::stream::iter)
            .boxed())
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
        mut progress: api::ImageProgress,
    ) -> image::Result<image::Pulled> {
        let pulled = self
            .image_store()?
            .pull(reference, &creds, None, &mut *progress)
            .await?;
        // dockerd names a pull by the reference it pulled.
        let familiar = api::convert::image::familiar(reference);
        self.events.image("pull", &familiar, Some(reference));
        Ok(pulled)
    }

    async fn image_import(
        &self,
        body: api::ImageUpload,
        reference: Option<String>,
    ) -> image::Result<image::Digest> {
        let created = Some(self.import_time());
        let id = self
            .image_store()?
            .import(body, reference.as_deref(), image::RunConfig::default(), created)
            .await?;
        self.events.image("import", id.as_str(), reference.as_deref());
        Ok(id)
    }

    async fn image_load(&self, body: api::ImageUpload) -> image::Result<Vec<image::Loaded>> {
        let loaded = self.image_store()?.load(body).await?;
        for image in &loaded {
            let name = image.tags.first().map(String::as_str);
            self.events.image("load", image.id.as_str(), name);
        }
        Ok(loaded)
    }

    async fn image_tag(&self, source: &str, target: &str) -> image::Result<()> {
        let store = self.image_store()?;
        store.tag(source, target)?;
        let id = store.inspect(target).map(|d| d.record.id.to_string());
        self.events
            .image("tag", id.as_deref().unwrap_or(source), Some(target));
        Ok(())
    }

    async fn image_remove(&self, name: &str, force: bool) -> image::Result<Vec<image::Removed>> {
        let id = self
            .image_store()?
            .inspect(name)
            .map(|d| d.record.id.to_string())
            .ok();
        let removed = self.image_remove_checked(name, force).await?;
        self.events.image_removals(&removed, id.as_deref());
        Ok(removed)
    }

    async fn image_prune(&self, all: bool) -> image::Result<(Vec<image::Removed>, image::GcReport)> {
        let (removed, report) = self.image_prune_unused(all).await?;
        self.events.image_removals(&removed, None);
        Ok((removed, report))
    }

    async fn events(&self) -> Result<api::EventFeed> {
        Ok(self.events.feed())
    }

    async fn images_used(&self) -> image::Result<std::collections::HashMap<image::Digest, usize>> {
        self.image_store()?;
        let used = self.images_in_use().await;
        Ok(used.into_iter().map(|(id, tasks)| (id, tasks.len())).collect())
    }
    // Task containers of this node (`containers.rs`, `container_stats.rs`).

    async fn containers(&self) -> api::backend::Result<Vec<api::containers::ContainerView>> {
        Ok(self.container_views().await)
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
        networks::create(&self.require_manager().await?, spec).await
    }

    async fn networks(&self) -> Result<Vec<Arc<types::Network>>> {
        let m = self.require_manager().await?;
        Ok(m.synced_view().await.networks().cloned().collect())
    }

    async fn network(&self, key: &str) -> Result<Arc<types::Network>> {
        networks::lookup(&self.require_manager().await?, key).await
    }

    async fn network_remove(&self, key: &str) -> Result<()> {
        networks::remove(&self.require_manager().await?, key).await
    }

    async fn network_prune(&self, labels: Vec<String>, not_labels: Vec<String>) -> Result<Vec<String>> {
        networks::prune(&self.require_manager().await?, &labels, &not_labels).await
    }

    async fn task_attachments(&self, task_ids: &[String]) -> Result<Vec<Vec<api::Attachment>>> {
        let m = self.require_manager().await?;
        Ok(networks::attachments(&*m.synced_view().await, task_ids))
    }

    async fn task_generic_resources(
        &self,
        task_ids: &[String],
    ) -> Result<Vec<Vec<types::generic::GenericResource>>> {
        let view = self.require_manager().await?.synced_view().await;
        Ok(task_ids
            .iter()
            .map(|id| view.generic_resources(id).to_vec())
            .collect())
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

    async fn container_remove(&self, task_id: &str, force: bool) -> api::backend::Result<()> {
        self.standalone()?.remove(task_id, force).await
    }

    async fn container_prune(&self) -> api::backend::Result<Vec<String>> {
        self.standalone()?.prune().await
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

    async fn network_endpoints(&self, network_id: &str) -> api::backend::Result<Vec<api::NetworkEndpoint>> {
        let m = self.require_manager().await?;
        let holders = self
            .standalone()
            .map(|s| s.attachment_holders())
            .unwrap_or_default();
        let view = m.synced_view().await;
        Ok(networks::endpoints(
            &view,
            &self.local_node_id(),
            network_id,
            &holders,
        ))
    }

    async fn network_peers(&self, network_id: &str) -> api::backend::Result<Vec<api::model::NetworkPeer>> {
        let m = self.require_manager().await?;
        Ok(networks::peers(&*m.synced_view().await, network_id))
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
