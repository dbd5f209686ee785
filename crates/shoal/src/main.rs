//! `shoal`: one binary for the node daemon (`shoal agent`) and a docker-like CLI that drives
//! any shoal (or dockerd) API endpoint.

// Tests state their expectations with unwrap; library code keeps the lint.
#![cfg_attr(test, allow(clippy::unwrap_used))]

mod cli;
mod daemon;
mod shim;

// A leader's heap churns through short-lived copies (tree nodes, task versions, messages) from
// many threads; glibc's per-thread arenas kept that memory mapped long after it was freed
// (RSS about twice the live heap in the e2e benchmark). mimalloc returns it.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Swarm-mode container orchestration.
#[derive(clap::Parser)]
#[command(name = "shoal", version, about)]
struct Args {
    #[command(flatten)]
    connection: cli::GlobalConnection,
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Run the node daemon.
    Agent(Box<daemon::AgentArgs>),
    #[command(flatten)]
    Cli(cli::Command),
    /// Supervise one task of the process executor (started by the agent).
    #[command(name = "task-shim", hide = true)]
    TaskShim(shim::ShimArgs),
    /// `docker exec` helper: enters a container and runs one command (the request in the
    /// environment; see agent::executor::oci::enter).
    #[command(name = "exec-shim", hide = true)]
    ExecShim,
}

fn main() {
    // Before anything can create a file: the data dir, its keys and the API socket are the
    // owner's alone. Tasks get 0022 back from their supervisor just before they exec.
    restrict_umask();
    // Usage errors exit 125 and failures 1 with the error on one line, as the docker CLI's.
    let args: Args = cli::exit::parse();
    if let Command::TaskShim(shim) = &args.command {
        std::process::exit(shim::run(shim));
    }
    if let Command::ExecShim = &args.command {
        // Before any runtime or thread: setns into a mount namespace refuses threaded callers.
        std::process::exit(agent::executor::oci::enter::run());
    }
    cli::exit::finish(run(args))
}

fn run(args: Args) -> anyhow::Result<()> {
    if args.connection.host.is_some() && !matches!(args.command, Command::Cli(_)) {
        anyhow::bail!("-H/--host names the daemon a CLI command talks to; it does not apply here");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    match args.command {
        Command::Agent(agent) => runtime.block_on(daemon::run(*agent)),
        Command::Cli(command) => runtime.block_on(cli::run(command, args.connection)),
        // Handled in main, before the runtime exists.
        Command::TaskShim(_) | Command::ExecShim => Ok(()),
    }
}

#[allow(unsafe_code)]
fn restrict_umask() {
    // SAFETY: umask(2) only sets the process's file mode mask; it cannot fail.
    unsafe {
        libc::umask(0o077);
    }
}
