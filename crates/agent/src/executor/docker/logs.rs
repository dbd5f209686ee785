//! A container's log stream from dockerd as shoal's [`LogLines`].
//!
//! dockerd's `since`/`until` are whole seconds, shoal's nanoseconds: lines are asked for with
//! their timestamps over a window rounded outwards, and filtered here to the nanosecond. The
//! backlog (no follow) goes through [`LogOptions::select`], so `tail` counts only the lines
//! that pass the filters; a follow passes `tail` to dockerd, which counts before `since`.

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::query_parameters::LogsOptions as DockerLogs;
use futures::{StreamExt, TryStreamExt};
use types::Timestamp;

use super::engine_error;
use crate::executor::{Error, Result};
use crate::logs::{LogLines, LogMessage, LogOptions, LogStream};

/// Reads the logs of `container`.
pub async fn read(docker: &Docker, container: &str, options: LogOptions) -> Result<LogLines> {
    let secs = |t: Timestamp| (t.0.div_euclid(1_000_000_000)).clamp(0, i64::from(i32::MAX)) as i32;
    let query = DockerLogs {
        follow: options.follow,
        stdout: options.stdout,
        stderr: options.stderr,
        since: options.since.map(secs).unwrap_or(0),
        // `until` rounds up: a line in the last partial second must not be cut here.
        until: match (options.follow, options.until) {
            (false, Some(u)) => secs(u).saturating_add(1),
            _ => 0,
        },
        timestamps: true,
        tail: match (options.follow, options.tail) {
            (true, Some(n)) => n.to_string(),
            _ => "all".into(),
        },
    };
    let stream = docker
        .logs(container, Some(query))
        .map(|item| match item {
            Ok(out) => parse(out).map(Some),
            Err(e) => Err(engine_error("reading logs", e)),
        })
        .try_filter_map(|m| futures::future::ready(Ok(m)));
    if options.follow {
        let opts = options.clone();
        return Ok(Box::pin(
            stream.try_filter(move |m| futures::future::ready(opts.admits(m))),
        ));
    }
    let all: Vec<LogMessage> = stream.try_collect().await?;
    let kept = options.select(all);
    Ok(Box::pin(futures::stream::iter(kept.into_iter().map(Ok))))
}

/// One frame of dockerd's log stream: `<RFC 3339 nano timestamp> <line>`.
fn parse(out: LogOutput) -> Result<LogMessage> {
    let (stream, bytes) = match out {
        LogOutput::StdErr { message } => (LogStream::Stderr, message),
        // A TTY merges both streams; dockerd reports them as console output.
        LogOutput::StdOut { message } | LogOutput::Console { message } | LogOutput::StdIn { message } => {
            (LogStream::Stdout, message)
        }
    };
    let space = bytes
        .iter()
        .position(|b| *b == b' ')
        .ok_or_else(|| Error::Engine("dockerd sent a log line without a timestamp".into()))?;
    let stamp = std::str::from_utf8(&bytes[..space])
        .ok()
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .and_then(|t| t.timestamp_nanos_opt())
        .ok_or_else(|| Error::Engine("dockerd sent a log line with an unreadable timestamp".into()))?;
    let mut line = bytes[space + 1..].to_vec();
    if line.last() == Some(&b'\n') {
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
    }
    Ok(LogMessage {
        timestamp: Timestamp(stamp),
        stream,
        line,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_parse_with_nanosecond_timestamps() {
        let m = parse(LogOutput::StdErr {
            message: "2026-12-06T07:00:00.000000123Z err1\n".into(),
        })
        .unwrap();
        assert_eq!(m.stream, LogStream::Stderr);
        assert_eq!(m.text(), "err1");
        assert_eq!(m.timestamp.0 % 1_000_000_000, 123);
        assert!(
            parse(LogOutput::StdOut {
                message: "garbage".into()
            })
            .is_err()
        );
    }
}
