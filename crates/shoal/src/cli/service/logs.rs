//! `shoal service logs SERVICE|TASK`: the log stream, each line prefixed with its task and
//! node as docker prints it (`web.1.3k2xq0m1a9bc@alpha    | line`).
//!
//! The daemon sends `[timestamp ]details line` per frame; the details
//! (`com.docker.swarm.node.id=…,…service.id=…,…task.id=…`) name the task, whose slot and
//! node name are looked up once each.

use std::collections::HashMap;
use std::io::Write as _;

use api::Client;
use api::backend::LogStream;
use api::client::LogsQuery;

use crate::cli::output::{now, short_id};
use crate::cli::{Console, duration};

/// Flags of `service logs`.
#[derive(clap::Args, Debug)]
pub struct LogsArgs {
    /// Follow log output.
    #[arg(short, long)]
    follow: bool,
    /// Number of lines to show from the end of each task's logs (or `all`).
    #[arg(short = 'n', long, value_name = "N")]
    tail: Option<String>,
    /// Show logs since a timestamp (RFC 3339 or Unix) or a relative time (e.g. 42m).
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// Show timestamps.
    #[arg(short, long)]
    timestamps: bool,
    /// Show extra details provided to logs.
    #[arg(long)]
    details: bool,
    /// Do not neatly format logs.
    #[arg(long)]
    raw: bool,
    /// Do not include task IDs in the output.
    #[arg(long)]
    no_task_ids: bool,
    /// Do not truncate output.
    #[arg(long)]
    no_trunc: bool,
    /// Do not map IDs to names.
    #[arg(long)]
    no_resolve: bool,
    /// Service name, ID or ID prefix, or a task ID.
    #[arg(value_name = "SERVICE|TASK")]
    target: String,
}

/// `--since`: a Go duration before now, an RFC 3339 time, or Unix seconds passed through.
fn since(text: &str) -> anyhow::Result<String> {
    if let Ok(ago) = duration::parse(text) {
        let when = now().0.saturating_sub(ago);
        return Ok(format!(
            "{}.{:09}",
            when.div_euclid(1_000_000_000),
            when.rem_euclid(1_000_000_000)
        ));
    }
    if let Ok(when) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(format!(
            "{}.{:09}",
            when.timestamp(),
            when.timestamp_subsec_nanos()
        ));
    }
    if api::convert::time::parse_unix(text).is_some() {
        return Ok(text.to_string());
    }
    anyhow::bail!("invalid value for --since: {text:?}")
}

/// Names tasks and nodes for the line prefixes, asking the daemon once per ID.
struct Prefixes<'a> {
    client: &'a Client,
    args: &'a LogsArgs,
    padding: usize,
    cache: HashMap<(String, String, String), String>,
}

impl Prefixes<'_> {
    async fn prefix(&mut self, node: &str, service: &str, task: &str) -> anyhow::Result<String> {
        let key = (node.to_string(), service.to_string(), task.to_string());
        if let Some(cached) = self.cache.get(&key) {
            return Ok(cached.clone());
        }
        let (node_name, service_name) = if self.args.no_resolve {
            (node.to_string(), service.to_string())
        } else {
            let n = self.client.node(node).await.ok();
            let node_name = n
                .map(|n| {
                    if n.spec.name.is_empty() {
                        n.description.hostname
                    } else {
                        n.spec.name
                    }
                })
                .filter(|name| !name.is_empty())
                .unwrap_or_else(|| node.to_string());
            let service_name = self
                .client
                .service(service, false)
                .await
                .map(|s| s.spec.name)
                .unwrap_or_else(|_| service.to_string());
            (node_name, service_name)
        };
        let task_info = crate::cli::lookup::task(self.client, task).await?;
        let mut name = format!("{service_name}.{}", task_info.slot);
        if !self.args.no_task_ids {
            name.push('.');
            name.push_str(if self.args.no_trunc { task } else { short_id(task) });
        }
        let pad = self.padding.saturating_sub(task_info.slot.to_string().len());
        let prefix = format!("{name}@{node_name}{}", " ".repeat(pad));
        self.cache.insert(key, prefix.clone());
        Ok(prefix)
    }
}

/// Splits `[timestamp ]details message` and reads the three IDs from the details.
fn split_payload(payload: &str, timestamps: bool) -> Option<(Option<&str>, HashMap<&str, &str>, &str)> {
    let (stamp, rest) = if timestamps {
        let (stamp, rest) = payload.split_once(' ')?;
        (Some(stamp), rest)
    } else {
        (None, payload)
    };
    let (details, message) = rest.split_once(' ')?;
    let pairs = details
        .split(',')
        .filter_map(|pair| pair.split_once('='))
        .collect();
    Some((stamp, pairs, message))
}

/// Streams the logs until the daemon ends them (or forever with `--follow`).
pub async fn run(client: &Client, console: &mut Console, args: LogsArgs) -> anyhow::Result<()> {
    let query = LogsQuery {
        follow: args.follow,
        tail: args.tail.clone(),
        since: args.since.as_deref().map(since).transpose()?,
        timestamps: args.timestamps,
        details: args.details || !args.raw,
    };
    let (mut reader, tty, padding) = match crate::cli::lookup::service(client, &args.target, false).await {
        Ok(service) => {
            let tty = service
                .spec
                .task_template
                .container_spec
                .as_ref()
                .is_some_and(|c| c.tty);
            let replicas = service.spec.mode.replicated.and_then(|r| r.replicas).unwrap_or(1);
            (
                client.service_logs(&service.id, &query).await?,
                tty,
                replicas.to_string().len(),
            )
        }
        Err(e) if e.is_not_found() => {
            let task = crate::cli::lookup::task(client, &args.target)
                .await
                .map_err(|e| {
                    if e.is_not_found() {
                        anyhow::anyhow!("no such task or service: {}", args.target)
                    } else {
                        e.into()
                    }
                })?;
            let tty = task.spec.container_spec.as_ref().is_some_and(|c| c.tty);
            (
                client.task_logs(&task.id, &query).await?,
                tty,
                task.slot.to_string().len(),
            )
        }
        Err(e) => return Err(e.into()),
    };
    if tty && !args.raw {
        anyhow::bail!("tty service logs only supported with --raw");
    }
    let mut prefixes = Prefixes {
        client,
        args: &args,
        padding,
        cache: HashMap::new(),
    };
    while let Some(frame) = reader.next().await? {
        let text = String::from_utf8_lossy(&frame.payload).into_owned();
        let line = if args.raw || tty {
            text
        } else {
            let (stamp, mut details, message) = split_payload(&text, args.timestamps)
                .ok_or_else(|| anyhow::anyhow!("invalid context in log message: {text}"))?;
            let mut take = |key: &str| details.remove(key).unwrap_or_default().to_string();
            let node = take("com.docker.swarm.node.id");
            let service = take("com.docker.swarm.service.id");
            let task = take("com.docker.swarm.task.id");
            let mut line = String::new();
            if let Some(stamp) = stamp {
                line.push_str(stamp);
                line.push(' ');
            }
            line.push_str(&prefixes.prefix(&node, &service, &task).await?);
            line.push_str("    | ");
            if args.details && !details.is_empty() {
                let mut extra: Vec<String> = details.iter().map(|(k, v)| format!("{k}={v}")).collect();
                extra.sort();
                line.push_str(&extra.join(","));
                line.push(' ');
            }
            line.push_str(message);
            line
        };
        let out = match frame.stream {
            LogStream::Stdout => &mut console.out,
            LogStream::Stderr => &mut console.err,
        };
        out.write_all(line.as_bytes())?;
        out.flush()?;
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn payloads_split_like_the_docker_cli() {
        let (stamp, details, message) = split_payload(
            "2026-01-01T00:00:00.000000000Z com.docker.swarm.node.id=n,com.docker.swarm.task.id=t hello world\n",
            true,
        )
        .unwrap();
        assert_eq!(stamp, Some("2026-01-01T00:00:00.000000000Z"));
        assert_eq!(details["com.docker.swarm.task.id"], "t");
        assert_eq!(message, "hello world\n");
        assert!(split_payload("nodetails\n", false).is_none());
        assert_eq!(since("1700000000.5").unwrap(), "1700000000.5");
        assert_eq!(since("2026-11-27T05:01:02Z").unwrap(), "1795755662.000000000");
        assert!(since("yesterday").is_err());
    }
}
