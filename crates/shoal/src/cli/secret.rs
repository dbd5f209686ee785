//! `shoal secret rotate NAME [--file F | -]` and `shoal config rotate NAME [--file F | -]`:
//! shoal's rotation (`POST /secrets/{id}/rotate`, `POST /configs/{id}/rotate`, not in the
//! docker CLI). Creates the next version (`<base>.v<N>`) from the file's bytes (stdin with
//! `-`) and rolls every service using the secret or config onto it, each per its update
//! config. The other verbs are docker's (`docker secret …`, `docker config …`).

use std::io::{Read as _, Write as _};

use api::Client;
use api::server::rotate::{RotateRequest, RotateResponse};
use base64::Engine as _;

use super::{Connection, Console};

/// Flags of `shoal secret` and of `shoal config`.
#[derive(clap::Args, Debug)]
pub struct SecretArgs {
    #[command(flatten)]
    pub connection: Connection,
    #[command(subcommand)]
    command: SecretCommand,
}

#[derive(clap::Subcommand, Debug)]
enum SecretCommand {
    /// Create the next version and move every service using it there.
    Rotate {
        /// The secret or config (name, ID or ID prefix; any of its versions).
        secret: String,
        /// The new data: a file, or `-` for stdin.
        #[arg(short = 'f', long = "file", value_name = "FILE")]
        file: Option<String>,
        /// The new data as a positional argument (docker's `secret create NAME FILE` shape).
        #[arg(value_name = "FILE", conflicts_with = "file")]
        positional: Option<String>,
    },
}

/// Which object a `rotate` is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Object {
    /// `shoal secret`.
    Secret,
    /// `shoal config`.
    Config,
}

impl Object {
    fn word(self) -> &'static str {
        match self {
            Object::Secret => "secret",
            Object::Config => "config",
        }
    }

    /// Swarm's limit on the object's data.
    fn limit(self) -> usize {
        match self {
            Object::Secret => types::secret::MAX_SECRET_SIZE,
            Object::Config => types::secret::MAX_CONFIG_SIZE,
        }
    }
}

/// Runs `shoal secret …` (or `shoal config …` with `Object::Config`).
pub async fn run(
    object: Object,
    args: SecretArgs,
    client: &Client,
    console: &mut Console,
) -> anyhow::Result<()> {
    match args.command {
        SecretCommand::Rotate {
            secret,
            file,
            positional,
        } => {
            let source = file
                .or(positional)
                .ok_or_else(|| anyhow::anyhow!("give the new data: --file FILE, or - for stdin"))?;
            let data = read_data(&source, object)?;
            let path = format!("/{}s/{secret}/rotate", object.word());
            let request = RotateRequest {
                data: base64::engine::general_purpose::STANDARD.encode(&data),
            };
            let done: RotateResponse = client.post(&path, &[], &request).await?;
            writeln!(console.out, "{}", done.id)?;
            if done.services.is_empty() {
                writeln!(
                    console.err,
                    "{} created; no service used the {}",
                    done.name,
                    object.word()
                )?;
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

/// Reads at most the object's size limit from `source` (`-`: stdin), so a wrong file is
/// refused here rather than read whole into memory.
fn read_data(source: &str, object: Object) -> anyhow::Result<Vec<u8>> {
    // One byte over the limit tells "too big" from "exactly the limit".
    let read_limit = object.limit() as u64 + 1;
    let mut data = Vec::new();
    if source == "-" {
        std::io::stdin().take(read_limit).read_to_end(&mut data)?;
    } else {
        std::fs::File::open(source)
            .map_err(|e| anyhow::anyhow!("{source}: {e}"))?
            .take(read_limit)
            .read_to_end(&mut data)?;
    }
    if data.len() as u64 >= read_limit {
        anyhow::bail!(
            "{source}: a {} must be less than {} bytes",
            object.word(),
            object.limit()
        );
    }
    Ok(data)
}
