//! `shoal swarm join-token [-q] [--rotate] worker|manager`, with docker's output.

use std::io::Write as _;

use api::Client;

use crate::cli::Console;

/// Flags of `swarm join-token`.
#[derive(clap::Args, Debug)]
pub struct JoinTokenArgs {
    /// Only display the token.
    #[arg(short, long)]
    quiet: bool,
    /// Rotate the join token first.
    #[arg(long)]
    rotate: bool,
    /// `worker` or `manager`.
    role: String,
}

/// Prints (and optionally rotates) a join token.
pub async fn run(client: &Client, console: &mut Console, args: JoinTokenArgs) -> anyhow::Result<()> {
    let worker = args.role == "worker";
    let manager = args.role == "manager";
    if !worker && !manager {
        anyhow::bail!("unknown role {}", args.role);
    }
    if args.rotate {
        let swarm = client.swarm_inspect().await?;
        client
            .swarm_update(swarm.cluster.version.index, &swarm.cluster.spec, worker, manager)
            .await?;
        if !args.quiet {
            writeln!(console.out, "Successfully rotated {} join token.\n", args.role)?;
        }
    }
    // Read again: a rotation just changed the tokens.
    let swarm = client.swarm_inspect().await?;
    if args.quiet {
        let token = if worker {
            &swarm.join_tokens.worker
        } else {
            &swarm.join_tokens.manager
        };
        writeln!(console.out, "{token}")?;
        return Ok(());
    }
    let info = client.info().await?;
    print_join_command(client, console, &info.swarm.node_id, worker, manager).await
}

/// Prints the command that joins a node, naming this node's manager address.
pub async fn print_join_command(
    client: &Client,
    console: &mut Console,
    node_id: &str,
    worker: bool,
    manager: bool,
) -> anyhow::Result<()> {
    let node = client.node(node_id).await?;
    let swarm = client.swarm_inspect().await?;
    let Some(status) = node.manager_status else {
        return Ok(());
    };
    if worker {
        writeln!(
            console.out,
            "To add a worker to this swarm, run the following command:\n\n    shoal swarm join --token {} {}\n",
            swarm.join_tokens.worker, status.addr
        )?;
    }
    if manager {
        writeln!(
            console.out,
            "To add a manager to this swarm, run the following command:\n\n    shoal swarm join --token {} {}\n",
            swarm.join_tokens.manager, status.addr
        )?;
    }
    Ok(())
}
