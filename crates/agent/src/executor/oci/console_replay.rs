//! The whole kept output of a container's terminal, rebuilt from its log for an attach with
//! `logs=1` (dockerd replays its log file the same way): the log's entries are the terminal's
//! lines, each ended by a newline the log does not store, except an entry cut at
//! [`MAX_LINE`] (the line went on) and the last partial line logged when the terminal closed.
//!
//! Streamed: entries are read one at a time with a bounded buffer from the rotated file and
//! then the current one up to the length it had when the client was registered (the
//! supervisor's snapshot, `console.rs`), so memory stays at one entry whatever the log's size.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};

use crate::logs::{MAX_LINE, decode};

/// Longest entry read: a maximal line and its header (timestamp, stream tag, spaces).
const MAX_ENTRY: u64 = MAX_LINE as u64 + 64;

/// Turns log entries back into the terminal's bytes, holding back each newline until the
/// next entry (or the end) says whether it was there.
#[derive(Debug, Default)]
pub struct Rebuild {
    newline_owed: bool,
}

impl Rebuild {
    /// The bytes to send for the next entry's payload.
    pub fn entry(&mut self, payload: &[u8], out: &mut Vec<u8>) {
        if std::mem::take(&mut self.newline_owed) {
            out.push(b'\n');
        }
        out.extend_from_slice(payload);
        // A payload of MAX_LINE was cut there by the supervisor: the line went on.
        self.newline_owed = payload.len() != MAX_LINE;
    }

    /// The bytes that end the replay: the last newline, unless the last entry was the
    /// partial line logged when the terminal closed.
    pub fn finish(self, unterminated_tail: bool, out: &mut Vec<u8>) {
        if self.newline_owed && !unterminated_tail {
            out.push(b'\n');
        }
    }
}

/// A log file to replay and how many of its bytes belong to the snapshot.
pub struct Part {
    /// The open file (opened at the snapshot, so a later rotation does not move it).
    pub file: File,
    /// Bytes of it to read.
    pub len: u64,
}

/// Writes the terminal bytes of `parts` (in order) to `out`; `unterminated_tail` as in
/// [`Rebuild::finish`], when the terminal had closed at the snapshot.
pub fn replay(parts: Vec<Part>, unterminated_tail: bool, out: &mut impl Write) -> std::io::Result<()> {
    let mut rebuild = Rebuild::default();
    let mut entry = Vec::with_capacity(4096);
    let mut bytes = Vec::with_capacity(4096);
    for part in parts {
        let mut reader = BufReader::new(part.file.take(part.len));
        loop {
            entry.clear();
            let n = (&mut reader).take(MAX_ENTRY).read_until(b'\n', &mut entry)?;
            if n == 0 {
                break;
            }
            if entry.last() != Some(&b'\n') {
                if n as u64 == MAX_ENTRY {
                    // Not an entry of ours: skip to the next newline, a bounded read at a time.
                    skip_line(&mut reader)?;
                }
                // Else a torn last entry: the snapshot ends there.
                continue;
            }
            entry.pop();
            let Some(message) = decode(&entry) else {
                continue;
            };
            bytes.clear();
            rebuild.entry(&message.line, &mut bytes);
            out.write_all(&bytes)?;
        }
    }
    bytes.clear();
    rebuild.finish(unterminated_tail, &mut bytes);
    out.write_all(&bytes)
}

fn skip_line(reader: &mut impl BufRead) -> std::io::Result<()> {
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(());
        }
        match buf.iter().position(|&b| b == b'\n') {
            Some(i) => {
                reader.consume(i + 1);
                return Ok(());
            }
            None => {
                let n = buf.len();
                reader.consume(n);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logs::{LogStream, LogWriter};
    use types::Timestamp;

    fn rebuilt(entries: &[&[u8]], unterminated: bool) -> Vec<u8> {
        let mut r = Rebuild::default();
        let mut out = Vec::new();
        for e in entries {
            r.entry(e, &mut out);
        }
        r.finish(unterminated, &mut out);
        out
    }

    #[test]
    fn newlines_come_back_except_after_a_cut_or_a_closing_partial_line() {
        assert_eq!(rebuilt(&[b"a\r", b"", b"b"], false), b"a\r\n\nb\n");
        assert_eq!(rebuilt(&[b"a", b"tail"], true), b"a\ntail");
        let long = vec![b'x'; MAX_LINE];
        let mut want = long.clone();
        want.extend_from_slice(b"y\n");
        assert_eq!(rebuilt(&[&long, b"y"], false), want);
        assert_eq!(rebuilt(&[], false), b"");
    }

    #[test]
    fn both_files_replay_in_order_up_to_the_snapshot_and_junk_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = LogWriter::open(dir.path(), 0).unwrap();
        // The limit is raised to one maximal line: the long line rotates "second" out.
        let long = vec![b'x'; MAX_LINE - 1];
        w.write_line(Timestamp(2), LogStream::Stdout, b"second").unwrap();
        w.write_line(Timestamp(3), LogStream::Stdout, &long).unwrap();
        let rotated = dir.path().join("log.1");
        let current = dir.path().join("log");
        // Junk and an oversized line in the current file, then what comes after the snapshot.
        let mut raw = std::fs::OpenOptions::new().append(true).open(&current).unwrap();
        raw.write_all(b"garbage\n").unwrap();
        raw.write_all(&vec![b'z'; MAX_ENTRY as usize * 2]).unwrap();
        raw.write_all(b"\n4 o fourth\n").unwrap();
        let len = std::fs::metadata(&current).unwrap().len();
        raw.write_all(b"5 o after the snapshot\n").unwrap();
        let parts = vec![
            Part {
                len: std::fs::metadata(&rotated).unwrap().len(),
                file: File::open(&rotated).unwrap(),
            },
            Part {
                file: File::open(&current).unwrap(),
                len,
            },
        ];
        let mut out = Vec::new();
        replay(parts, false, &mut out).unwrap();
        let mut want = b"second\n".to_vec();
        want.extend_from_slice(&long);
        want.extend_from_slice(b"\nfourth\n");
        assert_eq!(String::from_utf8(out).unwrap(), String::from_utf8(want).unwrap());
    }
}
