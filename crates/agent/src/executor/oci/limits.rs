//! What bounds a container: cgroup resources from the spec's limits, Docker's default
//! capability set with CapabilityAdd/Drop, ulimits as rlimits, and the namespaced sysctls
//! Docker allows.

use std::collections::HashSet;

use oci_spec::runtime::{
    Capability, LinuxCpuBuilder, LinuxMemoryBuilder, LinuxPidsBuilder, LinuxResourcesBuilder, PosixRlimit,
    PosixRlimitBuilder, PosixRlimitType,
};
use types::Task;

use super::extras::Extras;
use super::spec::spec_error;
use crate::executor::{Error, Result};

/// CFS period used to express NanoCPUs as a quota (Docker's).
const CPU_PERIOD: u64 = 100_000;

/// Docker's default capabilities (`oci/caps/defaults.go`'s list, as facts).
const DEFAULT_CAPS: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Memory, CPU and pids limits as cgroup resources.
pub fn resources(task: &Task) -> Result<oci_spec::runtime::LinuxResources> {
    let limits = task.spec.resources.limits;
    let mut builder = LinuxResourcesBuilder::default().devices(Vec::new());
    if limits.memory_bytes > 0 {
        builder = builder.memory(
            LinuxMemoryBuilder::default()
                .limit(limits.memory_bytes)
                .build()
                .map_err(spec_error)?,
        );
    }
    if limits.nano_cpus > 0 {
        let quota = (i128::from(limits.nano_cpus) * i128::from(CPU_PERIOD) / 1_000_000_000).max(1000);
        builder = builder.cpu(
            LinuxCpuBuilder::default()
                .period(CPU_PERIOD)
                .quota(quota as i64)
                .build()
                .map_err(spec_error)?,
        );
    }
    if limits.pids > 0 {
        builder = builder.pids(
            LinuxPidsBuilder::default()
                .limit(limits.pids)
                .build()
                .map_err(spec_error)?,
        );
    }
    builder.build().map_err(spec_error)
}

/// Docker's default set, then CapabilityAdd, then CapabilityDrop (`ALL` allowed in both).
pub fn capabilities(extras: &Extras) -> Result<HashSet<Capability>> {
    let parse = |name: &str| -> Result<Capability> {
        let upper = name.trim().to_ascii_uppercase();
        let full = if upper.starts_with("CAP_") {
            upper
        } else {
            format!("CAP_{upper}")
        };
        serde_json::from_value(serde_json::Value::String(full))
            .map_err(|_| Error::Invalid(format!("unknown capability {name:?}")))
    };
    let all = || -> Vec<Capability> { ALL_CAPS.iter().filter_map(|c| parse(c).ok()).collect() };
    let mut caps: HashSet<Capability> = DEFAULT_CAPS.iter().map(|c| parse(c)).collect::<Result<_>>()?;
    for add in extras.capability_add.iter().flatten() {
        if add.eq_ignore_ascii_case("ALL") {
            caps.extend(all());
        } else {
            caps.insert(parse(add)?);
        }
    }
    for drop in extras.capability_drop.iter().flatten() {
        if drop.eq_ignore_ascii_case("ALL") {
            caps.clear();
        } else {
            caps.remove(&parse(drop)?);
        }
    }
    Ok(caps)
}

/// Every capability name, for `CapabilityAdd: ["ALL"]`.
const ALL_CAPS: [&str; 41] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "LINUX_IMMUTABLE",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_ADMIN",
    "NET_RAW",
    "IPC_LOCK",
    "IPC_OWNER",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_CHROOT",
    "SYS_PTRACE",
    "SYS_PACCT",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_NICE",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "MKNOD",
    "LEASE",
    "AUDIT_WRITE",
    "AUDIT_CONTROL",
    "SETFCAP",
    "MAC_OVERRIDE",
    "MAC_ADMIN",
    "SYSLOG",
    "WAKE_ALARM",
    "BLOCK_SUSPEND",
    "AUDIT_READ",
    "PERFMON",
    "BPF",
    "CHECKPOINT_RESTORE",
];

/// The spec's ulimits, and the engine's nofile limit unless the spec sets one.
pub fn rlimits(extras: &Extras) -> Result<Vec<PosixRlimit>> {
    let mut out: Vec<PosixRlimit> = Vec::new();
    for u in extras.ulimits.iter().flatten() {
        let name = format!("RLIMIT_{}", u.name.to_ascii_uppercase());
        let typ: PosixRlimitType = serde_json::from_value(serde_json::Value::String(name))
            .map_err(|_| Error::Invalid(format!("unknown ulimit {:?}", u.name)))?;
        if u.soft < -1 || u.hard < -1 || (u.hard >= 0 && u.soft > u.hard) || (u.hard >= 0 && u.soft == -1) {
            return Err(Error::Invalid(format!(
                "ulimit {}: soft limit {} must not exceed hard limit {}",
                u.name, u.soft, u.hard
            )));
        }
        let value = |v: i64| if v < 0 { u64::MAX } else { v as u64 };
        let limit = PosixRlimitBuilder::default()
            .typ(typ)
            .soft(value(u.soft))
            .hard(value(u.hard))
            .build()
            .map_err(spec_error)?;
        out.retain(|l| l.typ() != typ);
        out.push(limit);
    }
    if !out.iter().any(|l| l.typ() == PosixRlimitType::RlimitNofile) {
        // As with Docker, a container inherits the engine's own open-files limit (raising
        // it would need CAP_SYS_RESOURCE, which the agent may lack).
        if let Some((soft, hard)) = own_nofile() {
            out.push(
                PosixRlimitBuilder::default()
                    .typ(PosixRlimitType::RlimitNofile)
                    .soft(soft)
                    .hard(hard)
                    .build()
                    .map_err(spec_error)?,
            );
        }
    }
    Ok(out)
}

/// This process's open-files limit (soft, hard), from /proc/self/limits.
fn own_nofile() -> Option<(u64, u64)> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let mut fields = line["Max open files".len()..].split_whitespace();
    let parse = |f: Option<&str>| match f? {
        "unlimited" => Some(u64::MAX),
        n => n.parse().ok(),
    };
    Some((parse(fields.next())?, parse(fields.next())?))
}

/// Only sysctls that are namespaced by the container's own namespaces (Docker's rule).
pub fn check_sysctl(key: &str) -> Result<()> {
    const IPC: [&str; 6] = [
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
    ];
    let ok = IPC.contains(&key)
        || key == "kernel.shmmni"
        || key == "kernel.shm_rmid_forced"
        || key.starts_with("fs.mqueue.")
        || key.starts_with("net.");
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "sysctl {key:?} is not allowed: only namespaced sysctls (kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue.*, net.*)"
        )))
    }
}
