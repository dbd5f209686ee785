//! What the API edge needs from the daemon, in shoal's own terms. The HTTP layer turns Docker
//! requests into these calls and their results back into Docker JSON; the daemon implements
//! the trait. Tests drive the HTTP layer with a fake backend.

use std::sync::Arc;

use futures::stream::BoxStream;
use rules::controlapi::cluster::Rotation;
use rules::controlapi::node::NodeFilters;
use rules::controlapi::service::{ServiceFilters, ServiceStatus};
use rules::controlapi::task::TaskFilters;
use types::{
    Availability, Cluster, ClusterSpec, Node, NodeSpec, Reachability, Service, ServiceSpec, Task, Timestamp,
};

/// Errors carry the status dockerd would answer with (see `rules::Error`).
pub type Result<T> = std::result::Result<T, rules::Error>;

/// This node's relation to a swarm (Docker's `LocalNodeState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LocalNodeState {
    /// Not in a swarm.
    Inactive,
    /// Joining.
    Pending,
    /// In a swarm.
    Active,
    /// Something failed; see the error.
    Error,
    /// Autolocked and waiting for the unlock key.
    Locked,
}

impl LocalNodeState {
    /// Docker's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            LocalNodeState::Inactive => "inactive",
            LocalNodeState::Pending => "pending",
            LocalNodeState::Active => "active",
            LocalNodeState::Error => "error",
            LocalNodeState::Locked => "locked",
        }
    }
}

/// The swarm facts `/_ping` and `/info` report about this node.
#[derive(Debug, Clone)]
pub struct SwarmStatus {
    /// Local state.
    pub state: LocalNodeState,
    /// Node ID once joined.
    pub node_id: String,
    /// The address the node is reached at (IP, no port).
    pub node_addr: String,
    /// True on a manager that can serve control calls.
    pub control_available: bool,
    /// Last error, if state is `Error`.
    pub error: String,
    /// Known managers: (node ID, `host:port`).
    pub remote_managers: Vec<(String, String)>,
}

/// Extra `/info` facts only a manager knows.
#[derive(Debug, Clone)]
pub struct ManagerInfo {
    /// Number of nodes.
    pub nodes: usize,
    /// Number of managers.
    pub managers: usize,
    /// The cluster object.
    pub cluster: Arc<Cluster>,
}

/// A node with the facts computed at read time.
#[derive(Debug, Clone)]
pub struct NodeView {
    /// The stored node.
    pub node: Arc<Node>,
    /// True if it currently leads Raft.
    pub leader: bool,
    /// How reachable it is as a manager.
    pub reachability: Reachability,
}

/// `POST /swarm/init`, decoded.
#[derive(Debug, Clone, Default)]
pub struct InitRequest {
    /// `host:port` to listen on for cluster traffic (Docker default `0.0.0.0:2377`).
    pub listen_addr: String,
    /// `host[:port]` or interface to advertise; empty means choose.
    pub advertise_addr: String,
    /// Data path address (recorded).
    pub data_path_addr: String,
    /// VXLAN port; 0 means default.
    pub data_path_port: u32,
    /// Rebuild a one-manager cluster from this node's state.
    pub force_new_cluster: bool,
    /// Cluster spec; fields left at their defaults keep Swarm's defaults.
    pub spec: ClusterSpec,
    /// Initial availability of this node.
    pub availability: Option<Availability>,
    /// Address pools (CIDRs); empty means `10.0.0.0/8`.
    pub default_addr_pool: Vec<String>,
    /// Subnet prefix length; 0 means 24.
    pub subnet_size: u32,
}

/// `POST /swarm/join`, decoded.
#[derive(Debug, Clone, Default)]
pub struct JoinRequest {
    /// `host:port` to listen on for cluster traffic.
    pub listen_addr: String,
    /// Address to advertise; empty means choose.
    pub advertise_addr: String,
    /// Data path address (recorded).
    pub data_path_addr: String,
    /// Managers to contact.
    pub remote_addrs: Vec<String>,
    /// The join token.
    pub join_token: String,
    /// Initial availability of this node.
    pub availability: Option<Availability>,
}

/// A service with its task counts (`?status=true`).
#[derive(Debug, Clone)]
pub struct ServiceView {
    /// The stored service.
    pub service: Arc<Service>,
    /// Running/desired/completed counts.
    pub status: ServiceStatus,
}

/// Which logs to read.
#[derive(Debug, Clone)]
pub enum LogTarget {
    /// Every task of a service (ID, name or ID prefix).
    Service(String),
    /// One task (ID or ID prefix).
    Task(String),
}

/// Options of `GET /services/{id}/logs` and `GET /tasks/{id}/logs`.
#[derive(Debug, Clone, Default)]
pub struct LogOptions {
    /// Keep streaming new lines.
    pub follow: bool,
    /// Only the last N lines of each task (None: all).
    pub tail: Option<usize>,
    /// Only lines at or after this time.
    pub since: Option<Timestamp>,
    /// Only lines before this time.
    pub until: Option<Timestamp>,
    /// Include stdout.
    pub stdout: bool,
    /// Include stderr.
    pub stderr: bool,
}

/// Which output stream a log line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogStream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// One log line of one task.
#[derive(Debug, Clone)]
pub struct LogLine {
    /// When it was written.
    pub timestamp: Timestamp,
    /// stdout or stderr.
    pub stream: LogStream,
    /// The line, without its trailing newline.
    pub line: bytes::Bytes,
    /// Task it came from.
    pub task_id: String,
    /// Node the task ran on.
    pub node_id: String,
    /// Service of the task.
    pub service_id: String,
}

/// The daemon, as the API sees it.
#[async_trait::async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Swarm facts for `/_ping` and `/info`; cheap, never fails.
    fn swarm_status(&self) -> SwarmStatus;
    /// Manager-only `/info` facts; `None` on workers and outside a swarm.
    fn manager_info(&self) -> Option<ManagerInfo>;
    /// Host name of this machine (for `/info` `Name`).
    fn hostname(&self) -> String;

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
    /// `DELETE /containers/{id}?force=`: a running container only with `force` (killed first).
    async fn container_remove(&self, _task_id: &str, _force: bool) -> Result<()> {
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
}

/// What a secret (or config) rotation did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretRotated {
    /// The new secret's ID.
    pub id: String,
    /// Its name (`<base>.v<N>`).
    pub name: String,
    /// The services moved to it.
    pub services: Vec<String>,
}

/// What `POST /containers/{id}/attach` asks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AttachOptions {
    /// The output kept so far first (`logs=1`).
    pub logs: bool,
    /// New output as it comes (`stream=1`).
    pub stream: bool,
    /// Include stdout.
    pub stdout: bool,
    /// Include stderr.
    pub stderr: bool,
    /// Send the client's input to the container's stdin (`stdin=1`; it must have been
    /// created with `OpenStdin`).
    pub stdin: bool,
}

/// A task's address on one network.
#[derive(Debug, Clone)]
pub struct Attachment {
    /// The network.
    pub network: Arc<types::Network>,
    /// The address with its prefix (`10.0.1.3/24`).
    pub address: String,
}

/// A container of this node on a network, as `docker network inspect` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkEndpoint {
    /// The container's ID (the task's or standalone container's, as `/containers` shows it).
    pub container_id: String,
    /// The container's name.
    pub name: String,
    /// The endpoint's ID (64 hex digits, stable for the address's holder on that network).
    pub endpoint_id: String,
    /// Its interface's MAC address (`02:42:…`).
    pub mac_address: String,
    /// Its address with the network's prefix (`10.0.1.3/24`).
    pub ipv4_address: String,
}

fn unimplemented(call: &str) -> rules::Error {
    rules::Error::Unimplemented(format!("{call} is not implemented by this daemon"))
}

/// What `GET /events` streams from: the kept events, then the live ones with no gap or
/// repeat between them.
pub struct EventFeed {
    /// The daemon's kept events, oldest first.
    pub past: Vec<crate::model::EventMessage>,
    /// Events as they happen; it ends when the daemon drops a client that fell behind.
    pub live: BoxStream<'static, crate::model::EventMessage>,
    /// The daemon's clock when the feed was taken (the handler times `until` from it).
    pub now: Timestamp,
}

fn no_exec(key: &str) -> rules::Error {
    rules::Error::Unimplemented(format!("this daemon cannot exec into containers ({key})"))
}

/// What `POST /containers/{id}/exec` asks to run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecCreate {
    /// Program and arguments.
    pub cmd: Vec<String>,
    /// Extra environment, `K=V`.
    pub env: Vec<String>,
    /// User; empty for the container's.
    pub user: String,
    /// Working directory; empty for the container's.
    pub working_dir: String,
    /// Allocate a TTY.
    pub tty: bool,
    /// Attach stdin.
    pub attach_stdin: bool,
    /// Attach stdout.
    pub attach_stdout: bool,
    /// Attach stderr.
    pub attach_stderr: bool,
    /// Detach keys as the client spelled them (`--detach-keys`); empty for ctrl-p ctrl-q.
    pub detach_keys: String,
}

/// An exec instance, as `GET /exec/{id}/json` shows it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecView {
    /// Its ID.
    pub id: String,
    /// The task it runs in.
    pub container_id: String,
    /// Started and not exited.
    pub running: bool,
    /// Exit code once exited.
    pub exit_code: Option<i64>,
    /// Host pid while running (0 otherwise).
    pub pid: i64,
    /// What was asked.
    pub config: ExecCreate,
}

/// The streams of a started exec, for the API to relay over the hijacked connection.
pub struct ExecStreams {
    /// Output is raw (TTY) rather than multiplexed.
    pub tty: bool,
    /// Where the client's input goes, if stdin is attached.
    pub stdin: Option<Box<dyn tokio::io::AsyncWrite + Send + Unpin>>,
    /// The process's stdout (with a TTY, all its output), if attached.
    pub stdout: Option<Box<dyn tokio::io::AsyncRead + Send + Unpin>>,
    /// Its stderr, if attached and without a TTY.
    pub stderr: Option<Box<dyn tokio::io::AsyncRead + Send + Unpin>>,
    /// Resolves once the exit code is recorded, so the client's inspect after the stream
    /// ends sees it.
    pub exited: futures::future::BoxFuture<'static, ()>,
}

/// A pull's progress sink: the handler streams each line to the client as it comes.
pub type ImageProgress = Box<dyn FnMut(image::Progress) + Send>;

/// An upload body (`docker import`, `docker load`), read as it arrives, never buffered whole.
pub type ImageUpload = Box<dyn tokio::io::AsyncRead + Send + Unpin>;

fn no_images() -> image::Error {
    image::Error::Unsupported("this daemon has no image store".into())
}

fn no_containers(what: &str) -> rules::Error {
    rules::Error::Unimplemented(format!("{what}: this daemon runs no containers"))
}
