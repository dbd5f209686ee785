//! `shoal task-shim <dir>`: the per-task supervisor of the process executor. The agent starts
//! one per task; it runs the task, captures its output and records its exit, and outlives the
//! agent so tasks survive agent restarts. Not for people: the subcommand is hidden.

use std::path::PathBuf;
use std::sync::Arc;

/// Arguments of `shoal task-shim`.
#[derive(clap::Args, Debug)]
pub struct ShimArgs {
    /// The task's state directory (holds spec.json).
    pub dir: PathBuf,
}

/// Supervises the task and returns the process exit code. Runs before any async runtime is
/// built: the supervisor is a plain threaded program.
pub fn run(args: &ShimArgs) -> i32 {
    agent::executor::process::shim::run(&args.dir, Arc::new(crate::daemon::SystemClock))
}
