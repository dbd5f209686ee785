//! Where commands print: the terminal, or in-memory buffers that tests read back.

use std::io::{IsTerminal as _, Write};
#[cfg(test)]
use std::sync::{Arc, Mutex};

/// The two output streams of a command.
pub struct Console {
    /// Results (`stdout`).
    pub out: Box<dyn Write + Send>,
    /// Warnings (`stderr`).
    pub err: Box<dyn Write + Send>,
    /// `out` is a terminal: progress is redrawn in place instead of printed line by line.
    pub terminal: bool,
}

impl Console {
    /// The process's stdout and stderr.
    pub fn stdio() -> Console {
        Console {
            out: Box::new(std::io::stdout()),
            err: Box::new(std::io::stderr()),
            terminal: std::io::stdout().is_terminal(),
        }
    }

    /// Buffers instead of the terminal; the returned handles read what was printed.
    #[cfg(test)]
    pub fn captured() -> (Console, Captured, Captured) {
        let (out, err) = (Captured::default(), Captured::default());
        (
            Console {
                out: Box::new(out.clone()),
                err: Box::new(err.clone()),
                terminal: false,
            },
            out,
            err,
        )
    }
}

/// A shared in-memory stream (tests only).
#[derive(Clone, Default)]
#[cfg(test)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

#[cfg(test)]
impl Captured {
    /// Everything written so far.
    pub fn text(&self) -> String {
        let bytes = self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

#[cfg(test)]
impl Write for Captured {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
