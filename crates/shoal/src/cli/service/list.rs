//! `shoal service ls`: docker's table (REPLICAS from the task counts), `-q`, `--format`.

use std::io::Write as _;

use api::Client;
use api::model::Service;

use crate::cli::Console;
use crate::cli::filters::parse_filters;
use crate::cli::output::{natural_cmp, short_id, table};
use crate::cli::template::{self, Format};

/// Flags of `service ls`.
#[derive(clap::Args, Debug)]
pub struct ListArgs {
    /// Only display IDs.
    #[arg(short, long)]
    quiet: bool,
    /// Format output: `table`, `json`, or a Go template (`{{.Name}} {{.Replicas}}`).
    #[arg(long)]
    format: Option<String>,
    /// Filter output (`name=web`, `mode=global`, `label=k=v`, …).
    #[arg(short, long, value_name = "KEY=VALUE")]
    filter: Vec<String>,
}

/// Lists services sorted by name.
pub async fn run(client: &Client, console: &mut Console, args: ListArgs) -> anyhow::Result<()> {
    let filters = parse_filters(&args.filter)?;
    let mut services = client.services(&filters, !args.quiet).await?;
    services.sort_by(|a, b| natural_cmp(&a.spec.name, &b.spec.name));
    if args.quiet {
        for service in &services {
            writeln!(console.out, "{}", short_id(&service.id))?;
        }
        return Ok(());
    }
    match Format::parse(args.format.as_deref()) {
        Format::Default => write!(console.out, "{}", render_table(&services))?,
        Format::Template { table, text } => {
            let rows: Vec<_> = services.iter().map(row).collect();
            write!(
                console.out,
                "{}",
                template::render_rows(table, &text, HEADERS, &rows)?
            )?;
        }
    }
    Ok(())
}

/// Docker's column titles for the fields a `--format` template can name.
const HEADERS: &[(&str, &str)] = &[
    ("ID", "ID"),
    ("Name", "NAME"),
    ("Mode", "MODE"),
    ("Replicas", "REPLICAS"),
    ("Image", "IMAGE"),
    ("Ports", "PORTS"),
];

/// One service as a template sees it (docker's service list context).
fn row(s: &Service) -> serde_json::Value {
    serde_json::json!({
        "ID": short_id(&s.id), "Name": s.spec.name, "Mode": mode(s), "Replicas": replicas(s),
        "Image": image(s), "Ports": ports(s),
    })
}

fn mode(service: &Service) -> &'static str {
    let mode = &service.spec.mode;
    if mode.global.is_some() {
        "global"
    } else if mode.replicated.is_some() {
        "replicated"
    } else if mode.replicated_job.is_some() {
        "replicated job"
    } else if mode.global_job.is_some() {
        "global job"
    } else {
        ""
    }
}

/// Docker's REPLICAS cell: `running/desired`, with completions for jobs and the per-node cap.
fn replicas(service: &Service) -> String {
    let status = service.service_status.unwrap_or_default();
    let (running, desired, completed) = (status.running_tasks, status.desired_tasks, status.completed_tasks);
    let mode = &service.spec.mode;
    if let Some(job) = &mode.replicated_job {
        return format!(
            "{running}/{desired} ({completed}/{} completed)",
            job.total_completions.unwrap_or(0)
        );
    }
    if mode.global_job.is_some() {
        return format!(
            "{running}/{desired} ({completed}/{} completed)",
            desired + completed
        );
    }
    let max = service
        .spec
        .task_template
        .placement
        .as_ref()
        .map(|p| p.max_replicas)
        .unwrap_or(0);
    if mode.replicated.is_some() && max > 0 {
        return format!("{running}/{desired} (max {max} per node)");
    }
    format!("{running}/{desired}")
}

/// The image without its digest, as docker shows it.
fn image(service: &Service) -> String {
    let image = service
        .spec
        .task_template
        .container_spec
        .as_ref()
        .map(|c| c.image.as_str())
        .unwrap_or("");
    image.split('@').next().unwrap_or_default().to_string()
}

/// Ingress-published ports: `*:8080->80/tcp`.
fn ports(service: &Service) -> String {
    let mut ports: Vec<_> = service
        .endpoint
        .ports
        .iter()
        .filter(|p| p.publish_mode == "ingress")
        .collect();
    ports.sort_by(|a, b| {
        a.protocol
            .cmp(&b.protocol)
            .then(a.published_port.cmp(&b.published_port))
    });
    ports
        .iter()
        .map(|p| format!("*:{}->{}/{}", p.published_port, p.target_port, p.protocol))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn render_table(services: &[Service]) -> String {
    let mut rows = vec![
        ["ID", "NAME", "MODE", "REPLICAS", "IMAGE", "PORTS"]
            .map(String::from)
            .to_vec(),
    ];
    for s in services {
        rows.push(vec![
            short_id(&s.id).to_string(),
            s.spec.name.clone(),
            mode(s).into(),
            replicas(s),
            image(s),
            ports(s),
        ]);
    }
    table(&rows)
}
