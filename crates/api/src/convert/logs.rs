//! Swarm log lines on the wire, byte for byte as dockerd writes them for
//! `GET /services/{id}/logs` and `GET /tasks/{id}/logs`.
//!
//! ```text
//! multiplexed (no TTY):  [stream 1|2][0 0 0][u32 BE length] payload
//! raw (TTY):             payload
//! payload:               [<timestamp> ][<details> ]<line>\n
//! timestamp:             2026-11-27T05:01:02.123456789Z          (always nine digits)
//! details:               com.docker.swarm.node.id=<node>,com.docker.swarm.service.id=<service>,
//!                        com.docker.swarm.task.id=<task>         (sorted by key, query-escaped)
//! ```
//!
//! The docker CLI asks for details on every `service logs` and splits each payload on its
//! first spaces to find them, so the order above is part of the contract.

use bytes::{BufMut, Bytes, BytesMut};

use super::time::rfc3339_fixed;
use crate::backend::{LogLine, LogStream};

/// Media type of a multiplexed stream (API ≥ 1.42, no TTY).
pub const MULTIPLEXED_STREAM: &str = "application/vnd.docker.multiplexed-stream";
/// Media type of a raw stream (TTY, or clients older than API 1.42).
pub const RAW_STREAM: &str = "application/vnd.docker.raw-stream";

/// Prefix keys of the context details, as dockerd names them.
const NODE_KEY: &str = "com.docker.swarm.node.id";
const SERVICE_KEY: &str = "com.docker.swarm.service.id";
const TASK_KEY: &str = "com.docker.swarm.task.id";

/// How each line is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Framing {
    /// Prefix the line's timestamp.
    pub timestamps: bool,
    /// Prefix the node, service and task IDs.
    pub details: bool,
    /// Wrap each line in the 8-byte stdcopy header (false for TTY tasks).
    pub multiplexed: bool,
}

/// The bytes of one log line.
pub fn frame(line: &LogLine, framing: Framing) -> Bytes {
    let mut payload = BytesMut::with_capacity(line.line.len() + 160);
    if framing.timestamps {
        payload.put_slice(rfc3339_fixed(line.timestamp).as_bytes());
        payload.put_u8(b' ');
    }
    if framing.details {
        // Already in key order: node < service < task.
        let pairs = [
            (NODE_KEY, &line.node_id),
            (SERVICE_KEY, &line.service_id),
            (TASK_KEY, &line.task_id),
        ];
        for (i, (key, value)) in pairs.iter().enumerate() {
            if i > 0 {
                payload.put_u8(b',');
            }
            payload.put_slice(query_escape(key).as_bytes());
            payload.put_u8(b'=');
            payload.put_slice(query_escape(value).as_bytes());
        }
        payload.put_u8(b' ');
    }
    payload.put_slice(&line.line);
    payload.put_u8(b'\n');
    if !framing.multiplexed {
        return payload.freeze();
    }
    let stream = match line.stream {
        LogStream::Stdout => 1,
        LogStream::Stderr => 2,
    };
    let mut out = BytesMut::with_capacity(payload.len() + 8);
    out.put_u8(stream);
    out.put_slice(&[0, 0, 0]);
    // A line longer than 4 GiB cannot be framed; it is cut, as no reader could take it whole.
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    out.put_u32(len);
    out.put_slice(&payload[..len as usize]);
    out.freeze()
}

/// Go's `url.QueryEscape`: unreserved bytes stay, space becomes `+`, the rest `%XX`.
fn query_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(byte as char),
            b' ' => out.push('+'),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use types::Timestamp;

    use super::*;

    fn line(stream: LogStream) -> LogLine {
        LogLine {
            timestamp: Timestamp(1_795_755_662_123_456_789),
            stream,
            line: Bytes::from_static(b"hello"),
            task_id: "t1".into(),
            node_id: "n1".into(),
            service_id: "s1".into(),
        }
    }

    #[test]
    fn multiplexed_with_details_is_byte_exact() {
        let framed = frame(
            &line(LogStream::Stdout),
            Framing {
                timestamps: false,
                details: true,
                multiplexed: true,
            },
        );
        let payload: &[u8] =
            b"com.docker.swarm.node.id=n1,com.docker.swarm.service.id=s1,com.docker.swarm.task.id=t1 hello\n";
        let mut expected = vec![1, 0, 0, 0, 0, 0, 0, payload.len() as u8];
        expected.extend_from_slice(payload);
        assert_eq!(&framed[..], &expected[..]);
        assert_eq!(payload.len(), 93);
        assert_eq!(&framed[..8], &[1, 0, 0, 0, 0, 0, 0, 93]);
    }

    #[test]
    fn timestamps_come_first_and_stderr_is_stream_two() {
        let framed = frame(
            &line(LogStream::Stderr),
            Framing {
                timestamps: true,
                details: true,
                multiplexed: true,
            },
        );
        assert_eq!(&framed[..4], &[2, 0, 0, 0]);
        let len = u32::from_be_bytes([framed[4], framed[5], framed[6], framed[7]]) as usize;
        assert_eq!(len, framed.len() - 8);
        assert!(framed[8..].starts_with(b"2026-11-27T05:01:02.123456789Z com.docker.swarm.node.id=n1,"));
        assert!(framed.ends_with(b"task.id=t1 hello\n"));
    }

    #[test]
    fn raw_and_plain_lines_have_no_header() {
        let framed = frame(&line(LogStream::Stdout), Framing::default());
        assert_eq!(&framed[..], b"hello\n");
        assert_eq!(query_escape("a b/c=d"), "a+b%2Fc%3Dd");
    }
}
