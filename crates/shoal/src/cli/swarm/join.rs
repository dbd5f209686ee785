//! `shoal swarm join`.

use std::io::Write as _;

use api::Client;

use crate::cli::Console;
use api::model::JoinRequest;

use super::check_availability;

/// Flags of `swarm join`.
#[derive(clap::Args, Debug)]
pub struct JoinArgs {
    /// Token for entry into the swarm.
    #[arg(long)]
    token: String,
    /// Listen address for cluster traffic (<ip|interface>[:port]).
    #[arg(long, default_value = "0.0.0.0:2377", value_name = "ADDR")]
    listen_addr: String,
    /// Advertised address (<ip|interface>[:port]).
    #[arg(long, value_name = "ADDR")]
    advertise_addr: Option<String>,
    /// Address or interface for data path traffic.
    #[arg(long, value_name = "ADDR")]
    data_path_addr: Option<String>,
    /// Availability of the node (active, pause, drain).
    #[arg(long, default_value = "active")]
    availability: String,
    /// A manager of the swarm.
    #[arg(value_name = "HOST:PORT")]
    remote: String,
}

/// Joins the swarm and says in which role.
pub async fn run(client: &Client, console: &mut Console, args: JoinArgs) -> anyhow::Result<()> {
    let request = JoinRequest {
        listen_addr: args.listen_addr,
        advertise_addr: args.advertise_addr.unwrap_or_default(),
        data_path_addr: args.data_path_addr.unwrap_or_default(),
        remote_addrs: vec![args.remote],
        join_token: args.token,
        availability: check_availability(&args.availability)?,
    };
    client.swarm_join(&request).await?;
    let info = client.info().await?;
    if info.swarm.control_available {
        writeln!(console.out, "This node joined a swarm as a manager.")?;
    } else {
        writeln!(console.out, "This node joined a swarm as a worker.")?;
    }
    Ok(())
}
