//! The docker-like CLI (`shoal swarm …`, `shoal node …`, `shoal service …`), speaking the Docker Engine API
//! through `api::Client`, so it drives a shoal daemon or a dockerd alike.
//!
//! ```text
//! shoal node ls -H unix:///run/shoal/shoal.sock ─► api::Client ─► GET /v1.47/nodes ─► table
//! ```
//!
//! One verb per file under `swarm/`, `node/` and `service/`; output helpers in `output.rs`,
//! the task table `service ps` and `node ps` share in `task_table.rs`.

mod console;
mod duration;
pub mod exit;
mod filters;
mod lookup;
mod node;
mod output;
mod secret;
mod service;
mod stack;
mod swarm;
mod system;
mod task_table;
mod template;
#[cfg(test)]
mod tests;
mod workers;

use api::Client;
use api::client::Endpoint;
pub use console::Console;

/// CLI commands.
#[derive(clap::Subcommand)]
pub enum Command {
    // Boxed: the arguments are large and the binary's top-level enum holds this one.
    /// Manage the swarm (init, join, leave, join-token, update).
    Swarm(Box<swarm::SwarmArgs>),
    /// Manage swarm nodes (ls, inspect, ps, promote, demote, update, rm).
    Node(Box<node::NodeArgs>),
    /// Manage services (create, ls, ps, inspect, scale, update, rollback, logs, rm).
    Service(Box<service::ServiceArgs>),
    /// Show the client and daemon version information.
    Version(system::VersionArgs),
    /// Display system-wide information.
    Info(system::InfoArgs),
    /// List the manager's background loops (shoal's own; not in the docker CLI).
    Workers(workers::WorkersArgs),
    /// Manage stacks from compose files (deploy, ls, services, ps, rm).
    Stack(Box<stack::StackArgs>),
    /// Rotate a secret (shoal's own; the other verbs are `docker secret`'s).
    Secret(Box<secret::SecretArgs>),
    /// Rotate a config (shoal's own; the other verbs are `docker config`'s).
    Config(Box<secret::SecretArgs>),
}

/// `-H` after a command group (`shoal service ls -H …`): it wins over one given before the
/// group. Short only: after the group `--host` is docker's `service create --host host:ip`.
/// Neither reads `DOCKER_HOST` itself, so that a flag always beats it.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct Connection {
    /// Daemon socket to connect to: unix:///path, tcp://host:port or host:port.
    #[arg(short = 'H', global = true, value_name = "HOST")]
    host: Option<String>,
}

/// `-H`/`--host` before the command group (`shoal -H … service ls`), as docker's global flag.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct GlobalConnection {
    /// Daemon socket to connect to: unix:///path, tcp://host:port or host:port.
    #[arg(short = 'H', long = "host", value_name = "HOST")]
    pub host: Option<String>,
}

/// The daemon to talk to: `-H` after the group, else `-H` before it, else `DOCKER_HOST`,
/// else the default socket.
fn client(group: &Connection, global: &GlobalConnection) -> anyhow::Result<Client> {
    let from_env = std::env::var("DOCKER_HOST").ok();
    let chosen = [group.host.as_deref(), global.host.as_deref(), from_env.as_deref()]
        .into_iter()
        .flatten()
        .find(|host| !host.is_empty());
    Ok(match chosen {
        Some(host) => Client::new(host)?,
        None => Client::from_endpoint(Endpoint::Unix(api::default_socket_path())),
    })
}

/// Runs one CLI command, printing to the terminal.
pub async fn run(command: Command, global: GlobalConnection) -> anyhow::Result<()> {
    execute(command, &global, &mut Console::stdio()).await
}

/// Runs one CLI command, printing to `console`.
pub async fn execute(
    command: Command,
    global: &GlobalConnection,
    console: &mut Console,
) -> anyhow::Result<()> {
    match command {
        Command::Swarm(args) => {
            let client = client(&args.connection, global)?;
            swarm::run(*args, &client, console).await
        }
        Command::Node(args) => {
            let client = client(&args.connection, global)?;
            node::run(*args, &client, console).await
        }
        Command::Service(args) => {
            let client = client(&args.connection, global)?;
            service::run(*args, &client, console).await
        }
        Command::Version(args) => {
            let client = client(&args.connection, global)?;
            system::version(&client, console, args).await
        }
        Command::Info(args) => {
            let client = client(&args.connection, global)?;
            system::info(&client, console, args).await
        }
        Command::Workers(args) => {
            let client = client(&args.connection, global)?;
            workers::run(&client, console).await
        }
        Command::Stack(args) => {
            let client = client(&args.connection, global)?;
            stack::run(*args, &client, console).await
        }
        Command::Secret(args) => {
            let client = client(&args.connection, global)?;
            secret::run(secret::Object::Secret, *args, &client, console).await
        }
        Command::Config(args) => {
            let client = client(&args.connection, global)?;
            secret::run(secret::Object::Config, *args, &client, console).await
        }
    }
}
