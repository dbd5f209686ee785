//! The task table `service ps` and `node ps` print, as docker prints it: tasks named
//! `<service>.<slot>` (or `<service>.<node>`), sorted naturally with a slot's older tasks
//! indented under its newest, states capitalised with their age.

use std::collections::HashMap;
use std::io::Write as _;

use api::Client;
use api::client::Filters;
use api::model::Task;

use super::Console;
use super::output::{capitalised, human_duration, natural_cmp, now, parse_time, short_id, table};
use super::template::Format;

/// How to print.
#[derive(Debug, Clone, Copy, Default)]
pub struct TableOptions {
    /// Full IDs, images with digests, whole error messages.
    pub no_trunc: bool,
    /// IDs only.
    pub quiet: bool,
    /// Show service and node IDs instead of names.
    pub no_resolve: bool,
}

/// Errors are cut to this many characters unless `--no-trunc`.
const MAX_ERROR: usize = 30;

/// Fetches the tasks matching `filters` and prints them.
pub async fn print(
    client: &Client,
    console: &mut Console,
    filters: &Filters,
    options: TableOptions,
    format: Option<&str>,
) -> anyhow::Result<()> {
    let tasks = client.tasks(filters).await?;
    if options.quiet {
        for task in sorted(tasks, &HashMap::new()) {
            writeln!(console.out, "{}", task.id)?;
        }
        return Ok(());
    }
    let (services, nodes) = if options.no_resolve {
        (HashMap::new(), HashMap::new())
    } else {
        let services = client.services(&Filters::new(), false).await?;
        let nodes = client.nodes(&Filters::new()).await?;
        (
            services.into_iter().map(|s| (s.id, s.spec.name)).collect(),
            nodes
                .into_iter()
                .map(|n| {
                    let name = if n.spec.name.is_empty() {
                        n.description.hostname
                    } else {
                        n.spec.name
                    };
                    (n.id, name)
                })
                .collect::<HashMap<_, _>>(),
        )
    };
    let tasks = sorted(tasks, &services);
    let text = match Format::parse(format) {
        Format::Default => render(tasks, &services, &nodes, options, now()),
        Format::Template { table, text } => {
            render_template(cells(tasks, &services, &nodes, options, now()), table, &text)?
        }
    };
    write!(console.out, "{text}")?;
    Ok(())
}

/// Docker's task name: `<service>.<slot>`, or `<service>.<node ID>` for global tasks.
fn task_name(task: &Task, services: &HashMap<String, String>) -> String {
    let service = services.get(&task.service_id).unwrap_or(&task.service_id);
    if task.slot != 0 {
        format!("{service}.{}", task.slot)
    } else {
        format!("{service}.{}", task.node_id)
    }
}

/// Natural order of names; newest first within a name.
fn sorted(mut tasks: Vec<Task>, services: &HashMap<String, String>) -> Vec<Task> {
    tasks.sort_by(|a, b| {
        natural_cmp(&task_name(a, services), &task_name(b, services))
            .then_with(|| parse_time(&b.created_at).cmp(&parse_time(&a.created_at)))
    });
    tasks
}

/// Template fields and docker's column titles, in the default table's order.
const COLUMNS: [(&str, &str); 8] = [
    ("ID", "ID"),
    ("Name", "NAME"),
    ("Image", "IMAGE"),
    ("Node", "NODE"),
    ("DesiredState", "DESIRED STATE"),
    ("CurrentState", "CURRENT STATE"),
    ("Error", "ERROR"),
    ("Ports", "PORTS"),
];

/// The table, for tasks already sorted.
fn render(
    tasks: Vec<Task>,
    services: &HashMap<String, String>,
    nodes: &HashMap<String, String>,
    options: TableOptions,
    now: types::Timestamp,
) -> String {
    let mut rows = vec![COLUMNS.map(|(_, title)| title.to_string()).to_vec()];
    rows.extend(cells(tasks, services, nodes, options, now));
    table(&rows)
}

/// Renders the tasks with a `--format` template; each row's fields are docker's.
fn render_template(
    rows: Vec<Vec<String>>,
    table: bool,
    text: &str,
) -> Result<String, crate::cli::template::TemplateError> {
    let rows: Vec<serde_json::Value> = rows
        .into_iter()
        .map(|row| {
            serde_json::Value::Object(
                COLUMNS
                    .iter()
                    .zip(row)
                    .map(|((field, _), cell)| (field.to_string(), serde_json::Value::String(cell)))
                    .collect(),
            )
        })
        .collect();
    crate::cli::template::render_rows(table, text, &COLUMNS, &rows)
}

/// One row of cells per task (sorted already), in `COLUMNS` order.
fn cells(
    tasks: Vec<Task>,
    services: &HashMap<String, String>,
    nodes: &HashMap<String, String>,
    options: TableOptions,
    now: types::Timestamp,
) -> Vec<Vec<String>> {
    let mut rows = Vec::with_capacity(tasks.len());
    let mut previous = String::new();
    for task in &tasks {
        let name = task_name(task, services);
        let shown_name = if name == previous {
            format!(" \\_ {name}")
        } else {
            name.clone()
        };
        previous = name;
        let image = task
            .spec
            .container_spec
            .as_ref()
            .map(|c| c.image.clone())
            .unwrap_or_default();
        let image = if options.no_trunc {
            image
        } else {
            image.split('@').next().unwrap_or_default().to_string()
        };
        let age = parse_time(&task.status.timestamp).map(|t| human_duration(now.0.saturating_sub(t.0)));
        let current = format!(
            "{} {} ago",
            capitalised(&task.status.state),
            age.unwrap_or_default().to_lowercase()
        );
        let mut error = task.status.err.clone();
        if !options.no_trunc && error.chars().count() > MAX_ERROR {
            error = error.chars().take(MAX_ERROR - 1).collect::<String>() + "…";
        }
        let error = if error.is_empty() {
            error
        } else {
            format!("\"{error}\"")
        };
        let ports: Vec<String> = task
            .status
            .port_status
            .ports
            .iter()
            .map(|p| format!("*:{}->{}/{}", p.published_port, p.target_port, p.protocol))
            .collect();
        rows.push(vec![
            if options.no_trunc {
                task.id.clone()
            } else {
                short_id(&task.id).to_string()
            },
            shown_name,
            image,
            nodes
                .get(&task.node_id)
                .cloned()
                .unwrap_or_else(|| task.node_id.clone()),
            capitalised(&task.desired_state),
            current,
            error,
            ports.join(","),
        ]);
    }
    rows
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use api::model::{ContainerSpec, TaskSpec, TaskStatus};

    use super::*;

    fn task(id: &str, slot: u64, created: &str, desired: &str, err: &str) -> Task {
        Task {
            id: id.into(),
            created_at: created.into(),
            service_id: "s1".into(),
            slot,
            node_id: "n1".into(),
            desired_state: desired.into(),
            spec: TaskSpec {
                container_spec: Some(ContainerSpec {
                    image: "busybox:1@sha256:abc".into(),
                    ..Default::default()
                }),
                ..Default::default()
            },
            status: TaskStatus {
                timestamp: "1970-01-01T00:00:00Z".into(),
                state: if desired == "running" {
                    "running".into()
                } else {
                    "shutdown".into()
                },
                err: err.into(),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn older_tasks_of_a_slot_are_indented() {
        let services = HashMap::from([("s1".to_string(), "web".to_string())]);
        let nodes = HashMap::from([("n1".to_string(), "alpha".to_string())]);
        let tasks = vec![
            task(
                "t2aaaaaaaaaaaaaaaaaaaaaaa",
                10,
                "1970-01-01T00:00:02Z",
                "running",
                "",
            ),
            task(
                "t1old",
                1,
                "1970-01-01T00:00:01Z",
                "shutdown",
                "task: non-zero exit (1): something went wrong badly",
            ),
            task("t1new", 1, "1970-01-01T00:00:03Z", "running", ""),
        ];
        let text = render(
            sorted(tasks, &services),
            &services,
            &nodes,
            TableOptions::default(),
            types::Timestamp(90_000_000_000),
        );
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("ID "), "{text}");
        assert!(
            lines[1].starts_with("t1new ") && lines[1].contains(" web.1 "),
            "{text}"
        );
        assert!(lines[2].contains(" \\_ web.1 "), "{text}");
        assert!(lines[2].contains("\"task: non-zero exit (1): some…\""), "{text}");
        assert!(
            lines[3].starts_with("t2aaaaaaaaaa ") && lines[3].contains("web.10"),
            "{text}"
        );
        assert!(
            lines[1].contains("busybox:1 ") && lines[1].contains("alpha"),
            "{text}"
        );
        assert!(lines[1].contains("Running about a minute ago"), "{text}");
    }
}
