//! `shoal node inspect`: a JSON array like `docker node inspect`, or docker's `--pretty` text.

use std::fmt::Write as _;

use std::io::Write as _;

use api::Client;

use crate::cli::Console;
use api::model::Node;

use super::resolve;
use crate::cli::output::{bytes_size, capitalised, indented_json};

/// Flags of `node inspect`.
#[derive(clap::Args, Debug)]
pub struct InspectArgs {
    /// Format output: `json` (default), `pretty`, or a Go template (`{{.Spec.Name}}`).
    #[arg(short, long, default_value = "json")]
    format: String,
    /// Human-readable output (same as `--format pretty`).
    #[arg(long)]
    pretty: bool,
    /// Node IDs, names or ID prefixes (`self` for this node).
    #[arg(required = true, value_name = "NODE")]
    nodes: Vec<String>,
}

/// Prints the nodes found, then fails if any was not.
pub async fn run(client: &Client, console: &mut Console, args: InspectArgs) -> anyhow::Result<()> {
    let pretty = args.pretty || args.format == "pretty";
    // `json` (and no format) is the indented array; anything else but `pretty` is a template.
    let template = (!pretty && !matches!(args.format.trim(), "json" | ""))
        .then(|| crate::cli::template::Format::parse(Some(&args.format)));
    let mut found = Vec::new();
    let mut failures = Vec::new();
    for key in &args.nodes {
        match fetch(client, key).await {
            Ok(node) => found.push(node),
            Err(e) => failures.push(e.to_string()),
        }
    }
    if let Some(crate::cli::template::Format::Template { text, .. }) = &template {
        write!(
            console.out,
            "{}",
            crate::cli::template::render_objects(text, &found)?
        )?;
    } else if pretty {
        for node in &found {
            write!(console.out, "{}", render_pretty(node))?;
        }
    } else {
        writeln!(console.out, "{}", indented_json(&found)?)?;
    }
    if !failures.is_empty() {
        anyhow::bail!("{}", failures.join("\n"));
    }
    Ok(())
}

async fn fetch(client: &Client, key: &str) -> anyhow::Result<Node> {
    let id = resolve(client, key).await?;
    Ok(crate::cli::lookup::node(client, &id).await?)
}

/// Docker's pretty template, tabs included.
fn render_pretty(node: &Node) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail; the results are ignored for that reason.
    let _ = writeln!(out, "ID:\t\t\t{}", node.id);
    if !node.spec.name.is_empty() {
        let _ = writeln!(out, "Name:\t\t\t{}", node.spec.name);
    }
    if !node.spec.labels.is_empty() {
        let _ = writeln!(out, "Labels:");
        for (key, value) in &node.spec.labels {
            let _ = writeln!(out, "{}", label_line(key, value));
        }
    }
    let _ = writeln!(out, "Hostname:              \t{}", node.description.hostname);
    let _ = writeln!(out, "Joined at:             \t{}", joined_at(&node.created_at));
    let _ = writeln!(out, "Status:\n State:\t\t\t{}", capitalised(&node.status.state));
    if !node.status.message.is_empty() {
        let _ = writeln!(
            out,
            " Message:              \t{}",
            capitalised(&node.status.message)
        );
    }
    let _ = writeln!(
        out,
        " Availability:         \t{}",
        capitalised(&node.spec.availability)
    );
    if !node.status.addr.is_empty() {
        let _ = writeln!(out, " Address:\t\t{}", node.status.addr);
    }
    if let Some(status) = &node.manager_status {
        let _ = writeln!(out, "Manager Status:\n Address:\t\t{}", status.addr);
        let _ = writeln!(out, " Raft Status:\t\t{}", capitalised(&status.reachability));
        let _ = writeln!(out, " Leader:\t\t{}", if status.leader { "Yes" } else { "No" });
    }
    let platform = &node.description.platform;
    let _ = writeln!(
        out,
        "Platform:\n Operating System:\t{}\n Architecture:\t\t{}",
        platform.os, platform.architecture
    );
    let resources = &node.description.resources;
    let memory = if resources.memory_bytes == 0 {
        String::new()
    } else {
        bytes_size(resources.memory_bytes as f64)
    };
    let _ = writeln!(
        out,
        "Resources:\n CPUs:\t\t\t{}\n Memory:\t\t{memory}",
        resources.nano_cpus / 1_000_000_000
    );
    let engine = &node.description.engine;
    if !engine.plugins.is_empty() {
        let _ = writeln!(out, "Plugins:");
        let mut by_kind: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
        for plugin in &engine.plugins {
            by_kind
                .entry(plugin.kind.as_str())
                .or_default()
                .push(plugin.name.as_str());
        }
        for (kind, names) in by_kind {
            let _ = writeln!(out, " {kind}:\t\t{}", names.join(", "));
        }
    }
    let _ = writeln!(out, "Engine Version:\t\t{}", engine.engine_version);
    if !engine.labels.is_empty() {
        let _ = writeln!(out, "Engine Labels:");
        for (key, value) in &engine.labels {
            let _ = writeln!(out, "{}", label_line(key, value));
        }
    }
    let tls = &node.description.tls_info;
    if !(tls.trust_root.is_empty()
        && tls.cert_issuer_subject.is_empty()
        && tls.cert_issuer_public_key.is_empty())
    {
        let _ = writeln!(out, "TLS Info:\n TrustRoot:\n{}", tls.trust_root);
        let _ = writeln!(out, " Issuer Subject:\t{}", tls.cert_issuer_subject);
        let _ = writeln!(out, " Issuer Public Key:\t{}", tls.cert_issuer_public_key);
    }
    out
}

/// ` - key=value`, or ` - key` for an empty value.
fn label_line(key: &str, value: &str) -> String {
    if value.is_empty() {
        format!(" - {key}")
    } else {
        format!(" - {key}={value}")
    }
}

/// `2026-11-27T05:01:02.5Z` as docker prints a time: `2026-11-27 05:01:02.5 +0000 utc`.
fn joined_at(rfc3339: &str) -> String {
    match rfc3339.strip_suffix('Z') {
        Some(utc) => format!("{} +0000 utc", utc.replacen('T', " ", 1)),
        None => rfc3339.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use api::model::ManagerStatus;

    use super::*;

    #[test]
    fn pretty_output_follows_dockers_template() {
        let mut node = Node {
            id: "abc".into(),
            created_at: "2026-11-27T05:01:02.5Z".into(),
            ..Default::default()
        };
        node.spec.labels.insert("zone".into(), "a".into());
        node.spec.labels.insert("flag".into(), String::new());
        node.spec.availability = "active".into();
        node.description.hostname = "alpha".into();
        node.description.resources.nano_cpus = 2_000_000_000;
        node.description.resources.memory_bytes = 4 << 30;
        node.status.state = "ready".into();
        node.manager_status = Some(ManagerStatus {
            leader: true,
            reachability: "reachable".into(),
            addr: "a:1".into(),
        });
        let text = render_pretty(&node);
        assert!(
            text.starts_with("ID:\t\t\tabc\nLabels:\n - flag\n - zone=a\nHostname:"),
            "{text}"
        );
        assert!(
            text.contains("Joined at:             \t2026-11-27 05:01:02.5 +0000 utc\n"),
            "{text}"
        );
        assert!(
            text.contains("Manager Status:\n Address:\t\ta:1\n Raft Status:\t\tReachable\n Leader:\t\tYes\n")
        );
        assert!(text.contains(" CPUs:\t\t\t2\n Memory:\t\t4GiB\n"), "{text}");
        assert!(!text.contains("TLS Info"));
    }
}
