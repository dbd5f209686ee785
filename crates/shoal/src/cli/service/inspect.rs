//! `shoal service inspect`: a JSON array like `docker service inspect` (Swarm's defaults
//! filled in), or docker's `--pretty` text.

use std::fmt::Write as _;
use std::io::Write as _;

use api::Client;
use api::model::{Service, UpdateConfig};

use crate::cli::Console;
use crate::cli::duration;
use crate::cli::output::{bytes_size, human_duration, indented_json, now, parse_time};

/// Flags of `service inspect`.
#[derive(clap::Args, Debug)]
pub struct InspectArgs {
    /// Format output: `json` (default), `pretty`, or a Go template (`{{.Spec.Name}}`).
    #[arg(short, long, default_value = "json")]
    format: String,
    /// Human-readable output (same as `--format pretty`).
    #[arg(long)]
    pretty: bool,
    /// Service names, IDs or ID prefixes.
    #[arg(required = true, value_name = "SERVICE")]
    services: Vec<String>,
}

/// Prints the services found, then fails if any was not.
pub async fn run(client: &Client, console: &mut Console, args: InspectArgs) -> anyhow::Result<()> {
    let pretty = args.pretty || args.format == "pretty";
    // `json` (and no format) is the indented array; anything else but `pretty` is a template.
    let template = (!pretty && !matches!(args.format.trim(), "json" | ""))
        .then(|| crate::cli::template::Format::parse(Some(&args.format)));
    let mut found = Vec::new();
    let mut failures = Vec::new();
    for key in &args.services {
        match crate::cli::lookup::service(client, key, true).await {
            Ok(service) => found.push(service),
            Err(e) if e.is_not_found() => failures.push(format!("no such service: {key}")),
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
        for service in &found {
            write!(console.out, "{}", render_pretty(service, now()))?;
        }
    } else {
        writeln!(console.out, "{}", indented_json(&found)?)?;
    }
    if !failures.is_empty() {
        anyhow::bail!("{}", failures.join("\n"));
    }
    Ok(())
}

/// An update or rollback config in docker's words; `what` is `Update` or `Rollback`.
fn config_lines(out: &mut String, title: &str, what: &str, c: &UpdateConfig) {
    let _ = writeln!(out, "{title}:\n Parallelism:\t{}", c.parallelism);
    if c.delay > 0 {
        let _ = writeln!(out, " Delay:\t\t{}", duration::format(c.delay));
    }
    let _ = writeln!(out, " On failure:\t{}", c.failure_action);
    if c.monitor > 0 {
        let _ = writeln!(out, " Monitoring Period: {}", duration::format(c.monitor));
    }
    let _ = writeln!(out, " Max failure ratio: {}", c.max_failure_ratio);
    let _ = writeln!(
        out,
        " {what} order:{}{}",
        if what == "Update" { "      " } else { "    " },
        c.order
    );
}

/// Docker's pretty template (the parts shoal models), tabs included.
fn render_pretty(service: &Service, now: types::Timestamp) -> String {
    let spec = &service.spec;
    let task = &spec.task_template;
    let container = task.container_spec.clone().unwrap_or_default();
    let mut out = String::from("\n");
    // Writing to a String cannot fail; the results are ignored for that reason.
    let _ = writeln!(out, "ID:\t\t{}\nName:\t\t{}", service.id, spec.name);
    if !spec.labels.is_empty() {
        let _ = writeln!(out, "Labels:");
        for (k, v) in &spec.labels {
            let _ = if v.is_empty() {
                writeln!(out, " {k}")
            } else {
                writeln!(out, " {k}={v}")
            };
        }
    }
    let mode = &spec.mode;
    let _ = write!(out, "Service Mode:");
    if mode.global.is_some() {
        let _ = writeln!(out, "\tGlobal");
    } else if let Some(replicated) = &mode.replicated {
        let _ = writeln!(out, "\tReplicated");
        if let Some(replicas) = replicated.replicas {
            let _ = writeln!(out, " Replicas:\t{replicas}");
        }
    } else if let Some(job) = &mode.replicated_job {
        let _ = writeln!(out, "\tReplicated job");
        let _ = writeln!(
            out,
            " Max concurrent:\t{}\n Total completions:\t{}",
            job.max_concurrent.unwrap_or(1),
            job.total_completions.unwrap_or(1)
        );
    } else if mode.global_job.is_some() {
        let _ = writeln!(out, "\tGlobal job");
    } else {
        out.push('\n');
    }
    if let Some(status) = service.update_status.as_ref().filter(|s| !s.state.is_empty()) {
        let ago = |t: &Option<String>| {
            t.as_deref()
                .and_then(parse_time)
                .map(|t| format!("{} ago", human_duration(now.0.saturating_sub(t.0))))
        };
        let _ = writeln!(out, "UpdateStatus:\n State:\t\t{}", status.state);
        if let Some(started) = ago(&status.started_at) {
            let _ = writeln!(out, " Started:\t{started}");
        }
        if status.state == "completed"
            && let Some(completed) = ago(&status.completed_at)
        {
            let _ = writeln!(out, " Completed:\t{completed}");
        }
        let _ = writeln!(out, " Message:\t{}", status.message);
    }
    let _ = writeln!(out, "Placement:");
    if let Some(placement) = &task.placement {
        if !placement.constraints.is_empty() {
            let _ = writeln!(out, " Constraints:\t[{}]", placement.constraints.join(" "));
        }
        let prefs: Vec<String> = placement
            .preferences
            .iter()
            .filter_map(|p| p.spread.as_ref())
            .map(|s| format!("spread={}", s.spread_descriptor))
            .collect();
        if !prefs.is_empty() {
            let _ = writeln!(out, " Preferences:   [{}]", prefs.join(" "));
        }
        if placement.max_replicas > 0 {
            let _ = writeln!(out, " Max Replicas Per Node:   {}", placement.max_replicas);
        }
    }
    if let Some(update) = &spec.update_config {
        config_lines(&mut out, "UpdateConfig", "Update", update);
    }
    if let Some(rollback) = &spec.rollback_config {
        config_lines(&mut out, "RollbackConfig", "Rollback", rollback);
    }
    let _ = writeln!(out, "ContainerSpec:\n Image:\t\t{}", container.image);
    let words = |list: &[String]| list.iter().map(|w| format!("{w} ")).collect::<String>();
    if !container.args.is_empty() {
        let _ = writeln!(out, " Args:\t\t{}", words(&container.args));
    }
    if !container.env.is_empty() {
        let _ = writeln!(out, " Env:\t\t{}", words(&container.env));
    }
    if !container.dir.is_empty() {
        let _ = writeln!(out, " Dir:\t\t{}", container.dir);
    }
    if let Some(init) = container.extra.get("Init").and_then(|v| v.as_bool()) {
        let _ = writeln!(out, " Init:\t\t{init}");
    }
    if !container.user.is_empty() {
        let _ = writeln!(out, " User: {}", container.user);
    }
    if let Some(driver) = &task.log_driver {
        let _ = writeln!(out, "Log Driver:");
        if !driver.name.is_empty() {
            let _ = writeln!(out, " Name:\t\t{}", driver.name);
        }
        if !driver.options.is_empty() {
            let _ = writeln!(out, " LogOpts:");
            for (k, v) in &driver.options {
                let _ = writeln!(out, "  {k}:       {v}");
            }
        }
    }
    if let Some(resources) = &task.resources {
        let _ = writeln!(out, "Resources:");
        if let Some(r) = resources
            .reservations
            .as_ref()
            .filter(|r| r.nano_cpus > 0 || r.memory_bytes > 0)
        {
            let _ = writeln!(out, " Reservations:");
            if r.nano_cpus > 0 {
                let _ = writeln!(out, "  CPU:\t\t{}", r.nano_cpus as f64 / 1e9);
            }
            if r.memory_bytes > 0 {
                let _ = writeln!(out, "  Memory:\t{}", bytes_size(r.memory_bytes as f64));
            }
        }
        if let Some(l) = resources
            .limits
            .as_ref()
            .filter(|l| l.nano_cpus > 0 || l.memory_bytes > 0 || l.pids > 0)
        {
            let _ = writeln!(out, " Limits:");
            if l.nano_cpus > 0 {
                let _ = writeln!(out, "  CPU:\t\t{}", l.nano_cpus as f64 / 1e9);
            }
            if l.memory_bytes > 0 {
                let _ = writeln!(out, "  Memory:\t{}", bytes_size(l.memory_bytes as f64));
            }
            if l.pids > 0 {
                let _ = writeln!(out, "  PIDs:\t\t{}", l.pids);
            }
        }
    }
    if !task.networks.is_empty() {
        let names: String = task.networks.iter().map(|n| format!(" {}", n.target)).collect();
        let _ = writeln!(out, "Networks:{names} ");
    }
    let mode = spec.endpoint_spec.as_ref().map(|e| e.mode.as_str()).unwrap_or("");
    let _ = writeln!(out, "Endpoint Mode:\t{mode}");
    if !service.endpoint.ports.is_empty() {
        let _ = writeln!(out, "Ports:");
        for p in &service.endpoint.ports {
            let _ = writeln!(
                out,
                " PublishedPort = {}\n  Protocol = {}\n  TargetPort = {}\n  PublishMode = {}",
                p.published_port, p.protocol, p.target_port, p.publish_mode
            );
        }
    }
    if let Some(h) = &container.healthcheck {
        let _ = writeln!(
            out,
            " Healthcheck:\n  Interval = {}\n  Retries = {}\n  StartPeriod =\t{}\n  Timeout =\t{}",
            duration::format(h.interval),
            h.retries,
            duration::format(h.start_period),
            duration::format(h.timeout)
        );
        if !h.test.is_empty() {
            let _ = writeln!(out, "  Tests:");
            for test in &h.test {
                let _ = writeln!(out, "\t Test = {test}");
            }
        }
    }
    out.push('\n');
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn pretty_reads_like_docker() {
        let service: Service = serde_json::from_value(serde_json::json!({
            "ID": "s1",
            "Spec": {"Name": "web", "Labels": {"tier": "front"},
                     "TaskTemplate": {"ContainerSpec": {"Image": "busybox", "Args": ["sleep", "1000"], "Env": ["A=1"], "Init": false},
                                      "Resources": {"Limits": {"MemoryBytes": 268435456}, "Reservations": {"NanoCPUs": 500000000}},
                                      "Placement": {"Constraints": ["node.role==worker"]}},
                     "Mode": {"Replicated": {"Replicas": 3}},
                     "UpdateConfig": {"Parallelism": 2, "Delay": 10_000_000_000i64, "FailureAction": "pause", "Monitor": 5_000_000_000i64,
                                      "MaxFailureRatio": 0, "Order": "stop-first"},
                     "EndpointSpec": {"Mode": "vip"}},
            "Endpoint": {"Ports": [{"Protocol": "tcp", "TargetPort": 80, "PublishedPort": 8080, "PublishMode": "ingress"}]}
        }))
        .unwrap();
        let text = render_pretty(&service, types::Timestamp(0));
        for line in [
            "ID:\t\ts1\n",
            "Name:\t\tweb\nLabels:\n tier=front\nService Mode:\tReplicated\n Replicas:\t3\n",
            "Placement:\n Constraints:\t[node.role==worker]\n",
            "UpdateConfig:\n Parallelism:\t2\n Delay:\t\t10s\n On failure:\tpause\n Monitoring Period: 5s\n",
            " Update order:      stop-first\n",
            "ContainerSpec:\n Image:\t\tbusybox\n Args:\t\tsleep 1000 \n Env:\t\tA=1 \n Init:\t\tfalse\n",
            "Resources:\n Reservations:\n  CPU:\t\t0.5\n Limits:\n  Memory:\t256MiB\n",
            "Endpoint Mode:\tvip\nPorts:\n PublishedPort = 8080\n",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
    }
}
