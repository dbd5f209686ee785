//! Task logs: stdout/stderr lines with timestamps, kept by the executor, read by the manager's
//! log broker later (`docker service logs`, `docker logs`).
//!
//! ```text
//!  task stdout ─┐                      ┌─► read(tail, since, until)   (backlog)
//!  task stderr ─┴─► LogWriter ─► files ┴─► follow(...)                (backlog, then new lines
//!                   (rotates at a size limit: `log`, `log.1`)           until the task ends)
//! ```
//!
//! The on-disk format is one line per entry, `<unix nanos> <o|e> <bytes>\n`: trivially
//! appendable by the task supervisor without any shared state, cheap to scan, and a torn
//! last line (a crash mid-write) only loses that line. Payload bytes are kept as written
//! (not necessarily UTF-8); a line longer than [`MAX_LINE`] is split into several entries,
//! as Docker's json-file driver does at 16 KiB.

pub mod file;
pub mod memory;
pub mod writer;

use std::pin::Pin;

use futures::Stream;
use types::Timestamp;

pub use file::{follow_dir, read_dir};
pub use memory::MemoryLog;
pub use writer::LogWriter;

/// Longest payload of one entry; longer lines are split.
pub const MAX_LINE: usize = 16 * 1024;

/// Which output a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LogStream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

impl LogStream {
    /// The tag in the file format.
    fn tag(self) -> u8 {
        match self {
            LogStream::Stdout => b'o',
            LogStream::Stderr => b'e',
        }
    }
}

/// One captured line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogMessage {
    /// When the supervisor read it.
    pub timestamp: Timestamp,
    /// stdout or stderr.
    pub stream: LogStream,
    /// The bytes, without the trailing newline.
    pub line: Vec<u8>,
}

impl LogMessage {
    /// The line as text, with invalid UTF-8 replaced.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.line).into_owned()
    }
}

/// What to read. The default reads everything there is, both streams, without following.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogOptions {
    /// Only the last N lines of the backlog (after `since`/`until` filtering).
    pub tail: Option<usize>,
    /// Only lines at or after this time.
    pub since: Option<Timestamp>,
    /// Only lines before this time (the backlog only; following ignores it).
    pub until: Option<Timestamp>,
    /// After the backlog, stream new lines until the task ends or the reader drops the stream.
    pub follow: bool,
    /// Include stdout.
    pub stdout: bool,
    /// Include stderr.
    pub stderr: bool,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            tail: None,
            since: None,
            until: None,
            follow: false,
            stdout: true,
            stderr: true,
        }
    }
}

impl LogOptions {
    /// True when a line passes the stream and time filters (not `tail`).
    pub fn admits(&self, message: &LogMessage) -> bool {
        let stream_ok = match message.stream {
            LogStream::Stdout => self.stdout,
            LogStream::Stderr => self.stderr,
        };
        stream_ok && self.since.is_none_or(|s| message.timestamp >= s)
    }

    /// Applies the backlog filters, `until` and `tail` included.
    pub fn select(&self, messages: Vec<LogMessage>) -> Vec<LogMessage> {
        let mut kept: Vec<LogMessage> = messages
            .into_iter()
            .filter(|m| self.admits(m) && self.until.is_none_or(|u| m.timestamp < u))
            .collect();
        if let Some(n) = self.tail {
            let skip = kept.len().saturating_sub(n);
            kept.drain(..skip);
        }
        kept
    }
}

/// A stream of log lines; ends when the backlog is read (or, when following, the task ends).
pub type LogLines = Pin<Box<dyn Stream<Item = crate::executor::Result<LogMessage>> + Send>>;

/// Encodes one entry in the file format (including the newline).
pub(crate) fn encode(message: &LogMessage) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.line.len() + 24);
    out.extend_from_slice(message.timestamp.0.to_string().as_bytes());
    out.push(b' ');
    out.push(message.stream.tag());
    out.push(b' ');
    out.extend_from_slice(&message.line);
    out.push(b'\n');
    out
}

/// Decodes one entry (without its newline); `None` for a malformed (e.g. torn) line.
pub(crate) fn decode(entry: &[u8]) -> Option<LogMessage> {
    let space = entry.iter().position(|&b| b == b' ')?;
    let nanos: i64 = std::str::from_utf8(&entry[..space]).ok()?.parse().ok()?;
    let rest = &entry[space + 1..];
    let stream = match rest.first()? {
        b'o' => LogStream::Stdout,
        b'e' => LogStream::Stderr,
        _ => return None,
    };
    if rest.get(1) != Some(&b' ') {
        return None;
    }
    Some(LogMessage {
        timestamp: Timestamp(nanos),
        stream,
        line: rest[2..].to_vec(),
    })
}

/// Decodes every complete entry in `bytes`.
pub(crate) fn decode_all(bytes: &[u8]) -> Vec<LogMessage> {
    bytes
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .filter_map(decode)
        .collect()
}

/// A stream over messages already in memory.
pub(crate) fn from_vec(messages: Vec<LogMessage>) -> LogLines {
    Box::pin(futures::stream::iter(messages.into_iter().map(Ok)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(ts: i64, stream: LogStream, line: &str) -> LogMessage {
        LogMessage {
            timestamp: Timestamp(ts),
            stream,
            line: line.as_bytes().to_vec(),
        }
    }

    #[test]
    fn entries_round_trip_and_torn_lines_are_skipped() {
        let m = msg(42, LogStream::Stderr, "hello world");
        let bytes = encode(&m);
        assert_eq!(bytes, b"42 e hello world\n");
        assert_eq!(decode(&bytes[..bytes.len() - 1]), Some(m.clone()));
        let mut file = bytes.clone();
        file.extend_from_slice(b"43 o second\n44 x bad\n45");
        let all = decode_all(&file);
        assert_eq!(all.len(), 2);
        assert_eq!(all[1].text(), "second");
        assert_eq!(decode(b"44 o"), None);
        assert_eq!(decode(b"44 o ").map(|m| m.line), Some(vec![]));
    }

    #[test]
    fn options_filter_streams_time_and_tail() {
        let lines = vec![
            msg(1, LogStream::Stdout, "a"),
            msg(2, LogStream::Stderr, "b"),
            msg(3, LogStream::Stdout, "c"),
            msg(4, LogStream::Stdout, "d"),
        ];
        let all = LogOptions::default();
        assert_eq!(all.select(lines.clone()).len(), 4);
        let tail = LogOptions {
            tail: Some(2),
            ..LogOptions::default()
        };
        assert_eq!(
            tail.select(lines.clone())
                .iter()
                .map(LogMessage::text)
                .collect::<Vec<_>>(),
            ["c", "d"]
        );
        let since = LogOptions {
            since: Some(Timestamp(2)),
            until: Some(Timestamp(4)),
            ..LogOptions::default()
        };
        assert_eq!(
            since
                .select(lines.clone())
                .iter()
                .map(LogMessage::text)
                .collect::<Vec<_>>(),
            ["b", "c"]
        );
        let stderr = LogOptions {
            stdout: false,
            ..LogOptions::default()
        };
        assert_eq!(
            stderr
                .select(lines)
                .iter()
                .map(LogMessage::text)
                .collect::<Vec<_>>(),
            ["b"]
        );
    }
}
