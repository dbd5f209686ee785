//! Showing the tracker's lines: on a terminal, redrawn in place (one `indicatif` line per key,
//! in the order first seen); otherwise one printed line per change, which reads well in a log.

use std::collections::BTreeMap;
use std::io::Write as _;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::tracker::Line;
use crate::cli::Console;

/// Where progress goes.
pub enum Display {
    /// `-q`: nothing.
    Quiet,
    /// Not a terminal: each key's text printed again when it changes.
    Lines(BTreeMap<String, String>),
    /// A terminal: one line per key, redrawn.
    Bars {
        multi: MultiProgress,
        bars: BTreeMap<String, ProgressBar>,
    },
}

/// How a line reads: the overall line is its text, others `key: text` as docker's.
fn render(key: &str, text: &str) -> String {
    if key == "overall" {
        text.to_string()
    } else {
        format!("{key}: {text}")
    }
}

/// Where a key's line goes: rollback notice, overall, slots by number (or node), verify.
fn order(key: &str) -> (u8, u64, &str) {
    match key {
        "rollback" => (0, 0, ""),
        "overall" => (1, 0, ""),
        "verify" => (3, 0, ""),
        slot => {
            let number = slot
                .split('/')
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(u64::MAX);
            (2, number, slot)
        }
    }
}

impl Display {
    /// The display for this console.
    pub fn new(quiet: bool, console: &Console) -> Display {
        if quiet {
            Display::Quiet
        } else if console.terminal {
            Display::Bars {
                multi: MultiProgress::with_draw_target(ProgressDrawTarget::stdout()),
                bars: BTreeMap::new(),
            }
        } else {
            Display::Lines(BTreeMap::new())
        }
    }

    /// Shows the lines of one poll.
    pub fn show(&mut self, console: &mut Console, lines: &[Line]) -> std::io::Result<()> {
        match self {
            Display::Quiet => {}
            Display::Lines(shown) => {
                for (key, text) in lines {
                    if shown.get(key) != Some(text) {
                        writeln!(console.out, "{}", render(key, text))?;
                        shown.insert(key.clone(), text.clone());
                    }
                }
            }
            Display::Bars { multi, bars } => {
                for (key, text) in lines {
                    // Shown in docker's order whatever order keys first appear in.
                    let position = bars.keys().filter(|k| order(k) < order(key)).count();
                    let bar = bars.entry(key.clone()).or_insert_with(|| {
                        let bar = multi.insert(position, ProgressBar::new_spinner());
                        bar.set_style(
                            ProgressStyle::with_template("{msg}")
                                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                        );
                        bar
                    });
                    bar.set_message(render(key, text));
                }
            }
        }
        Ok(())
    }

    /// Leaves the last state on screen.
    pub fn finish(&mut self) {
        if let Display::Bars { bars, .. } = self {
            for bar in bars.values() {
                bar.finish();
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn line(key: &str, text: &str) -> Line {
        (key.to_string(), text.to_string())
    }

    #[test]
    fn off_a_terminal_each_change_is_one_line() {
        let (mut console, out, _) = Console::captured();
        let mut display = Display::new(false, &console);
        display
            .show(
                &mut console,
                &[
                    line("overall", "overall progress: 0 out of 1 tasks"),
                    line("1/1", "starting"),
                ],
            )
            .unwrap();
        display
            .show(
                &mut console,
                &[
                    line("overall", "overall progress: 0 out of 1 tasks"),
                    line("1/1", "running"),
                ],
            )
            .unwrap();
        display.finish();
        assert_eq!(
            out.text(),
            "overall progress: 0 out of 1 tasks\n1/1: starting\n1/1: running\n"
        );
        let (mut console, out, _) = Console::captured();
        let mut quiet = Display::new(true, &console);
        quiet.show(&mut console, &[line("verify", "x")]).unwrap();
        assert_eq!(out.text(), "");
    }

    #[test]
    fn terminal_lines_go_in_dockers_order() {
        let mut keys = vec!["verify", "10/12", "overall", "2/12", "rollback"];
        keys.sort_by_key(|k| order(k));
        assert_eq!(keys, ["rollback", "overall", "2/12", "10/12", "verify"]);
    }
}
