//! The node daemon: data dir, swarm membership, and the Docker API listeners.
//!
//! ```text
//! shoal agent ─► DataDir::open ─► Swarm::resume ─► API (unix socket [+ TCP]) ─► wait for signal
//!                                   │
//!                                   ├► RunningNode: agent session (+ manager on managers)
//!                                   └► key file locked (autolock): Local::Locked, nothing runs
//!                                      until `swarm unlock` starts the RunningNode
//! ```

mod addr;
mod attach_output;
mod autolock;
mod backend;
mod clock;
mod container_stats;
mod containers;
mod datadir;
mod events;
mod exec;
mod hollow;
mod images;
mod join;
mod keys;
mod log_limit;
mod network_layer;
mod networks;
mod node;
mod node_certs;
mod root_ca;
mod secrets;
mod standalone;
mod storage_watch;
mod swarm;
mod swarm_events;
mod task_attach;
mod task_events;
mod task_logs;
mod task_terminal;
mod tcp_api;
mod volume_events;
mod volumes;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

pub use clock::SystemClock;
use datadir::DataDir;
use swarm::{Local, Swarm};

/// Flags of `shoal agent`.
#[derive(clap::Args, Debug)]
pub struct AgentArgs {
    /// Where the node keeps its identity, certificates and Raft data.
    #[arg(long, env = "SHOAL_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Unix socket of the Docker API.
    #[arg(long)]
    pub api_socket: Option<PathBuf>,
    /// Also serve the Docker API on this TCP address: TLS with the --tls* flags, else plain
    /// HTTP on loopback only (unless --insecure-tcp).
    #[arg(long)]
    pub api_addr: Option<String>,
    /// TLS (or --insecure-tcp) for --api-addr.
    #[command(flatten)]
    pub tls: Box<tcp_api::TlsArgs>,
    /// Start a one-node cluster right away (temporary data dir unless --data-dir is given).
    #[arg(long)]
    pub dev: bool,
    /// Host name to report instead of the system's (several nodes on one machine).
    #[arg(long)]
    pub hostname: Option<String>,
    /// Engine label `key=value` (for `engine.labels.*` constraints); repeatable.
    #[arg(long = "label")]
    pub labels: Vec<String>,
    /// A generic resource this node offers, as dockerd's flag: a count `KIND=N` (`ssd=2`) or
    /// one named unit `KIND=NAME` (`gpu=GPU-UUID`, repeated per unit); repeatable.
    #[arg(long = "node-generic-resource")]
    pub node_generic_resources: Vec<String>,
    /// How tasks run: `oci` (containers from images; the default as root with overlayfs and
    /// cgroups), `process` (native processes; the default otherwise), `docker` (containers on
    /// the local dockerd, see --docker-host) or `sim` (simulated).
    #[arg(long)]
    pub executor: Option<String>,
    /// dockerd's socket for `--executor docker` (not DOCKER_HOST, which usually names shoal).
    #[arg(long, env = "SHOAL_DOCKER_HOST", default_value = agent::executor::docker::DEFAULT_HOST)]
    pub docker_host: String,
    /// Run this many simulated nodes instead of one real one (needs --join-token and
    /// --join-addr); for scale tests and benchmarks.
    #[arg(long, requires_all = ["join_token", "join_addr"])]
    pub hollow: Option<usize>,
    /// Join token for --hollow nodes.
    #[arg(long)]
    pub join_token: Option<String>,
    /// Manager cluster address for --hollow nodes.
    #[arg(long)]
    pub join_addr: Option<String>,
}

/// Which executor runs this node's tasks.
#[derive(Debug, Clone)]
pub enum ExecutorChoice {
    /// Native processes supervised by `shoal task-shim`.
    Process,
    /// Containers run by libcontainer under `shoal task-shim`, images from the node's store.
    Oci(image::ImageStore),
    /// Simulated tasks (hollow nodes, benchmarks).
    Sim,
    /// Containers on the local dockerd at this socket; its Engine endpoints are proxied.
    Docker(String),
}

impl ExecutorChoice {
    /// The executor the `--executor` flag names, or without it `oci` where containers can
    /// run and `process` (with a warning saying why) where they cannot.
    fn choose(flag: Option<&str>, docker_host: &str, dir: &DataDir) -> anyhow::Result<ExecutorChoice> {
        match flag {
            Some("process") => Ok(ExecutorChoice::Process),
            Some("docker") => Ok(ExecutorChoice::Docker(docker_host.to_string())),
            Some("oci") => Ok(ExecutorChoice::Oci(images::open_images(dir)?)),
            Some("sim") => Ok(ExecutorChoice::Sim),
            Some(other) => anyhow::bail!("unknown executor {other:?}: use process, oci, docker or sim"),
            None => match images::oci_unavailable() {
                None => Ok(ExecutorChoice::Oci(images::open_images(dir)?)),
                Some(why) => {
                    tracing::warn!(
                        "running tasks as plain processes (executor process), not containers: {why}; \
                         services need a command and cannot use images"
                    );
                    Ok(ExecutorChoice::Process)
                }
            },
        }
    }

    /// Starts the executor and its worker (re-attaching to tasks left running) and fills the
    /// engine part of the node description from the executor.
    pub async fn worker(
        &self,
        dir: &DataDir,
        node_id: &str,
        advertise: &str,
        clock: Arc<dyn types::Clock>,
        description: types::NodeDescription,
        events: &Arc<events::EventBus>,
    ) -> anyhow::Result<(
        Arc<dyn agent::Tasks>,
        tokio::sync::mpsc::UnboundedReceiver<agent::runner::StatusUpdate>,
        types::NodeDescription,
    )> {
        // The network layer: the kernel's data plane for real tasks, views only for simulated ones.
        let network = match self {
            ExecutorChoice::Sim => network_layer::views_only(dir, node_id),
            _ => network_layer::kernel(dir, node_id, advertise),
        };
        // Secrets and configs: in memory, and on a tmpfs per task under the data dir (what an
        // earlier run left there is swept now). Sim tasks never read files.
        let payloads = match self {
            ExecutorChoice::Sim => None,
            _ => Some(Arc::new(agent::payloads::Payloads::new(
                dir.root().join("payloads"),
            )?)),
        };
        let config = self.config(dir, node_id, events)?;
        let agent::Started {
            link,
            mut description,
        } = agent::start(config, network, payloads, clock, description).await?;
        // The scheduler and service create read what this node can run from this label; it
        // names the executor actually chosen, so an operator's label of the same name loses.
        description
            .engine
            .labels
            .insert(rules::executor::EXECUTOR_LABEL.into(), self.kind().into());
        let (tasks, rx) = task_events::report(events.clone(), link.tasks, link.statuses);
        Ok((tasks, rx, description))
    }

    /// The agent's configuration of the chosen executor, its state under `dir`.
    fn config(
        &self,
        dir: &DataDir,
        node_id: &str,
        events: &Arc<events::EventBus>,
    ) -> anyhow::Result<agent::ExecutorConfig> {
        use agent::executor::{docker, oci, process, sim};
        Ok(match self {
            ExecutorChoice::Process => {
                let shim = process::ShimCommand::current_exe()?;
                agent::ExecutorConfig::Process(process::ProcessConfig::new(dir.root(), shim))
            }
            ExecutorChoice::Oci(store) => {
                let shim = process::ShimCommand::current_exe()?;
                let images: Arc<dyn oci::image::ImageSource> =
                    Arc::new(oci::image_store::StoreImageSource::new(store.clone()));
                let mut config = oci::OciConfig::new(dir.root(), shim, images);
                config.volume_observer = Some(volume_events::observer(events.clone()));
                // Standalone containers use the node's volumes too.
                config.peer_state_dirs = vec![standalone::containers_dir(dir.root())];
                agent::ExecutorConfig::Oci(config)
            }
            ExecutorChoice::Docker(host) => agent::ExecutorConfig::Docker(docker::DockerConfig {
                host: host.clone(),
                node_id: node_id.to_string(),
                labels: BTreeMap::new(),
            }),
            ExecutorChoice::Sim => agent::ExecutorConfig::Sim(sim::SimConfig::default()),
        })
    }

    /// The executor's name, as `--executor` spells it.
    pub fn kind(&self) -> &'static str {
        match self {
            ExecutorChoice::Process => "process",
            ExecutorChoice::Oci(_) => "oci",
            ExecutorChoice::Docker(_) => "docker",
            ExecutorChoice::Sim => "sim",
        }
    }
}

fn default_data_dir() -> PathBuf {
    // Root keeps state where system daemons do; anyone else under their own data home.
    if is_root() {
        return PathBuf::from("/var/lib/shoal");
    }
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    base.join("shoal")
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false)
}

/// The node's engine labels: `--label`s, and the `--node-generic-resource`s under the label
/// where the managers read them (`types::generic::NODE_LABEL`).
fn engine_labels(labels: &[String], generic: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut out = parse_labels(labels)?;
    anyhow::ensure!(
        !out.contains_key(types::generic::NODE_LABEL),
        "label {} is shoal's own: use --node-generic-resource",
        types::generic::NODE_LABEL
    );
    let resources = types::generic::parse(generic)?;
    if !resources.is_empty() {
        out.insert(
            types::generic::NODE_LABEL.into(),
            types::generic::to_docker_json(&resources).to_string(),
        );
    }
    Ok(out)
}

fn parse_labels(labels: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    labels
        .iter()
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap_or((l.as_str(), ""));
            anyhow::ensure!(!k.is_empty(), "invalid label {l:?}: expected key=value");
            Ok((k.to_string(), v.to_string()))
        })
        .collect()
}

/// Runs the daemon until SIGINT, SIGTERM or SIGHUP.
pub async fn run(args: AgentArgs) -> anyhow::Result<()> {
    init_logging();
    if let (Some(count), Some(token), Some(addr)) = (args.hollow, &args.join_token, &args.join_addr) {
        let prefix = args.hostname.clone().unwrap_or_else(|| "hollow".into());
        return hollow::run(count, &prefix, token, addr, Arc::new(SystemClock)).await;
    }
    let started = tokio::time::Instant::now();
    // Removed when the daemon returns; what runs from it is ended first (`Swarm::discard`).
    let mut temp_dir = None;
    let data_dir = match (&args.data_dir, args.dev) {
        (Some(dir), _) => dir.clone(),
        (None, true) => {
            let dir = tempfile::Builder::new()
                .prefix("shoal-dev-")
                .tempdir()
                .context("creating a temporary data dir")?;
            let path = dir.path().to_path_buf();
            temp_dir = Some(dir);
            path
        }
        (None, false) => default_data_dir(),
    };
    // Flags are checked before anything starts, so a bad combination changes nothing.
    let tcp_mode = tcp_api::mode(&args.tls)?;
    anyhow::ensure!(
        args.api_addr.is_some() || args.dev || !tcp_api::any_given(&args.tls),
        "--tls, --tlsverify, --tlscacert, --tlscert, --tlskey and --insecure-tcp apply to --api-addr, which is not given"
    );
    let tcp_tls = tcp_api::server_config(&tcp_mode)?;
    let dir = DataDir::open(&data_dir)?;
    let executor = ExecutorChoice::choose(args.executor.as_deref(), &args.docker_host, &dir)?;
    // On a docker node the Engine's own endpoints are that dockerd's (api/src/server/proxy.rs).
    let engine = match &executor {
        ExecutorChoice::Docker(host) => {
            let socket = std::path::Path::new(host.strip_prefix("unix://").unwrap_or(host));
            let proxy = api::server::proxy::EngineProxy::connect(socket)
                .await
                .with_context(|| format!("--executor docker needs dockerd at {host}"))?;
            Some(Arc::new(proxy))
        }
        _ => None,
    };
    let swarm = Arc::new(Swarm::new(
        dir,
        args.hostname.clone(),
        engine_labels(&args.labels, &args.node_generic_resources)?,
        Arc::new(SystemClock),
        executor,
    ));
    swarm.open_images()?;
    swarm.open_standalone().await;
    swarm.resume().await?;

    let shutdown = CancellationToken::new();
    let socket = args.api_socket.clone().unwrap_or_else(api::default_socket_path);
    let backend: Arc<dyn api::Backend> = swarm.clone();
    socket_dir(&socket)?;
    let unix = api::server::bind_unix(&socket)
        .with_context(|| format!("binding API socket {}", socket.display()))?;
    tokio::spawn(api::server::serve_unix_listener_with_engine(
        unix,
        backend.clone(),
        engine.clone(),
        shutdown.clone().cancelled_owned(),
    ));
    let tcp_addr = match (&args.api_addr, args.dev) {
        (Some(addr), _) => Some(addr.clone()),
        (None, true) => Some("127.0.0.1:2375".to_string()),
        (None, false) => None,
    };
    let mut tcp_url = None;
    if let Some(addr) = tcp_addr {
        let listener = match tcp_api::bind(&addr, &tcp_mode).await {
            Ok(l) => l,
            // In dev mode a busy default port is not worth failing over: take any port.
            Err(_) if args.dev && args.api_addr.is_none() => {
                let l = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
                tcp_api::check_bound(&l, &tcp_mode)?;
                l
            }
            Err(e) => return Err(e),
        };
        tcp_url = Some(format!("tcp://{}", listener.local_addr()?));
        let stop = shutdown.clone().cancelled_owned();
        match tcp_tls {
            Some(tls) => {
                if engine.is_some() {
                    tracing::warn!(
                        "the TLS endpoint does not proxy the Engine's container endpoints to dockerd; use the unix socket"
                    );
                }
                tokio::spawn(api::server::serve_tls(listener, tls, backend.clone(), stop))
            }
            None => tokio::spawn(api::server::serve_tcp_with_engine(
                listener,
                backend.clone(),
                engine.clone(),
                stop,
            )),
        };
    }
    tracing::info!(socket = %socket.display(), tcp = ?tcp_url, data_dir = %data_dir.display(), "shoal agent listening");

    if args.dev {
        if let Local::Inactive = swarm.local() {
            let port = free_port(2377)?;
            let listen = format!("127.0.0.1:{port}");
            swarm
                .init(api::InitRequest {
                    listen_addr: listen.clone(),
                    advertise_addr: listen,
                    ..Default::default()
                })
                .await
                .map_err(|e| anyhow::anyhow!("initialising the dev cluster: {e}"))?;
        }
        println!(
            "shoal dev cluster ready in {} ms (data dir {})",
            started.elapsed().as_millis(),
            data_dir.display()
        );
        println!("export DOCKER_HOST=unix://{}", socket.display());
        if let Some(url) = &tcp_url {
            println!("# or: export DOCKER_HOST={url}");
        }
    }

    wait_for_signal().await;
    if temp_dir.is_some() {
        tracing::info!("shutting down: removing the dev cluster's containers, tasks and networks");
        swarm.discard().await;
    } else {
        tracing::info!("shutting down");
    }
    shutdown.cancel();
    swarm.shutdown().await;
    let _ = std::fs::remove_file(&socket);
    drop(temp_dir);
    Ok(())
}

/// Creates the socket's directory when missing, 0755 as before the daemon's umask became
/// 0077: the socket itself (0660, owner and group) decides who may connect, so the group
/// must be able to reach it.
fn socket_dir(socket: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let Some(parent) = socket.parent().filter(|p| !p.as_os_str().is_empty()) else {
        return Ok(());
    };
    if parent.exists() {
        return Ok(());
    }
    std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    std::fs::set_permissions(parent, std::fs::Permissions::from_mode(0o755))
        .with_context(|| format!("setting permissions of {}", parent.display()))
}

/// `preferred` if nothing listens there, else a free port from the kernel.
fn free_port(preferred: u16) -> anyhow::Result<u16> {
    if std::net::TcpListener::bind(("127.0.0.1", preferred)).is_ok() {
        return Ok(preferred);
    }
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// SIGINT, SIGTERM or SIGHUP. SIGHUP's default action would kill the daemon on the spot: a
/// dev cluster whose terminal closes would leave its containers running and its temporary
/// data dir behind, where Ctrl-C removes both.
async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut hangup)) = (signal(SignalKind::terminate()), signal(SignalKind::hangup()))
    else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
        _ = hangup.recv() => {}
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SHOAL_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("info,openraft=warn,h2=warn,tower=warn,hyper=warn")
    });
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::{Layer, filter::FilterExt};
    // Colour codes only for a person at a terminal, never into a log file or a pipe.
    let output = tracing_subscriber::fmt::layer()
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .with_filter(filter.and(log_limit::RateLimit::default()));
    let _ = tracing_subscriber::registry().with(output).try_init();
}

#[cfg(test)]
mod tests;
