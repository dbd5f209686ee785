//! `shoal node ls`: docker's table (a `*` marks the node we talk to), `--format`, `-q`.

use std::collections::BTreeMap;

use std::io::Write as _;

use api::Client;

use crate::cli::Console;
use api::model::{Info, Node, TlsInfo};

use crate::cli::filters::parse_filters;
use crate::cli::output::{capitalised, natural_cmp, table};
use crate::cli::template::{self, Format};

/// Flags of `node ls`.
#[derive(clap::Args, Debug)]
pub struct ListArgs {
    /// Only display IDs.
    #[arg(short, long)]
    quiet: bool,
    /// Format output: `table`, `json`, or a Go template (`{{.Hostname}} {{.Status}}`).
    #[arg(long)]
    format: Option<String>,
    /// Filter output (`role=manager`, `name=web`, `node.label=zone=a`, …; repeatable).
    #[arg(short, long, value_name = "KEY=VALUE")]
    filter: Vec<String>,
}

/// Lists nodes, sorted by hostname as docker sorts them.
pub async fn run(client: &Client, console: &mut Console, args: ListArgs) -> anyhow::Result<()> {
    let filters = parse_filters(&args.filter)?;
    let mut nodes = client.nodes(&filters).await?;
    nodes.sort_by(|a, b| natural_cmp(&a.description.hostname, &b.description.hostname));
    if args.quiet {
        for node in &nodes {
            writeln!(console.out, "{}", node.id)?;
        }
        return Ok(());
    }
    // The table needs our node ID (for `*`) and the cluster's TLS issuer; skip the call when empty.
    let info = if nodes.is_empty() {
        Info::default()
    } else {
        client.info().await?
    };
    match Format::parse(args.format.as_deref()) {
        Format::Default => write!(console.out, "{}", render_table(&nodes, &info))?,
        Format::Template { table, text } => {
            let rows = nodes
                .iter()
                .map(|node| serde_json::to_value(row_json(node, &info)))
                .collect::<Result<Vec<_>, _>>()?;
            write!(
                console.out,
                "{}",
                template::render_rows(table, &text, HEADERS, &rows)?
            )?;
        }
    }
    Ok(())
}

/// Docker's `MANAGER STATUS` cell: `Leader`, or the reachability, or empty for workers.
fn manager_status(node: &Node) -> String {
    match &node.manager_status {
        Some(status) if status.leader => "Leader".into(),
        Some(status) => capitalised(&status.reachability),
        None => String::new(),
    }
}

/// Docker's `TLS STATUS`: whether the node's certificate issuer is the cluster's current one.
fn tls_status(node: &Node, info: &Info) -> &'static str {
    let empty = |t: &TlsInfo| {
        t.trust_root.is_empty() && t.cert_issuer_subject.is_empty() && t.cert_issuer_public_key.is_empty()
    };
    let Some(cluster) = &info.swarm.cluster else {
        return "Unknown";
    };
    let (mine, theirs) = (&node.description.tls_info, &cluster.tls_info);
    if empty(mine) || empty(theirs) {
        "Unknown"
    } else if mine == theirs {
        "Ready"
    } else {
        "Needs Rotation"
    }
}

/// The default table.
fn render_table(nodes: &[Node], info: &Info) -> String {
    let mut rows = vec![
        [
            "ID",
            "HOSTNAME",
            "STATUS",
            "AVAILABILITY",
            "MANAGER STATUS",
            "ENGINE VERSION",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for node in nodes {
        let marker = if node.id == info.swarm.node_id { '*' } else { ' ' };
        rows.push(vec![
            format!("{} {marker}", node.id),
            node.description.hostname.clone(),
            capitalised(&node.status.state),
            capitalised(&node.spec.availability),
            manager_status(node),
            node.description.engine.engine_version.clone(),
        ]);
    }
    table(&rows)
}

/// Docker's column titles for the fields a `--format` template can name.
const HEADERS: &[(&str, &str)] = &[
    ("ID", "ID"),
    ("Hostname", "HOSTNAME"),
    ("Status", "STATUS"),
    ("Availability", "AVAILABILITY"),
    ("ManagerStatus", "MANAGER STATUS"),
    ("EngineVersion", "ENGINE VERSION"),
    ("TLSStatus", "TLS STATUS"),
];

/// One node as a `--format` template sees it, with docker's keys.
fn row_json(node: &Node, info: &Info) -> BTreeMap<&'static str, serde_json::Value> {
    BTreeMap::from([
        ("Availability", capitalised(&node.spec.availability).into()),
        (
            "EngineVersion",
            node.description.engine.engine_version.clone().into(),
        ),
        ("Hostname", node.description.hostname.clone().into()),
        ("ID", node.id.clone().into()),
        ("ManagerStatus", manager_status(node).into()),
        ("Self", (node.id == info.swarm.node_id).into()),
        ("Status", capitalised(&node.status.state).into()),
        ("TLSStatus", tls_status(node, info).into()),
    ])
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use api::model::{ManagerStatus, SwarmInfo};

    use super::*;

    fn node(id: &str, host: &str, leader: Option<bool>) -> Node {
        let mut node = Node {
            id: id.into(),
            ..Default::default()
        };
        node.description.hostname = host.into();
        node.description.engine.engine_version = "0.1.0".into();
        node.status.state = "ready".into();
        node.spec.availability = "active".into();
        node.manager_status = leader.map(|leader| ManagerStatus {
            leader,
            reachability: "reachable".into(),
            addr: "10.0.0.1:2377".into(),
        });
        node
    }

    #[test]
    fn table_matches_dockers_layout() {
        let info = Info {
            swarm: SwarmInfo {
                node_id: "abc".into(),
                ..Default::default()
            },
            ..Default::default()
        };
        let nodes = [
            node("abc", "alpha", Some(true)),
            node("def", "beta", Some(false)),
            node("ghi", "gamma", None),
        ];
        let text = render_table(&nodes, &info);
        let expected = "\
ID        HOSTNAME   STATUS    AVAILABILITY   MANAGER STATUS   ENGINE VERSION
abc *     alpha      Ready     Active         Leader           0.1.0
def       beta       Ready     Active         Reachable        0.1.0
ghi       gamma      Ready     Active                          0.1.0
";
        assert_eq!(text, expected);
        let json = serde_json::to_string(&row_json(&nodes[0], &info)).unwrap();
        assert_eq!(
            json,
            r#"{"Availability":"Active","EngineVersion":"0.1.0","Hostname":"alpha","ID":"abc","ManagerStatus":"Leader","Self":true,"Status":"Ready","TLSStatus":"Unknown"}"#
        );
    }
}
