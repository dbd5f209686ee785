//! What a node reports about itself: host name, platform, capacity, engine.

use std::collections::BTreeMap;

use types::{EngineDescription, NodeDescription, Platform, Resources};

/// Describes this host. `hostname` overrides the system name (several test nodes share one
/// machine); `labels` become `engine.labels.*`.
pub fn describe_host(hostname: Option<&str>, labels: BTreeMap<String, String>) -> NodeDescription {
    let hostname = hostname.map(str::to_string).unwrap_or_else(system_hostname);
    NodeDescription {
        hostname,
        platform: Platform {
            architecture: std::env::consts::ARCH.to_string(),
            os: std::env::consts::OS.to_string(),
        },
        resources: Resources {
            nano_cpus: cpus() * 1_000_000_000,
            memory_bytes: memory_bytes(),
        },
        engine: EngineDescription {
            engine_version: env!("CARGO_PKG_VERSION").to_string(),
            labels,
        },
    }
}

/// The kernel's host name.
pub fn system_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

fn cpus() -> i64 {
    std::thread::available_parallelism()
        .map(|n| n.get() as i64)
        .unwrap_or(1)
}

fn memory_bytes() -> i64 {
    let Ok(meminfo) = std::fs::read_to_string("/proc/meminfo") else {
        return 0;
    };
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse::<i64>().ok())
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_this_host() {
        let d = describe_host(Some("n1"), BTreeMap::new());
        assert_eq!(d.hostname, "n1");
        assert!(d.resources.nano_cpus >= 1_000_000_000);
        assert_eq!(d.platform.os, "linux");
    }
}
