//! `shoal workers`: the answering manager's background loops (`GET /shoal/workers`, shoal's
//! own endpoint), one row each with its state, iterations and last error.

use std::io::Write as _;

use api::Client;
use api::model::Worker;

use super::output::table;
use super::{Connection, Console};

/// Flags of `shoal workers`.
#[derive(clap::Args, Debug)]
pub struct WorkersArgs {
    #[command(flatten)]
    pub connection: Connection,
}

/// Prints the manager's workers as a table; a non-manager's refusal is the command's error.
pub async fn run(client: &Client, console: &mut Console) -> anyhow::Result<()> {
    let workers = client.workers().await?;
    write!(console.out, "{}", render(&workers))?;
    Ok(())
}

fn render(workers: &[Worker]) -> String {
    let mut rows = vec![
        ["NAME", "STATE", "ITERATIONS", "ERRORS", "LAST ERROR"]
            .map(String::from)
            .to_vec(),
    ];
    for w in workers {
        rows.push(vec![
            w.name.clone(),
            w.state.clone(),
            w.iterations.to_string(),
            w.errors.to_string(),
            // One line per row: a multi-line error would break the table.
            w.last_error.as_deref().unwrap_or("").replace('\n', " "),
        ]);
    }
    table(&rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_row_per_worker_with_its_last_error_on_one_line() {
        let text = render(&[
            Worker {
                name: "control-loop".into(),
                state: "idle".into(),
                iterations: 12,
                errors: 0,
                last_error: None,
            },
            Worker {
                name: "leader-probe".into(),
                state: "error".into(),
                iterations: 3,
                errors: 2,
                last_error: Some("no leader\nknown".into()),
            },
        ]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(
            lines[0].starts_with("NAME") && lines[0].contains("LAST ERROR"),
            "{text}"
        );
        let cells: Vec<&str> = lines[2].split_whitespace().collect();
        assert_eq!(
            cells,
            ["leader-probe", "error", "3", "2", "no", "leader", "known"],
            "{text}"
        );
        assert_eq!(
            lines[1].split_whitespace().collect::<Vec<_>>(),
            ["control-loop", "idle", "12", "0"]
        );
    }
}
