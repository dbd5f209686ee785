//! Waiting for a service to converge after create, update, scale or rollback, as the docker
//! CLI waits: poll every 200 ms, and once every task is where it should be keep watching for
//! the spec's `UpdateConfig.Monitor` (5 s by default), starting over if a task fails; a paused
//! update or rollback fails the command with the daemon's message. Ctrl-C stops watching, not
//! the service.
//!
//! ```text
//! loop every 200 ms:
//!   GET /services/{id}                            update status, monitor period
//!   GET /tasks?filters={service, _up-to-date}     tasks of the current spec
//!   GET /nodes                                    tasks on down nodes do not count
//!   tracker.observe(…) → lines to show, keep waiting / done / failed
//! ```
//!
//! `summary.rs` reads one poll, `tracker.rs` is the state machine over polls (both pure),
//! `display.rs` shows the lines.

mod display;
mod summary;
mod tracker;

use std::collections::HashSet;
use std::io::Write as _;
use std::time::Duration;

use api::Client;
use api::client::Filters;
use tokio::signal::unix::{SignalKind, signal};

use crate::cli::Console;
use display::Display;
use tracker::{Step, Tracker};

/// Between polls, as the docker CLI.
const POLL: Duration = Duration::from_millis(200);

/// Polls until `service_id` converges and stays so for the monitor period, showing progress
/// unless `quiet`. Fails when an update or rollback pauses, or the service disappears.
pub async fn wait(
    client: &Client,
    console: &mut Console,
    service_id: &str,
    quiet: bool,
) -> anyhow::Result<()> {
    // Registered before the first request, so a Ctrl-C at any point is ours to report.
    let mut interrupt = signal(SignalKind::interrupt())?;
    let filters = Filters::from([
        ("service".to_string(), vec![service_id.to_string()]),
        ("_up-to-date".to_string(), vec!["true".to_string()]),
    ]);
    let mut tracker = Tracker::new(service_id);
    let mut display = Display::new(quiet, console);
    let started = tokio::time::Instant::now();
    loop {
        let service = match crate::cli::lookup::service(client, service_id, false).await {
            Ok(service) => service,
            Err(e) if e.is_not_found() => anyhow::bail!("service {service_id} was removed while converging"),
            Err(e) => return Err(e.into()),
        };
        let tasks = client.tasks(&filters).await?;
        let active: HashSet<String> = client
            .nodes(&Filters::new())
            .await?
            .into_iter()
            .filter(|n| n.status.state != "down")
            .map(|n| n.id)
            .collect();
        let (step, lines) = tracker.observe(started.elapsed(), &service, &tasks, &active);
        display.show(console, &lines)?;
        match step {
            Step::Waiting => {}
            Step::Done => {
                display.finish();
                return Ok(());
            }
            Step::Failed(message) => {
                display.finish();
                anyhow::bail!("{message}");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = interrupt.recv() => {
                display.finish();
                if !quiet {
                    writeln!(console.out, "Operation continuing in background.")?;
                    writeln!(console.out, "Use `shoal service ps {service_id}` to check progress.")?;
                }
                return Ok(());
            }
        }
    }
}
