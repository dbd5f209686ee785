//! `docker stats` and `docker top` of a task container: read from its cgroup directories
//! (v2: `memory.current`, `cpu.stat`, `pids.current`; v1: `memory.usage_in_bytes`,
//! `cpuacct.usage`, `pids.current`, each in its controller's directory) and from `ps`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use api::containers::{ContainerStats, ContainerTop};
use rules::Error;

use super::swarm::Swarm;

type Result<T> = std::result::Result<T, Error>;

/// `/proc/stat` counts in USER_HZ, which Linux fixes at 100 for user space whatever the
/// kernel's own tick rate.
const USER_HZ: u64 = 100;

/// A v1 limit this large means "no limit" (the kernel's page-rounded `LONG_MAX`).
const V1_UNLIMITED: u64 = 1 << 62;

/// Output of `ps` read at most (a container with thousands of processes still fits).
const PS_OUTPUT_LIMIT: usize = 16 << 20;

impl Swarm {
    /// One sample of a running task container's cgroups.
    pub(crate) async fn container_sample(&self, task_id: &str) -> Result<ContainerStats> {
        let dirs = self.container_cgroups(task_id).await?;
        let read = self.clock.now();
        tokio::task::spawn_blocking(move || sample(&dirs, read))
            .await
            .map_err(|e| Error::Internal(format!("stats reader: {e}")))
    }

    /// `ps` (with `ps_args`, default `-ef`) filtered to the container's processes, as
    /// dockerd does it.
    pub(crate) async fn container_ps(&self, task_id: &str, ps_args: &str) -> Result<ContainerTop> {
        let dirs = self.container_cgroups(task_id).await?;
        let pids: HashSet<String> = tokio::task::spawn_blocking(move || procs(&dirs))
            .await
            .map_err(|e| Error::Internal(format!("cgroup reader: {e}")))?
            .into_iter()
            .map(|p| p.to_string())
            .collect();
        let args: Vec<&str> = match ps_args.trim() {
            "" => vec!["-ef"],
            a => a.split_whitespace().collect(),
        };
        let output = tokio::process::Command::new("ps")
            .args(&args)
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .map_err(|e| Error::Internal(format!("running ps: {e}")))?;
        if !output.status.success() {
            return Err(Error::Internal(format!(
                "ps: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        let text = String::from_utf8_lossy(&output.stdout[..output.stdout.len().min(PS_OUTPUT_LIMIT)]);
        parse_ps(&text, &pids)
    }
}

/// dockerd's reading of `ps` output: titles from the first line, the last column takes the
/// rest of each line, and only rows whose PID is in `pids` are kept.
fn parse_ps(text: &str, pids: &HashSet<String>) -> Result<ContainerTop> {
    let mut lines = text.lines();
    let titles: Vec<String> = lines
        .next()
        .unwrap_or("")
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let pid_col = titles
        .iter()
        .position(|t| t == "PID")
        .ok_or_else(|| Error::InvalidArgument("Couldn't find PID field in ps output".into()))?;
    let mut processes = Vec::new();
    for line in lines {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < titles.len() || titles.is_empty() {
            continue;
        }
        if !pids.contains(fields[pid_col]) {
            continue;
        }
        let last = titles.len() - 1;
        let mut row: Vec<String> = fields[..last].iter().map(|f| (*f).to_owned()).collect();
        row.push(fields[last..].join(" "));
        processes.push(row);
    }
    Ok(ContainerTop { titles, processes })
}

/// The processes in the container's cgroups and their descendants' cgroups.
fn procs(dirs: &[PathBuf]) -> Vec<i32> {
    let mut out = HashSet::new();
    let mut stack: Vec<PathBuf> = dirs.to_vec();
    while let Some(dir) = stack.pop() {
        let text = std::fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
        out.extend(text.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
        if let Ok(entries) = std::fs::read_dir(&dir) {
            stack.extend(entries.flatten().map(|e| e.path()).filter(|p| p.is_dir()));
        }
    }
    let mut pids: Vec<i32> = out.into_iter().collect();
    pids.sort_unstable();
    pids
}

fn sample(dirs: &[PathBuf], read: types::Timestamp) -> ContainerStats {
    let number = |name: &str| dirs.iter().find_map(|d| read_number(&d.join(name)));
    let host_memory = host_memory();
    let (usage, limit, cache) = match number("memory.current") {
        // v2
        Some(current) => (
            current,
            number("memory.max").unwrap_or(host_memory),
            stat_field(dirs, "memory.stat", "inactive_file"),
        ),
        None => (
            number("memory.usage_in_bytes").unwrap_or(0),
            number("memory.limit_in_bytes")
                .filter(|l| *l < V1_UNLIMITED)
                .unwrap_or(host_memory),
            stat_field(dirs, "memory.stat", "total_inactive_file"),
        ),
    };
    let cpu_total = number("cpuacct.usage")
        .or_else(|| stat_field_opt(dirs, "cpu.stat", "usage_usec").map(|us| us.saturating_mul(1000)))
        .unwrap_or(0);
    let (system_cpu, online_cpus) = host_cpu();
    ContainerStats {
        read,
        memory_usage: usage,
        memory_limit: limit.min(host_memory.max(1)),
        memory_cache: cache,
        cpu_total,
        system_cpu,
        online_cpus,
        pids: number("pids.current").unwrap_or(0),
        pids_limit: number("pids.max").unwrap_or(0),
    }
}

/// A file holding one number; `max` and unreadable files give `None`.
fn read_number(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

fn stat_field_opt(dirs: &[PathBuf], file: &str, key: &str) -> Option<u64> {
    dirs.iter().find_map(|d| {
        let text = std::fs::read_to_string(d.join(file)).ok()?;
        text.lines().find_map(|l| {
            let (k, v) = l.split_once(' ')?;
            (k == key).then(|| v.trim().parse().ok()).flatten()
        })
    })
}

fn stat_field(dirs: &[PathBuf], file: &str, key: &str) -> u64 {
    stat_field_opt(dirs, file, key).unwrap_or(0)
}

/// `MemTotal` of `/proc/meminfo`, bytes.
fn host_memory() -> u64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

/// The host's CPU time (nanoseconds, all CPUs) and its online CPUs, from `/proc/stat`.
fn host_cpu() -> (u64, u32) {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let mut total = 0;
    let mut cpus = 0;
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        match fields.next() {
            Some("cpu") => {
                // user nice system idle iowait irq softirq steal (guest time is inside user).
                total = fields.take(8).filter_map(|f| f.parse::<u64>().ok()).sum::<u64>();
            }
            Some(name) if name.starts_with("cpu") => cpus += 1,
            _ => {}
        }
    }
    (total.saturating_mul(1_000_000_000 / USER_HZ), cpus)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ps_rows_are_those_of_the_container_with_the_command_kept_whole() {
        let text = "UID PID PPID C STIME TTY TIME CMD\n\
                    root 1 0 0 10:00 ? 00:00:01 /sbin/init\n\
                    root 4242 4000 0 10:01 ? 00:00:00 busybox sleep 100000\n";
        let pids: HashSet<String> = ["4242".to_owned()].into();
        let top = parse_ps(text, &pids).unwrap();
        assert_eq!(top.titles.len(), 8);
        assert_eq!(top.processes.len(), 1);
        assert_eq!(top.processes[0][1], "4242");
        assert_eq!(top.processes[0][7], "busybox sleep 100000");
        assert!(parse_ps("USER COMMAND\n", &pids).is_err());
    }
}
