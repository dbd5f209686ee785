//! Appends log entries to a task's log files, rotating at a size limit so a chatty task
//! cannot fill the disk: at most `limit` bytes in `log` plus one rotated `log.1`.
//!
//! Synchronous on purpose: the task supervisor (shim) is a plain program with a reader
//! thread per output, and must not need an async runtime to keep a task's logs.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::{LogMessage, LogStream, MAX_LINE, encode};
use types::Timestamp;

/// Name of the current log file inside a task's directory.
pub const CURRENT: &str = "log";
/// Name of the rotated (older) log file.
pub const ROTATED: &str = "log.1";

/// Default size at which `log` is rotated: 8 MiB, so a task keeps at most 16 MiB of logs.
pub const DEFAULT_LIMIT: u64 = 8 * 1024 * 1024;

/// Appends entries to `<dir>/log`, rotating it to `<dir>/log.1` past the size limit.
pub struct LogWriter {
    dir: PathBuf,
    file: File,
    size: u64,
    limit: u64,
}

impl LogWriter {
    /// Opens (or creates) the log in `dir`, appending to what is there.
    pub fn open(dir: &Path, limit: u64) -> std::io::Result<LogWriter> {
        let file = open_append(&dir.join(CURRENT))?;
        let size = file.metadata()?.len();
        Ok(LogWriter {
            dir: dir.to_path_buf(),
            file,
            size,
            limit: limit.max(MAX_LINE as u64),
        })
    }

    /// Writes one line (without its newline), split into entries of at most [`MAX_LINE`].
    pub fn write_line(
        &mut self,
        timestamp: Timestamp,
        stream: LogStream,
        line: &[u8],
    ) -> std::io::Result<()> {
        if line.is_empty() {
            return self.write_entry(&LogMessage {
                timestamp,
                stream,
                line: Vec::new(),
            });
        }
        for chunk in line.chunks(MAX_LINE) {
            self.write_entry(&LogMessage {
                timestamp,
                stream,
                line: chunk.to_vec(),
            })?;
        }
        Ok(())
    }

    /// The log as it stands, opened for reading: the rotated file whole (if there is one),
    /// then the current one up to its length now. Later writes and rotations do not change
    /// what the returned files and lengths cover.
    pub fn snapshot(&self) -> std::io::Result<Vec<(File, u64)>> {
        let mut out = Vec::with_capacity(2);
        match File::open(self.dir.join(ROTATED)) {
            Ok(f) => {
                let len = f.metadata()?.len();
                out.push((f, len));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        out.push((File::open(self.dir.join(CURRENT))?, self.size));
        Ok(out)
    }

    fn write_entry(&mut self, message: &LogMessage) -> std::io::Result<()> {
        let bytes = encode(message);
        if self.size > 0 && self.size + bytes.len() as u64 > self.limit {
            self.rotate()?;
        }
        // One write per entry so a concurrent reader sees whole entries or a torn tail it
        // will re-read, never interleaved halves.
        self.file.write_all(&bytes)?;
        self.size += bytes.len() as u64;
        Ok(())
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        std::fs::rename(self.dir.join(CURRENT), self.dir.join(ROTATED))?;
        self.file = open_append(&self.dir.join(CURRENT))?;
        self.size = 0;
        Ok(())
    }
}

fn open_append(path: &Path) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::{LogOptions, read_dir};

    #[test]
    fn rotates_and_keeps_at_most_two_files() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = LogWriter::open(dir.path(), 0).unwrap();
        // The limit is raised to one maximal line, so 16 KiB per file.
        let line = vec![b'x'; 1000];
        for i in 0..100 {
            w.write_line(Timestamp(i), LogStream::Stdout, &line).unwrap();
        }
        let current = std::fs::metadata(dir.path().join(CURRENT)).unwrap().len();
        let rotated = std::fs::metadata(dir.path().join(ROTATED)).unwrap().len();
        assert!(
            current <= MAX_LINE as u64 && rotated <= MAX_LINE as u64,
            "{current} {rotated}"
        );
        let kept = read_dir(dir.path(), &LogOptions::default()).unwrap();
        assert!(kept.len() < 100 && kept.len() > 10, "{}", kept.len());
        assert_eq!(
            kept.last().unwrap().timestamp,
            Timestamp(99),
            "the newest lines survive"
        );
        assert!(
            kept.windows(2).all(|p| p[0].timestamp < p[1].timestamp),
            "in order across files"
        );
    }

    #[test]
    fn splits_long_lines() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = LogWriter::open(dir.path(), DEFAULT_LIMIT).unwrap();
        w.write_line(Timestamp(1), LogStream::Stderr, &vec![b'y'; MAX_LINE + 10])
            .unwrap();
        let kept = read_dir(dir.path(), &LogOptions::default()).unwrap();
        assert_eq!(
            kept.iter().map(|m| m.line.len()).collect::<Vec<_>>(),
            [MAX_LINE, 10]
        );
    }
}
