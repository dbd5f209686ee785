//! `shoal swarm init`.

use std::io::Write as _;

use api::Client;

use crate::cli::Console;
use api::model::{InitRequest, SwarmSpec};

use super::check_availability;
use super::join_token::print_join_command;
use super::spec_flags::SpecFlags;
use super::unlock::print_unlock_command;

/// Flags of `swarm init`.
#[derive(clap::Args, Debug)]
pub struct InitArgs {
    /// Listen address for cluster traffic (<ip|interface>[:port]).
    #[arg(long, default_value = "0.0.0.0:2377", value_name = "ADDR")]
    listen_addr: String,
    /// Advertised address (<ip|interface>[:port]).
    #[arg(long, value_name = "ADDR")]
    advertise_addr: Option<String>,
    /// Address or interface for data path traffic.
    #[arg(long, value_name = "ADDR")]
    data_path_addr: Option<String>,
    /// UDP port for data path traffic (default 4789).
    #[arg(long, value_name = "PORT")]
    data_path_port: Option<u32>,
    /// Force create a new cluster from current state.
    #[arg(long)]
    force_new_cluster: bool,
    /// Availability of the node (active, pause, drain).
    #[arg(long, default_value = "active")]
    availability: String,
    /// Default address pool in CIDR format (repeatable).
    #[arg(long, value_name = "CIDR")]
    default_addr_pool: Vec<String>,
    /// Default address pool subnet mask length.
    #[arg(long, default_value_t = 24, value_name = "BITS")]
    default_addr_pool_mask_length: u32,
    #[command(flatten)]
    spec: SpecFlags,
}

/// Initialises the swarm and prints how to add workers.
pub async fn run(client: &Client, console: &mut Console, args: InitArgs) -> anyhow::Result<()> {
    let mut spec = SwarmSpec::default();
    args.spec.apply(&mut spec);
    let request = InitRequest {
        listen_addr: args.listen_addr,
        advertise_addr: args.advertise_addr.unwrap_or_default(),
        data_path_addr: args.data_path_addr.unwrap_or_default(),
        data_path_port: args.data_path_port.unwrap_or(0),
        force_new_cluster: args.force_new_cluster,
        spec,
        auto_lock_managers: false,
        availability: check_availability(&args.availability)?,
        default_addr_pool: args.default_addr_pool,
        subnet_size: args.default_addr_pool_mask_length,
    };
    let autolock = request.spec.encryption_config.auto_lock_managers;
    let node_id = client.swarm_init(&request).await?;
    writeln!(
        console.out,
        "Swarm initialized: current node ({node_id}) is now a manager.\n"
    )?;
    print_join_command(client, console, &node_id, true, false).await?;
    writeln!(
        console.out,
        "To add a manager to this swarm, run 'shoal swarm join-token manager' and follow the instructions.\n"
    )?;
    if autolock {
        let key = client.swarm_unlock_key().await?;
        print_unlock_command(console, &key)?;
    }
    Ok(())
}
