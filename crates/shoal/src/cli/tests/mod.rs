//! The CLI end to end, in process: parsed arguments run against the API router on a unix
//! socket over the api crate's fake backend, output captured. The listener is bound before
//! any command runs.

#![allow(clippy::unwrap_used)]

// The fake daemon the api crate's own tests use.
#[path = "../../../../api/tests/common/mod.rs"]
mod common;
mod nodes;
mod services;

use std::path::PathBuf;

use clap::{CommandFactory, FromArgMatches, Parser};
use common::FakeBackend;
use tokio::sync::oneshot;

use super::{Command, Console, execute};

/// The CLI's commands under a test parser (the binary's own parser adds `agent`).
#[derive(Parser)]
struct TestCli {
    #[command(flatten)]
    connection: super::GlobalConnection,
    #[command(subcommand)]
    command: Command,
}

/// What one CLI run printed.
struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

struct Shoal {
    host: String,
}

impl Shoal {
    /// Runs `shoal CMD SUB -H <socket> ARGS`, or `shoal ARGS` when ARGS name a host themselves.
    async fn run(&self, args: &[&str]) -> Run {
        let mut argv = vec!["shoal"];
        argv.extend_from_slice(args);
        if !args.contains(&"-H") {
            // Right after the subcommand: everything after a `service create` IMAGE is its command.
            let at = argv.len().min(3);
            argv.splice(at..at, ["-H", self.host.as_str()]);
        }
        let (mut console, out, err) = Console::captured();
        let parsed = super::exit::go_booleans(TestCli::command())
            .try_get_matches_from(argv)
            .and_then(|m| TestCli::from_arg_matches(&m));
        let result = match parsed {
            Ok(cli) => execute(cli.command, &cli.connection, &mut console).await,
            Err(e) => Err(e.into()),
        };
        let mut stderr = err.text();
        if let Err(e) = &result {
            stderr.push_str(&format!("Error: {e:#}\n"));
        }
        let run = Run {
            ok: result.is_ok(),
            stdout: out.text(),
            stderr,
        };
        eprintln!("$ shoal {}\n{}{}", args.join(" "), run.stdout, run.stderr);
        run
    }

    async fn ok(&self, args: &[&str]) -> Run {
        let run = self.run(args).await;
        assert!(run.ok, "shoal {args:?} failed:\n{}{}", run.stdout, run.stderr);
        run
    }
}

/// Starts the API on a socket over a fresh fake backend.
fn serve(dir: &std::path::Path) -> (Shoal, std::sync::Arc<FakeBackend>, oneshot::Sender<()>) {
    let socket: PathBuf = dir.join("api.sock");
    let backend = FakeBackend::new();
    let listener = api::bind_unix(&socket).unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(api::serve_unix_listener(listener, backend.clone(), async move {
        let _ = stopped.await;
    }));
    (
        Shoal {
            host: format!("unix://{}", socket.display()),
        },
        backend,
        stop,
    )
}
