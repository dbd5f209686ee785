//! `shoal secret rotate NAME [--file F | -]`: shoal's secret rotation (`POST
//! /secrets/{id}/rotate`, not in the docker CLI). Creates the next version (`<base>.v<N>`)
//! from the file's bytes (stdin with `-`) and rolls every service using the secret onto it,
//! each per its update config. The other secret verbs are docker's (`docker secret …`).

use std::io::{Read as _, Write as _};

use api::Client;
use api::server::rotate::{RotateRequest, RotateResponse};
use base64::Engine as _;

use super::{Connection, Console};

/// Swarm's limit on a secret, plus one byte to tell "too big" from "exactly the limit".
const READ_LIMIT: u64 = types::secret::MAX_SECRET_SIZE as u64 + 1;

/// Flags of `shoal secret`.
#[derive(clap::Args, Debug)]
pub struct SecretArgs {
    #[command(flatten)]
    pub connection: Connection,
    #[command(subcommand)]
    command: SecretCommand,
}

#[derive(clap::Subcommand, Debug)]
enum SecretCommand {
    /// Create the next version of a secret and move every service using it there.
    Rotate {
        /// The secret (name, ID or ID prefix; any of its versions).
        secret: String,
        /// The new data: a file, or `-` for stdin.
        #[arg(short = 'f', long = "file", value_name = "FILE")]
        file: Option<String>,
        /// The new data as a positional argument (docker's `secret create NAME FILE` shape).
        #[arg(value_name = "FILE", conflicts_with = "file")]
        positional: Option<String>,
    },
}

/// Runs `shoal secret …`.
pub async fn run(args: SecretArgs, client: &Client, console: &mut Console) -> anyhow::Result<()> {
    match args.command {
        SecretCommand::Rotate {
            secret,
            file,
            positional,
        } => {
            let source = file
                .or(positional)
                .ok_or_else(|| anyhow::anyhow!("give the new data: --file FILE, or - for stdin"))?;
            let data = read_data(&source)?;
            let path = format!("/secrets/{secret}/rotate");
            let request = RotateRequest {
                data: base64::engine::general_purpose::STANDARD.encode(&data),
            };
            let done: RotateResponse = client.post(&path, &[], &request).await?;
            writeln!(console.out, "{}", done.id)?;
            if done.services.is_empty() {
                writeln!(console.err, "{} created; no service used the secret", done.name)?;
            } else {
                writeln!(
                    console.err,
                    "{} created; updating {}",
                    done.name,
                    done.services.join(", ")
                )?;
            }
            Ok(())
        }
    }
}

/// Reads at most the secret size limit from `source` (`-`: stdin), so a wrong file is
/// refused here rather than read whole into memory.
fn read_data(source: &str) -> anyhow::Result<Vec<u8>> {
    let mut data = Vec::new();
    if source == "-" {
        std::io::stdin().take(READ_LIMIT).read_to_end(&mut data)?;
    } else {
        std::fs::File::open(source)
            .map_err(|e| anyhow::anyhow!("{source}: {e}"))?
            .take(READ_LIMIT)
            .read_to_end(&mut data)?;
    }
    if data.len() as u64 >= READ_LIMIT {
        anyhow::bail!(
            "{source}: a secret must be less than {} bytes",
            types::secret::MAX_SECRET_SIZE
        );
    }
    Ok(data)
}
