//! `shoal swarm unlock` and `shoal swarm unlock-key [-q] [--rotate]`, as the docker CLI does
//! them: unlock asks only a locked node for the key (read from stdin), and rotation needs
//! autolock on.

use std::io::{BufRead as _, Write as _};

use api::Client;

use crate::cli::Console;

/// Longest key line read from stdin.
const MAX_KEY_LINE: u64 = 4096;

/// Flags of `swarm unlock-key`.
#[derive(clap::Args, Debug)]
pub struct UnlockKeyArgs {
    /// Only display the key.
    #[arg(short, long)]
    quiet: bool,
    /// Rotate the unlock key first.
    #[arg(long)]
    rotate: bool,
}

/// Prints where the unlock key is needed, and the key.
pub fn print_unlock_command(console: &mut Console, key: &str) -> anyhow::Result<()> {
    writeln!(
        console.out,
        "To unlock a swarm manager after it restarts, run `shoal swarm unlock` (or `docker swarm unlock`)\n\
         and give it this key:\n\n    {key}\n\n\
         Keep this key somewhere safe: without it a restarted manager cannot start."
    )?;
    Ok(())
}

/// Prints (and optionally rotates) the unlock key.
pub async fn unlock_key(client: &Client, console: &mut Console, args: UnlockKeyArgs) -> anyhow::Result<()> {
    if args.rotate {
        let swarm = client.swarm_inspect().await?;
        if !swarm.cluster.spec.encryption_config.auto_lock_managers {
            anyhow::bail!("cannot rotate because autolock is not turned on");
        }
        client
            .swarm_rotate_unlock_key(swarm.cluster.version.index, &swarm.cluster.spec)
            .await?;
        if !args.quiet {
            writeln!(console.out, "Successfully rotated manager unlock key.\n")?;
        }
    }
    let key = client.swarm_unlock_key().await?;
    if key.is_empty() {
        anyhow::bail!("no unlock key is set");
    }
    if args.quiet {
        writeln!(console.out, "{key}")?;
        return Ok(());
    }
    print_unlock_command(console, &key)
}

/// Unlocks this node with a key read from stdin, if it is locked.
pub async fn unlock(client: &Client, console: &mut Console) -> anyhow::Result<()> {
    let info = client.info().await?;
    match info.swarm.local_node_state.as_str() {
        "locked" => {}
        "inactive" => anyhow::bail!("This node is not part of a swarm"),
        _ => anyhow::bail!("swarm is not locked"),
    }
    let stdin = std::io::stdin();
    if std::io::IsTerminal::is_terminal(&stdin) {
        write!(console.out, "Enter unlock key: ")?;
        console.out.flush()?;
    }
    // One line, bounded: a key is 53 characters, whatever is piped in.
    let mut line = String::new();
    std::io::Read::take(stdin.lock(), MAX_KEY_LINE).read_line(&mut line)?;
    client.swarm_unlock(line.trim()).await?;
    Ok(())
}
