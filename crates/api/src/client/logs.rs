//! Reading a log stream (`GET /services/{id}/logs`, `GET /tasks/{id}/logs`) as it arrives,
//! undoing dockerd's framing: 8-byte headers on a multiplexed stream, none on a raw one.

use bytes::{Buf, Bytes, BytesMut};
use http::{Method, header};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use super::{Client, percent_encode};
use crate::backend::LogStream;
use crate::convert::logs::MULTIPLEXED_STREAM;
use crate::error::{Error, Result};

/// What to ask a log endpoint for; both streams are always asked for.
#[derive(Debug, Clone, Default)]
pub struct LogsQuery {
    /// Keep streaming new lines.
    pub follow: bool,
    /// `N` or `all` (None: all).
    pub tail: Option<String>,
    /// Unix time `seconds[.nanos]` of the oldest line wanted.
    pub since: Option<String>,
    /// Prefix each line with its timestamp.
    pub timestamps: bool,
    /// Prefix each line with its node, service and task IDs.
    pub details: bool,
}

impl LogsQuery {
    fn pairs(&self) -> Vec<(&'static str, String)> {
        let mut query = vec![("stdout", "1".to_string()), ("stderr", "1".to_string())];
        let flag = |on: bool| if on { "1" } else { "0" }.to_string();
        query.push(("follow", flag(self.follow)));
        query.push(("timestamps", flag(self.timestamps)));
        query.push(("details", flag(self.details)));
        if let Some(tail) = &self.tail {
            query.push(("tail", tail.clone()));
        }
        if let Some(since) = &self.since {
            query.push(("since", since.clone()));
        }
        query
    }
}

/// One piece of a log stream: a whole line on a multiplexed stream; whatever arrived on a
/// raw one (always stdout).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFrame {
    /// stdout or stderr.
    pub stream: LogStream,
    /// The bytes, as the daemon framed them (prefixes and newline included).
    pub payload: Bytes,
}

/// A log stream being read.
pub struct LogReader {
    body: Incoming,
    multiplexed: bool,
    buffer: BytesMut,
    ended: bool,
}

impl LogReader {
    /// The next frame; `None` once the daemon closed the stream.
    pub async fn next(&mut self) -> Result<Option<LogFrame>> {
        loop {
            if let Some(frame) = self.take_frame()? {
                return Ok(Some(frame));
            }
            if self.ended {
                return Ok(None);
            }
            match self.body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.buffer.extend_from_slice(&data);
                    }
                }
                Some(Err(e)) => return Err(Error::Http(e.to_string())),
                None => self.ended = true,
            }
        }
    }

    fn take_frame(&mut self) -> Result<Option<LogFrame>> {
        if !self.multiplexed {
            if self.buffer.is_empty() {
                return Ok(None);
            }
            let payload = self.buffer.split().freeze();
            return Ok(Some(LogFrame {
                stream: LogStream::Stdout,
                payload,
            }));
        }
        split_frame(&mut self.buffer, self.ended)
    }
}

/// Takes one multiplexed frame off the front of `buffer`, if a whole one is there.
fn split_frame(buffer: &mut BytesMut, ended: bool) -> Result<Option<LogFrame>> {
    if buffer.len() < 8 {
        return if ended && !buffer.is_empty() {
            Err(Error::Http("log stream ended inside a frame header".into()))
        } else {
            Ok(None)
        };
    }
    let stream = match buffer[0] {
        1 => LogStream::Stdout,
        2 | 3 => LogStream::Stderr,
        other => {
            return Err(Error::Http(format!(
                "log stream frame for unknown stream {other}"
            )));
        }
    };
    let len = u32::from_be_bytes([buffer[4], buffer[5], buffer[6], buffer[7]]) as usize;
    if buffer.len() < 8 + len {
        return if ended {
            Err(Error::Http("log stream ended inside a frame".into()))
        } else {
            Ok(None)
        };
    }
    buffer.advance(8);
    let payload = buffer.split_to(len).freeze();
    Ok(Some(LogFrame { stream, payload }))
}

impl Client {
    /// `GET /services/{id}/logs`.
    pub async fn service_logs(&self, key: &str, query: &LogsQuery) -> Result<LogReader> {
        self.logs(&format!("/services/{}/logs", percent_encode(key)), query)
            .await
    }

    /// `GET /tasks/{id}/logs`.
    pub async fn task_logs(&self, key: &str, query: &LogsQuery) -> Result<LogReader> {
        self.logs(&format!("/tasks/{}/logs", percent_encode(key)), query)
            .await
    }

    async fn logs(&self, path: &str, query: &LogsQuery) -> Result<LogReader> {
        let response = self.open(Method::GET, path, &query.pairs(), None).await?;
        let multiplexed = response
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(MULTIPLEXED_STREAM.as_bytes()));
        Ok(LogReader {
            body: response.into_body(),
            multiplexed,
            buffer: BytesMut::new(),
            ended: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_across_reads() {
        let mut buffer = BytesMut::from(&[1u8, 0, 0, 0, 0, 0, 0, 3, b'a', b'b'][..]);
        assert_eq!(split_frame(&mut buffer, false).unwrap(), None);
        buffer.extend_from_slice(&[b'\n', 2, 0, 0, 0, 0, 0, 0, 1, b'x']);
        let first = split_frame(&mut buffer, false).unwrap().unwrap();
        assert_eq!(
            (first.stream, &first.payload[..]),
            (LogStream::Stdout, &b"ab\n"[..])
        );
        let second = split_frame(&mut buffer, false).unwrap().unwrap();
        assert_eq!(
            (second.stream, &second.payload[..]),
            (LogStream::Stderr, &b"x"[..])
        );
        assert_eq!(split_frame(&mut buffer, true).unwrap(), None);
        let mut cut = BytesMut::from(&[1u8, 0, 0][..]);
        assert!(split_frame(&mut cut, true).is_err());
    }
}
