//! `shoal version` and `shoal info`: the client's facts and the daemon's (`GET /version`,
//! `GET /info`), as text laid out like the docker CLI's or through `--format`.

use std::fmt::Write as _;
use std::io::Write as _;

use api::Client;
use api::model::{Info, Version};
use serde_json::json;

use super::template::{self, Format};
use super::{Connection, Console};

/// Flags of `shoal version`.
#[derive(clap::Args, Debug)]
pub struct VersionArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// Format output using a Go template (`{{.Server.Version}}`) or `json`.
    #[arg(short, long)]
    format: Option<String>,
}

/// Flags of `shoal info`.
#[derive(clap::Args, Debug)]
pub struct InfoArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// Format output using a Go template (`{{.Swarm.LocalNodeState}}`) or `json`.
    #[arg(short, long)]
    format: Option<String>,
}

/// The client's half of `version`, in the shape docker's `{{.Client}}` has.
fn client_facts() -> serde_json::Value {
    json!({
        "Platform": {"Name": ""},
        "Version": env!("CARGO_PKG_VERSION"),
        "ApiVersion": api::version::API_VERSION,
        "DefaultAPIVersion": api::version::API_VERSION,
        "GitCommit": "",
        "GoVersion": "",
        "Os": std::env::consts::OS,
        "Arch": go_arch(),
        "BuildTime": "",
        "Context": "default",
    })
}

/// Go's spelling of the architecture (`amd64`, `arm64`), as docker prints it.
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}

/// Prints the client's and the daemon's versions; the daemon's failure is the command's.
pub async fn version(client: &Client, console: &mut Console, args: VersionArgs) -> anyhow::Result<()> {
    let server = client.version().await;
    let client_json = client_facts();
    match Format::parse(args.format.as_deref()) {
        Format::Template { text, .. } => {
            let server_json = match &server {
                Ok(v) => serde_json::to_value(v)?,
                Err(_) => serde_json::Value::Null,
            };
            let both = json!({"Client": client_json, "Server": server_json});
            write!(console.out, "{}", template::render_each(&text, &[both])?)?;
        }
        Format::Default => write!(
            console.out,
            "{}",
            render_version(&client_json, server.as_ref().ok())
        )?,
    }
    server.map(|_| ()).map_err(Into::into)
}

fn render_version(client: &serde_json::Value, server: Option<&Version>) -> String {
    let field = |key: &str| client[key].as_str().unwrap_or_default().to_string();
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(out, "Client:");
    let _ = writeln!(out, " Version:           {}", field("Version"));
    let _ = writeln!(out, " API version:       {}", field("ApiVersion"));
    let _ = writeln!(out, " OS/Arch:           {}/{}", field("Os"), field("Arch"));
    let _ = writeln!(out, " Context:           {}", field("Context"));
    if let Some(server) = server {
        let _ = writeln!(out, "\nServer: {}", server.platform.name);
        let _ = writeln!(out, " Engine:");
        let _ = writeln!(out, "  Version:          {}", server.version);
        let _ = writeln!(
            out,
            "  API version:      {} (minimum version {})",
            server.api_version, server.min_api_version
        );
        if !server.git_commit.is_empty() {
            let _ = writeln!(out, "  Git commit:       {}", server.git_commit);
        }
        let _ = writeln!(out, "  OS/Arch:          {}/{}", server.os, server.arch);
        let _ = writeln!(out, "  Experimental:     {}", server.experimental);
    }
    out
}

/// Prints what the daemon says about itself and its swarm.
pub async fn info(client: &Client, console: &mut Console, args: InfoArgs) -> anyhow::Result<()> {
    let info = client.info().await?;
    match Format::parse(args.format.as_deref()) {
        Format::Template { text, .. } => {
            let mut value = serde_json::to_value(&info)?;
            if let Some(object) = value.as_object_mut() {
                object.insert(
                    "ClientInfo".into(),
                    json!({"Debug": false, "Version": env!("CARGO_PKG_VERSION"), "Context": "default"}),
                );
            }
            write!(console.out, "{}", template::render_each(&text, &[value])?)?;
        }
        Format::Default => write!(console.out, "{}", render_info(&info))?,
    }
    Ok(())
}

fn render_info(info: &Info) -> String {
    let mut out = String::new();
    let swarm = &info.swarm;
    let _ = writeln!(
        out,
        "Client:\n Version:    {}\n Context:    default",
        env!("CARGO_PKG_VERSION")
    );
    let _ = writeln!(out, "\nServer:");
    let _ = writeln!(out, " Server Version: {}", info.server_version);
    let state = if swarm.local_node_state.is_empty() {
        "inactive"
    } else {
        swarm.local_node_state.as_str()
    };
    let _ = writeln!(out, " Swarm: {state}");
    if state == "active" {
        let _ = writeln!(out, "  NodeID: {}", swarm.node_id);
        let _ = writeln!(out, "  Is Manager: {}", swarm.control_available);
        if let Some(cluster) = &swarm.cluster {
            let _ = writeln!(out, "  ClusterID: {}", cluster.id);
        }
        if swarm.control_available {
            let _ = writeln!(out, "  Managers: {}", swarm.managers);
            let _ = writeln!(out, "  Nodes: {}", swarm.nodes);
        }
        let _ = writeln!(out, "  Node Address: {}", swarm.node_addr);
        if !swarm.remote_managers.is_empty() {
            let _ = writeln!(out, "  Manager Addresses:");
            let mut addrs: Vec<&str> = swarm.remote_managers.iter().map(|m| m.addr.as_str()).collect();
            addrs.sort_unstable();
            for addr in addrs {
                let _ = writeln!(out, "   {addr}");
            }
        }
    }
    let _ = writeln!(out, " Kernel Version: {}", info.kernel_version);
    let _ = writeln!(out, " Operating System: {}", info.operating_system);
    let _ = writeln!(out, " OSType: {}", info.os_type);
    let _ = writeln!(out, " Architecture: {}", info.architecture);
    let _ = writeln!(out, " CPUs: {}", info.ncpu);
    let _ = writeln!(
        out,
        " Total Memory: {}",
        super::output::bytes_size(info.mem_total as f64)
    );
    let _ = writeln!(out, " Name: {}", info.name);
    let _ = writeln!(out, " ID: {}", info.id);
    if !info.labels.is_empty() {
        let _ = writeln!(out, " Labels:");
        for label in &info.labels {
            let _ = writeln!(out, "  {label}");
        }
    }
    for warning in &info.warnings {
        let _ = writeln!(out, "{warning}");
    }
    out
}
