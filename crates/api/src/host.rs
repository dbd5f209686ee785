//! Facts about this machine that `/info` and `/version` report, read once at start-up from
//! `/proc` and `/etc` (missing files leave a field empty rather than failing).

use std::path::Path;

/// What the API says about the host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostFacts {
    /// Kernel release (`/proc/sys/kernel/osrelease`).
    pub kernel_version: String,
    /// `PRETTY_NAME` from os-release.
    pub operating_system: String,
    /// `VERSION_ID` from os-release.
    pub os_version: String,
    /// CPUs this process may use.
    pub ncpu: i64,
    /// Total memory in bytes (`/proc/meminfo`).
    pub mem_total: i64,
    /// A stable host identity (`/etc/machine-id`), empty if unknown.
    pub machine_id: String,
    /// `1` or `2`.
    pub cgroup_version: String,
}

impl HostFacts {
    /// Reads the facts from the running system.
    pub fn read() -> HostFacts {
        let read = |path: &str| std::fs::read_to_string(path).unwrap_or_default();
        let os_release = match std::fs::read_to_string("/etc/os-release") {
            Ok(text) => text,
            Err(_) => read("/usr/lib/os-release"),
        };
        let cgroup_version = if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
            "2"
        } else {
            "1"
        }
        .to_string();
        HostFacts {
            kernel_version: read("/proc/sys/kernel/osrelease").trim().to_string(),
            operating_system: os_release_value(&os_release, "PRETTY_NAME").unwrap_or_else(|| "Linux".into()),
            os_version: os_release_value(&os_release, "VERSION_ID").unwrap_or_default(),
            ncpu: std::thread::available_parallelism()
                .map(|n| n.get() as i64)
                .unwrap_or(1),
            mem_total: mem_total_bytes(&read("/proc/meminfo")).unwrap_or(0),
            machine_id: read("/etc/machine-id").trim().to_string(),
            cgroup_version,
        }
    }
}

/// The CPU architecture in `uname -m` spelling (what `/info` and node descriptions use).
pub fn uname_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86" => "i686",
        "arm" => "armv7l",
        other => other,
    }
}

/// The CPU architecture in Go's GOARCH spelling (what `/version` `Arch` uses).
pub fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        "loongarch64" => "loong64",
        other => other,
    }
}

/// A value from os-release text, unquoted.
fn os_release_value(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once('=')?;
        (k.trim() == key).then(|| v.trim().trim_matches('"').trim_matches('\'').to_string())
    })
}

/// `MemTotal` from /proc/meminfo, converted from kB to bytes.
fn mem_total_bytes(meminfo: &str) -> Option<i64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kb: i64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kb.checked_mul(1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_and_os_release() {
        assert_eq!(
            mem_total_bytes("MemFree: 1 kB\nMemTotal:       2048 kB\n"),
            Some(2_097_152)
        );
        assert_eq!(mem_total_bytes("garbage"), None);
        let os =
            "NAME=\"Debian GNU/Linux\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nVERSION_ID=\"12\"\n";
        assert_eq!(
            os_release_value(os, "PRETTY_NAME").as_deref(),
            Some("Debian GNU/Linux 12 (bookworm)")
        );
        assert_eq!(os_release_value(os, "VERSION_ID").as_deref(), Some("12"));
        assert_eq!(os_release_value(os, "ID"), None);
    }

    #[test]
    fn arch_spellings() {
        if cfg!(target_arch = "x86_64") {
            assert_eq!((uname_arch(), go_arch()), ("x86_64", "amd64"));
        }
    }
}
