//! What the API edge needs from the daemon, in shoal's own terms. The HTTP layer turns Docker
//! requests into these calls and their results back into Docker JSON; the daemon implements
//! the trait. Tests drive the HTTP layer with a fake backend.
//!
//! This file holds the [`Backend`] trait; the types its calls take and give are one file per
//! API area beside it (`swarm.rs`: the swarm and its nodes, `services.rs`: services and logs,
//! `images.rs`, `exec.rs`: exec and attach streams, `networks.rs`, `secrets.rs`, `events.rs`, `volumes.rs`),
//! re-exported here.

mod events;
mod exec;
mod images;
mod networks;
mod secrets;
mod services;
mod swarm;
mod volumes;

use std::sync::Arc;

use futures::stream::BoxStream;
use rules::controlapi::cluster::Rotation;
use rules::controlapi::node::NodeFilters;
use rules::controlapi::service::ServiceFilters;
use rules::controlapi::task::TaskFilters;
use types::{Cluster, ClusterSpec, NodeSpec, ServiceSpec, Task};

pub use events::EventFeed;
pub use exec::{AttachOptions, ExecCreate, ExecStreams, ExecView};
pub use images::{ImageProgress, ImageUpload};
pub use networks::{Attachment, NetworkEndpoint};
pub use secrets::SecretRotated;
pub use services::{LogLine, LogOptions, LogStream, LogTarget, ServiceView};
pub use swarm::{InitRequest, JoinRequest, LocalNodeState, ManagerInfo, NodeView, SwarmStatus};
pub use volumes::{VolumeCreate, VolumeUsage, VolumeView};

/// Errors carry the status dockerd would answer with (see `rules::Error`).
pub type Result<T> = std::result::Result<T, rules::Error>;

/// The daemon, as the API sees it.
#[async_trait::async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Swarm facts for `/_ping` and `/info`; cheap, never fails.
    fn swarm_status(&self) -> SwarmStatus;
    /// Manager-only `/info` facts; `None` on workers and outside a swarm.
    fn manager_info(&self) -> Option<ManagerInfo>;
    /// Host name of this machine (for `/info` `Name`).
    fn hostname(&self) -> String;
    /// What is wrong on this host that the daemon cannot put right itself, for `/info`
    /// `Warnings` (the docker CLI prints each as a `WARNING:` line, as dockerd's).
    async fn host_warnings(&self) -> Vec<String> {
        Vec::new()
    }

    /// `POST /swarm/init`: returns the new node ID.
    async fn swarm_init(&self, req: InitRequest) -> Result<String>;
    /// `POST /swarm/join`.
    async fn swarm_join(&self, req: JoinRequest) -> Result<()>;
    /// `POST /swarm/leave`.
    async fn swarm_leave(&self, force: bool) -> Result<()>;
    /// `GET /swarm`: the cluster object (join tokens included).
    async fn swarm_inspect(&self) -> Result<Arc<Cluster>>;
    /// `POST /swarm/update`.
    async fn swarm_update(&self, version: u64, spec: ClusterSpec, rotation: Rotation) -> Result<()>;
    /// `GET /swarm/unlockkey`: the managers' unlock key (`SWMKEY-1-…`), empty without autolock.
    async fn swarm_unlock_key(&self) -> Result<String>;
    /// `POST /swarm/unlock`: unlock a manager that restarted locked.
    async fn swarm_unlock(&self, key: String) -> Result<()>;

    /// `GET /nodes`.
    async fn nodes(&self, filters: NodeFilters) -> Result<Vec<NodeView>>;
    /// `GET /nodes/{id}` (ID, name or ID prefix).
    async fn node(&self, key: &str) -> Result<NodeView>;
    /// `POST /nodes/{id}/update`: returns a warning to log, if any.
    async fn node_update(&self, key: &str, version: u64, spec: NodeSpec) -> Result<Option<String>>;
    /// `DELETE /nodes/{id}`.
    async fn node_remove(&self, key: &str, force: bool) -> Result<()>;

    /// `POST /services/create`: returns the new ID and any warnings.
    async fn service_create(&self, spec: ServiceSpec) -> Result<(String, Vec<String>)>;
    /// `GET /services` (counts filled when `status`).
    async fn services(&self, filters: ServiceFilters, status: bool) -> Result<Vec<ServiceView>>;
    /// `GET /services/{id}` (ID, name or ID prefix).
    async fn service(&self, key: &str) -> Result<ServiceView>;
    /// `POST /services/{id}/update?version=` (`rollback` for `?rollback=previous`): warnings.
    async fn service_update(
        &self,
        key: &str,
        version: u64,
        spec: ServiceSpec,
        rollback: bool,
    ) -> Result<Vec<String>>;
    /// `DELETE /services/{id}`.
    async fn service_remove(&self, key: &str) -> Result<()>;
    /// `GET /tasks`.
    async fn tasks(&self, filters: TaskFilters) -> Result<Vec<Arc<Task>>>;
    /// `GET /tasks/{id}`.
    async fn task(&self, key: &str) -> Result<Arc<Task>>;
    /// `GET /services/{id}/logs`, `GET /tasks/{id}/logs`: lines in time order per task;
    /// with `follow` the stream stays open until the client goes away.
    async fn logs(&self, target: LogTarget, options: LogOptions) -> Result<BoxStream<'static, LogLine>>;

    // Images of this node (`/images/*`). The defaults refuse, for daemons without a store.

    /// `GET /images/json`: every image with its config.
    async fn images(&self) -> image::Result<Vec<image::ImageDetails>> {
        Err(no_images())
    }
    /// `GET /images/{name}/json`.
    async fn image_inspect(&self, _name: &str) -> image::Result<image::ImageDetails> {
        Err(no_images())
    }
    /// `POST /images/create?fromImage=`: pulls `reference`, reporting each progress line.
    async fn image_pull(
        &self,
        _reference: &str,
        _creds: image::Credentials,
        _progress: ImageProgress,
    ) -> image::Result<image::Pulled> {
        Err(no_images())
    }
    /// `POST /images/create?fromSrc=-`: the body as a root filesystem tar, tagged `reference`.
    async fn image_import(
        &self,
        _body: ImageUpload,
        _reference: Option<String>,
    ) -> image::Result<image::Digest> {
        Err(no_images())
    }
    /// `POST /images/load`: the body as a `docker save` archive.
    async fn image_load(&self, _body: ImageUpload) -> image::Result<Vec<image::Loaded>> {
        Err(no_images())
    }
    /// `POST /images/{name}/tag`.
    async fn image_tag(&self, _source: &str, _target: &str) -> image::Result<()> {
        Err(no_images())
    }
    /// `DELETE /images/{name}?force=`.
    async fn image_remove(&self, _name: &str, _force: bool) -> image::Result<Vec<image::Removed>> {
        Err(no_images())
    }
    /// `POST /images/prune`: untagged images (every unused image with `all`).
    async fn image_prune(&self, _all: bool) -> image::Result<(Vec<image::Removed>, image::GcReport)> {
        Err(no_images())
    }
    /// How many tasks on this node use each image (`/system/df`'s `Containers`).
    async fn images_used(&self) -> image::Result<std::collections::HashMap<image::Digest, usize>> {
        Err(no_images())
    }

    // Containers of this node (`/containers/*`), keyed by task ID once the edge resolved the
    // container. The defaults refuse, for daemons without tasks of their own.

    /// The bytes a container wrote over its image (`docker ps --size`, `/system/df`); `None`
    /// when the node does not keep its writable layer.
    async fn container_size(&self, _view: &crate::containers::ContainerView) -> Option<u64> {
        None
    }

    /// Every container this node holds (the edge filters, sorts and resolves names).
    async fn containers(&self) -> Result<Vec<crate::containers::ContainerView>> {
        Err(no_containers("listing containers"))
    }
    /// `GET /containers/{id}/logs`: the task's captured output.
    async fn container_logs(
        &self,
        _task_id: &str,
        _options: LogOptions,
    ) -> Result<BoxStream<'static, LogLine>> {
        Err(no_containers("container logs"))
    }
    /// `GET /containers/{id}/top`: `ps` (with `ps_args`, empty for `-ef`) over the container's processes.
    async fn container_top(&self, _task_id: &str, _ps_args: &str) -> Result<crate::containers::ContainerTop> {
        Err(no_containers("container top"))
    }
    /// One stats sample of a running container.
    async fn container_stats(&self, _task_id: &str) -> Result<crate::containers::ContainerStats> {
        Err(no_containers("container stats"))
    }
    /// Sends a signal, in Docker's spellings (`SIGKILL`, `KILL`, `9`).
    async fn container_signal(&self, _task_id: &str, _signal: &str) -> Result<()> {
        Err(no_containers("signalling containers"))
    }
    /// Resolves with the exit code once the container's process has exited.
    async fn container_wait(&self, _task_id: &str) -> Result<i64> {
        Err(no_containers("waiting for containers"))
    }
    /// `GET /shoal/workers`: this manager's background loops (dockerd's 503 off managers).
    async fn workers(&self) -> Result<Vec<crate::model::Worker>> {
        Err(rules::Error::Unimplemented(
            "GET /shoal/workers is not served by this daemon".into(),
        ))
    }
    /// `GET /events`: the events the daemon keeps and those that follow.
    async fn events(&self) -> Result<EventFeed> {
        Err(rules::Error::Unimplemented(
            "GET /events is not served by this daemon".into(),
        ))
    }
    /// `POST /networks/create`: the new network (with its allocated subnets and VNI).
    async fn network_create(&self, _spec: types::NetworkSpec) -> Result<Arc<types::Network>> {
        Err(unimplemented("network create"))
    }
    /// `GET /networks`: every cluster network (the edge filters and adds the local ones).
    async fn networks(&self) -> Result<Vec<Arc<types::Network>>> {
        Err(unimplemented("network list"))
    }
    /// `GET /networks/{id}`: a cluster network by ID, name or ID prefix.
    async fn network(&self, _key: &str) -> Result<Arc<types::Network>> {
        Err(unimplemented("network inspect"))
    }
    /// `DELETE /networks/{id}`.
    async fn network_remove(&self, _key: &str) -> Result<()> {
        Err(unimplemented("network remove"))
    }
    /// `POST /networks/prune` with label filters (`label`, `label!`): the removed names.
    async fn network_prune(&self, _labels: Vec<String>, _not_labels: Vec<String>) -> Result<Vec<String>> {
        Err(unimplemented("network prune"))
    }
    /// The addresses each of `task_ids` holds, per network (`NetworksAttachments`).
    async fn task_attachments(&self, _task_ids: &[String]) -> Result<Vec<Vec<Attachment>>> {
        Err(unimplemented("task network attachments"))
    }
    /// The generic resources each of `task_ids` was given (a task's `GenericResources`).
    async fn task_generic_resources(
        &self,
        _task_ids: &[String],
    ) -> Result<Vec<Vec<types::generic::GenericResource>>> {
        Err(unimplemented("task generic resources"))
    }
    // Standalone containers of this node (`docker run`, create/start/attach/rm;
    // `server/standalone.rs`), keyed by their synthetic task's ID once resolved. The defaults refuse.

    /// `POST /containers/create?name=`: the new container's ID; `name` is empty for a generated one.
    async fn container_create(
        &self,
        _name: &str,
        _create: crate::convert::standalone::ContainerCreate,
    ) -> Result<String> {
        Err(unimplemented("container create"))
    }
    /// `POST /containers/{id}/start`: a created (or exited) standalone container runs.
    async fn container_start(&self, _task_id: &str) -> Result<()> {
        Err(unimplemented("container start"))
    }
    /// `POST /containers/{id}/attach`: the container's output from now on (and its backlog
    /// with `logs`), ending when the container exits.
    async fn container_attach(&self, _task_id: &str, _options: AttachOptions) -> Result<ExecStreams> {
        Err(unimplemented("container attach"))
    }
    /// `DELETE /containers/{id}?force=&v=`: a running container only with `force` (killed
    /// first); with `v` its anonymous volumes go too.
    async fn container_remove(&self, _task_id: &str, _force: bool, _volumes: bool) -> Result<()> {
        Err(unimplemented("container remove"))
    }
    /// `POST /containers/prune`: removes exited standalone containers; their IDs.
    async fn container_prune(&self) -> Result<Vec<String>> {
        Err(unimplemented("container prune"))
    }
    /// `POST /containers/{id}/resize?h=&w=`: sets the window size of a running container's
    /// terminal.
    async fn container_resize(&self, _task_id: &str, _height: u16, _width: u16) -> Result<()> {
        Err(unimplemented("container resize"))
    }
    // This node's named volumes (`server/volumes.rs`; `oci` nodes). The defaults refuse.

    /// `GET /volumes`: every volume of this node with the containers using it.
    async fn volumes(&self) -> Result<Vec<VolumeView>> {
        Err(no_volumes())
    }
    /// `GET /volumes/{name}`.
    async fn volume(&self, _name: &str) -> Result<VolumeView> {
        Err(no_volumes())
    }
    /// `GET /system/df`'s volumes: each with its size; none on a node that keeps no volumes.
    async fn volumes_usage(&self) -> Result<Vec<VolumeUsage>> {
        Ok(Vec::new())
    }
    /// `POST /volumes/prune` ended, freeing `reclaimed` bytes (dockerd's `prune` event).
    async fn volumes_pruned(&self, _reclaimed: u64) {}
    /// `POST /volumes/create`: the new volume, or the existing one of that name.
    async fn volume_create(&self, _create: VolumeCreate) -> Result<VolumeView> {
        Err(no_volumes())
    }
    /// `DELETE /volumes/{name}`: refused (409) while a container here uses it; a missing one
    /// is fine with `force`. The bytes freed.
    async fn volume_remove(&self, _name: &str, _force: bool) -> Result<u64> {
        Err(no_volumes())
    }
    /// `POST /networks/{id}/connect`: attaches standalone container `task_id` to network `key`.
    async fn network_connect(&self, _key: &str, _task_id: &str) -> Result<()> {
        Err(unimplemented("network connect"))
    }
    /// `POST /networks/{id}/disconnect`: detaches standalone container `task_id` from `key`.
    async fn network_disconnect(&self, _key: &str, _task_id: &str, _force: bool) -> Result<()> {
        Err(unimplemented("network disconnect"))
    }
    /// `POST /networks/{id}/connect` with endpoint settings (`--alias`, `--ip`); without any,
    /// the same as [`Backend::network_connect`].
    async fn network_connect_endpoint(
        &self,
        key: &str,
        task_id: &str,
        endpoint: crate::convert::standalone::EndpointSettings,
    ) -> Result<()> {
        if endpoint == Default::default() {
            return self.network_connect(key, task_id).await;
        }
        Err(unimplemented("network connect with endpoint settings"))
    }
    /// `GET /networks/{id}`'s `Containers`: this node's containers on network `network_id`.
    async fn network_endpoints(&self, _network_id: &str) -> Result<Vec<NetworkEndpoint>> {
        Err(unimplemented("network endpoints"))
    }
    /// `GET /networks/{id}`'s `Peers`: the nodes holding network `network_id`.
    async fn network_peers(&self, _network_id: &str) -> Result<Vec<crate::model::NetworkPeer>> {
        Err(unimplemented("network peers"))
    }

    // `docker exec` into the tasks of this node (`/exec/*`). The defaults refuse.

    /// `POST /containers/{id}/exec`: returns the new exec instance's ID.
    async fn exec_create(&self, container: &str, _config: ExecCreate) -> Result<String> {
        Err(no_exec(container))
    }
    /// `POST /exec/{id}/start`: starts the process; its streams unless `detach`.
    async fn exec_start(
        &self,
        id: &str,
        _detach: bool,
        _size: Option<(u16, u16)>,
    ) -> Result<Option<ExecStreams>> {
        Err(no_exec(id))
    }
    /// `GET /exec/{id}/json`.
    async fn exec_inspect(&self, id: &str) -> Result<ExecView> {
        Err(no_exec(id))
    }
    /// `POST /exec/{id}/resize?h=&w=`.
    async fn exec_resize(&self, id: &str, _height: u16, _width: u16) -> Result<()> {
        Err(no_exec(id))
    }
    // Secrets and configs (`kind` is `Kind::Secret` or `Kind::Config`); the rules are
    // `rules::controlapi::payload`.

    /// `POST /secrets/create`, `/configs/create`: the new object's ID.
    async fn payload_create(
        &self,
        _kind: types::Kind,
        _name: String,
        _labels: std::collections::BTreeMap<String, String>,
        _data: Vec<u8>,
    ) -> Result<String> {
        Err(unimplemented("secret/config create"))
    }
    /// `GET /secrets`, `/configs` with filters: `Object::Secret`s or `Object::Config`s.
    async fn payload_list(
        &self,
        _kind: types::Kind,
        _filters: rules::controlapi::secret::ListFilters,
    ) -> Result<Vec<types::Object>> {
        Err(unimplemented("secret/config list"))
    }
    /// `GET /secrets/{id}`, `/configs/{id}` (ID, name or unique ID prefix).
    async fn payload_get(&self, _kind: types::Kind, _key: &str) -> Result<types::Object> {
        Err(unimplemented("secret/config inspect"))
    }
    /// `POST /secrets/{id}/update?version=N`: labels only.
    async fn payload_update(
        &self,
        _kind: types::Kind,
        _key: &str,
        _version: u64,
        _name: String,
        _labels: std::collections::BTreeMap<String, String>,
        _data: Option<Vec<u8>>,
    ) -> Result<()> {
        Err(unimplemented("secret/config update"))
    }
    /// `DELETE /secrets/{id}`, `/configs/{id}`: refused while a service references it.
    async fn payload_remove(&self, _kind: types::Kind, _key: &str) -> Result<()> {
        Err(unimplemented("secret/config remove"))
    }
    /// `POST /secrets/{id}/rotate` (shoal's): the next version, and the services moved to it.
    async fn secret_rotate(&self, _key: &str, _data: Vec<u8>) -> Result<SecretRotated> {
        Err(unimplemented("secret rotate"))
    }
    /// `POST /configs/{id}/rotate` (shoal's): the next version, and the services moved to it.
    async fn config_rotate(&self, _key: &str, _data: Vec<u8>) -> Result<SecretRotated> {
        Err(unimplemented("config rotate"))
    }
    /// The root CA rotation state beside the cluster (`ForceRotate`, a rotation under way)
    /// for `GET /swarm` and the nodes' `TLSInfo`; only certificates are read from it.
    async fn root_ca_state(&self) -> Result<types::CaState> {
        Err(unimplemented("root CA state"))
    }
    /// The cluster spec's external CAs (`CAConfig.ExternalCAs`, kept beside the spec) for
    /// `GET /swarm`.
    async fn external_cas(&self) -> Result<Vec<types::ExternalCa>> {
        Err(unimplemented("external CAs"))
    }
}

// The defaults' refusals.

fn unimplemented(call: &str) -> rules::Error {
    rules::Error::Unimplemented(format!("{call} is not implemented by this daemon"))
}

fn no_volumes() -> rules::Error {
    rules::Error::Unimplemented(
        "volumes: this node keeps none (named volumes are served on nodes with the oci executor)".into(),
    )
}

fn no_exec(key: &str) -> rules::Error {
    rules::Error::Unimplemented(format!("this daemon cannot exec into containers ({key})"))
}

fn no_images() -> image::Error {
    image::Error::Unsupported("this daemon has no image store".into())
}

fn no_containers(what: &str) -> rules::Error {
    rules::Error::Unimplemented(format!("{what}: this daemon runs no containers"))
}
