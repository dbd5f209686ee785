//! How the `shoal` process ends, as the docker CLI's does: usage errors exit 125 with the
//! usage hint, failures print the error chain on one line (`{:#}`, never a backtrace) and exit
//! 1, and a closed stdout (`shoal service ls | head -1`) ends the process the way a Go program
//! ends: by SIGPIPE, without a message.

use std::io::Write as _;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{ArgAction, CommandFactory, FromArgMatches};

/// The docker CLI's exit status for a command line it cannot parse.
pub const USAGE_STATUS: i32 = 125;

/// Parses the process's arguments with Go-style booleans (`--detach=false`); on a usage
/// error prints clap's message and exits as docker would (`usage_status`).
pub fn parse<P: CommandFactory + FromArgMatches>() -> P {
    let command = go_booleans(P::command());
    let parsed = command
        .try_get_matches()
        .and_then(|matches| P::from_arg_matches(&matches));
    match parsed {
        Ok(args) => args,
        Err(e) => {
            let status = usage_status(&e);
            // Printing can only fail on a closed stream; the status says it all then.
            let _ = e.print();
            std::process::exit(status)
        }
    }
}

/// The docker CLI's status for a command line it refuses: 0 for help, 1 for a wrong number
/// of arguments (cobra's argument checks), 125 for a flag it cannot parse (pflag's errors).
pub fn usage_status(error: &clap::Error) -> i32 {
    match error.kind() {
        ErrorKind::DisplayHelp
        | ErrorKind::DisplayVersion
        | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => 0,
        ErrorKind::MissingRequiredArgument | ErrorKind::TooFewValues | ErrorKind::MissingSubcommand => 1,
        ErrorKind::UnknownArgument => {
            let flag = matches!(
                error.get(ContextKind::InvalidArg),
                Some(ContextValue::String(arg)) if arg.starts_with('-')
            );
            if flag { USAGE_STATUS } else { 1 }
        }
        _ => USAGE_STATUS,
    }
}

/// Ends the process for `result`: 0, or the error on stderr and status 1.
pub fn finish(result: anyhow::Result<()>) -> ! {
    let Err(error) = result else { std::process::exit(0) };
    if is_broken_pipe(&error) {
        die_of_sigpipe();
    }
    let _ = writeln!(std::io::stderr(), "{error:#}");
    std::process::exit(1)
}

/// Whether the error is a write to a closed stdout/stderr (not a daemon connection: those
/// surface as API errors, never as a bare `io::Error`).
pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Restores SIGPIPE's default action and raises it, so the shell sees what it sees for any
/// Unix filter whose reader went away (status 141 under bash), and nothing is printed.
#[allow(unsafe_code)]
fn die_of_sigpipe() -> ! {
    // SAFETY: setting a signal's disposition to the default and raising it in our own process
    // has no memory-safety preconditions.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        libc::raise(libc::SIGPIPE);
    }
    std::process::exit(141)
}

/// Every `--flag` that is a plain switch also takes Go's `=true`/`=false` (and `=1`, `=f`, …),
/// as pflag's booleans do: `--detach=false` is a documented docker idiom.
pub fn go_booleans(command: clap::Command) -> clap::Command {
    let names: Vec<String> = command
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    let mut command = command.mut_args(|arg| {
        if matches!(arg.get_action(), ArgAction::SetTrue) {
            arg.action(ArgAction::Set)
                .num_args(0..=1)
                .require_equals(true)
                .default_missing_value("true")
                .default_value("false")
                .value_parser(go_bool)
        } else {
            arg
        }
    });
    for name in names {
        command = command.mut_subcommand(name, go_booleans);
    }
    command
}

/// Go's `strconv.ParseBool`.
pub fn go_bool(text: &str) -> Result<bool, String> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!("strconv.ParseBool: parsing {text:?}: invalid syntax")),
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser, Debug)]
    struct Cli {
        #[arg(short, long)]
        detach: bool,
        #[arg(long)]
        replicas: Option<u64>,
        image: String,
    }

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        go_booleans(Cli::command())
            .try_get_matches_from(args)
            .and_then(|m| Cli::from_arg_matches(&m))
    }

    #[test]
    fn booleans_take_go_values_and_statuses_follow_docker() {
        assert!(parse(&["x", "--detach", "img"]).unwrap().detach);
        assert!(parse(&["x", "-d", "img"]).unwrap().detach);
        assert!(parse(&["x", "--detach=true", "img"]).unwrap().detach);
        assert!(!parse(&["x", "--detach=false", "img"]).unwrap().detach);
        assert!(!parse(&["x", "--detach=0", "img"]).unwrap().detach);
        assert!(!parse(&["x", "img"]).unwrap().detach);
        let status = |args: &[&str]| usage_status(&parse(args).unwrap_err());
        assert_eq!(status(&["x", "--detach=maybe", "img"]), 125);
        assert_eq!(status(&["x", "--bogus", "img"]), 125);
        assert_eq!(status(&["x", "--replicas", "many", "img"]), 125);
        assert_eq!(status(&["x"]), 1);
        assert_eq!(status(&["x", "img", "extra"]), 1);
        assert_eq!(status(&["x", "--help"]), 0);
    }
}
