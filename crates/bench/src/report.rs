//! Writing results into BENCHMARKS.md: one fenced section per benchmark, replaced on rerun,
//! each with the machine facts it was measured on.

use std::path::Path;

/// Machine facts: CPU, cores, memory, kernel, commit, date.
pub fn machine_facts() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let mem_gib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0 / 1024.0)
        .unwrap_or(0.0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_string();
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let date = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    format!("Machine: {cpu}, {cores} cores, {mem_gib:.0} GiB RAM, Linux {kernel}; commit {commit}; {date}.")
}

/// Replaces (or appends) the section `name` of the report at `path` with `body`.
pub fn write_section(path: &Path, name: &str, body: &str) -> anyhow::Result<()> {
    let begin = format!("<!-- bench:{name} -->");
    let end = format!("<!-- /bench:{name} -->");
    let mut text = std::fs::read_to_string(path).unwrap_or_else(|_| "# Benchmarks\n\n".to_string());
    let section = format!("{begin}\n{}\n{end}", body.trim_end());
    match (text.find(&begin), text.find(&end)) {
        (Some(a), Some(b)) if b > a => text.replace_range(a..b + end.len(), &section),
        _ => {
            if !text.ends_with("\n\n") {
                text.push('\n');
            }
            text.push_str(&section);
            text.push('\n');
        }
    }
    std::fs::write(path, text)?;
    Ok(())
}

/// The p-th percentile (0–100) of sorted samples; shared with the measurement tests.
pub use testkit::stats::percentile;

/// The 1-minute load average, as /proc/loadavg shows it.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}
