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
mod filters;
mod node;
mod output;
mod service;
mod swarm;
mod task_table;
#[cfg(test)]
mod tests;

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
}

/// Where the daemon is: `-H`/`--host`, else `DOCKER_HOST`, else the default socket.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct Connection {
    /// Daemon socket to connect to: unix:///path, tcp://host:port or host:port.
    #[arg(
        short = 'H',
        long = "host",
        env = "DOCKER_HOST",
        global = true,
        value_name = "HOST"
    )]
    host: Option<String>,
}

impl Connection {
    /// A client for the chosen daemon.
    fn client(&self) -> anyhow::Result<Client> {
        Ok(match self.host.as_deref() {
            Some(host) if !host.is_empty() => Client::new(host)?,
            _ => Client::from_endpoint(Endpoint::Unix(api::default_socket_path())),
        })
    }
}

/// Runs one CLI command, printing to the terminal.
pub async fn run(command: Command) -> anyhow::Result<()> {
    execute(command, &mut Console::stdio()).await
}

/// Runs one CLI command, printing to `console`.
pub async fn execute(command: Command, console: &mut Console) -> anyhow::Result<()> {
    match command {
        Command::Swarm(args) => swarm::run(*args, console).await,
        Command::Node(args) => node::run(*args, console).await,
        Command::Service(args) => service::run(*args, console).await,
    }
}
