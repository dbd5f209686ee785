//! The seccomp filter of a container: by default, as dockerd's default profile does in
//! effect, the system calls that reach past a container's isolation fail with EPERM —
//! module loading, kexec, reboot, clock setting, keyrings, namespace creation and entry,
//! mounts, BPF and perf, raw I/O ports — unless the container holds the capability that
//! would make the call legitimate (`--cap-add SYS_ADMIN` allows mount, unshare, setns, …,
//! as dockerd's profile does). Everything else is allowed.
//!
//! ```text
//!  Privileges.Seccomp.Mode   "" | default ─► this deny list, gated by the container's capabilities
//!                            unconfined   ─► no filter
//!                            custom       ─► refused (no custom profiles yet)
//! ```
//!
//! A deny list rather than dockerd's allow list: a syscall added to the kernel later stays
//! usable, and the list says what it protects. libcontainer loads the filter before it
//! drops capabilities, so `no_new_privs` is not needed (setuid programs keep working).

use std::collections::HashSet;

use oci_spec::runtime::{
    Arch, Capability, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArgBuilder, LinuxSeccompBuilder,
    LinuxSeccompOperator, LinuxSyscall, LinuxSyscallBuilder,
};
use serde::Deserialize;

use crate::executor::{Error, Result};

/// `Privileges.Seccomp` of a ContainerSpec.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SeccompOpts {
    /// `default` (or empty), `unconfined` or `custom`.
    #[serde(default)]
    pub mode: String,
    /// The custom profile (JSON), with mode `custom`.
    #[serde(default)]
    pub profile: Option<String>,
}

/// What filter a container gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The deny list below.
    Default,
    /// No filter at all.
    Unconfined,
}

impl SeccompOpts {
    /// The mode asked for; custom profiles and unknown modes are refused.
    pub fn mode(&self) -> Result<Mode> {
        match self.mode.as_str() {
            "" | "default" => Ok(Mode::Default),
            "unconfined" => Ok(Mode::Unconfined),
            "custom" => Err(Error::Invalid(
                "Privileges.Seccomp: custom seccomp profiles are not supported by the oci executor yet; \
                 use the default profile or seccomp=unconfined"
                    .into(),
            )),
            other => Err(Error::Invalid(format!(
                "Privileges.Seccomp.Mode {other:?} is not one of default, unconfined, custom"
            ))),
        }
    }
}

/// Denied calls whose legitimate use needs a capability the container may have been given.
const GATED: &[(Capability, &[&str])] = &[
    (
        Capability::SysAdmin,
        &[
            "bpf",
            "fanotify_init",
            "fsconfig",
            "fsmount",
            "fsopen",
            "fspick",
            "lookup_dcookie",
            "mount",
            "mount_setattr",
            "move_mount",
            "open_tree",
            "perf_event_open",
            "pivot_root",
            "quotactl",
            "quotactl_fd",
            "setns",
            "swapoff",
            "swapon",
            "umount",
            "umount2",
            "unshare",
        ],
    ),
    (Capability::SysBoot, &["kexec_file_load", "kexec_load", "reboot"]),
    (
        Capability::SysModule,
        &[
            "create_module",
            "delete_module",
            "finit_module",
            "init_module",
            "query_module",
        ],
    ),
    (
        Capability::SysPtrace,
        &[
            "kcmp",
            "pidfd_getfd",
            "process_madvise",
            "process_vm_readv",
            "process_vm_writev",
        ],
    ),
    (Capability::SysRawio, &["iopl", "ioperm"]),
    (
        Capability::SysTime,
        &["clock_adjtime", "clock_settime", "settimeofday", "stime"],
    ),
    (Capability::SysPacct, &["acct"]),
    (
        Capability::SysNice,
        &["get_mempolicy", "mbind", "set_mempolicy", "move_pages"],
    ),
    (Capability::Syslog, &["syslog"]),
    (Capability::SysTtyConfig, &["vhangup"]),
    (Capability::DacReadSearch, &["open_by_handle_at"]),
];

/// Denied whatever the capabilities: kernel keyrings are not namespaced, the rest is
/// obsolete or an exploit primitive.
const ALWAYS: &[&str] = &[
    "add_key",
    "get_kernel_syms",
    "keyctl",
    "nfsservctl",
    "request_key",
    "sysfs",
    "_sysctl",
    "uselib",
    "userfaultfd",
    "ustat",
    "vm86",
    "vm86old",
];

/// The namespace flags `clone` may not carry without CAP_SYS_ADMIN.
const CLONE_NEW: &[u64] = &[
    libc::CLONE_NEWNS as u64,
    libc::CLONE_NEWUTS as u64,
    libc::CLONE_NEWIPC as u64,
    libc::CLONE_NEWUSER as u64,
    libc::CLONE_NEWPID as u64,
    libc::CLONE_NEWNET as u64,
    libc::CLONE_NEWCGROUP as u64,
];

/// The filter for a container holding `caps`, or none when unconfined.
pub fn profile(mode: Mode, caps: &HashSet<Capability>) -> Result<Option<LinuxSeccomp>> {
    if mode == Mode::Unconfined {
        return Ok(None);
    }
    let mut names: Vec<String> = ALWAYS.iter().map(|s| s.to_string()).collect();
    for (cap, calls) in GATED {
        if !caps.contains(cap) {
            names.extend(calls.iter().map(|s| s.to_string()));
        }
    }
    let mut syscalls = vec![deny(names, libc::EPERM)?];
    if !caps.contains(&Capability::SysAdmin) {
        // clone's flags are its first argument on x86 and arm (not on s390, which this
        // build does not target). One rule per flag: rules on one argument are ORed.
        let args = CLONE_NEW
            .iter()
            .map(|&flag| {
                LinuxSeccompArgBuilder::default()
                    .index(0usize)
                    .value(flag)
                    .value_two(flag)
                    .op(LinuxSeccompOperator::ScmpCmpMaskedEq)
                    .build()
                    .map_err(super::spec::spec_error)
            })
            .collect::<Result<Vec<_>>>()?;
        let mut clone = deny(vec!["clone".into()], libc::EPERM)?;
        clone.set_args(Some(args));
        syscalls.push(clone);
        // clone3's flags sit in a struct a filter cannot read: ENOSYS makes the C
        // libraries fall back to clone, which the rule above checks.
        syscalls.push(deny(vec!["clone3".into()], libc::ENOSYS)?);
    }
    LinuxSeccompBuilder::default()
        .default_action(LinuxSeccompAction::ScmpActAllow)
        .architectures(architectures())
        .syscalls(syscalls)
        .build()
        .map(Some)
        .map_err(super::spec::spec_error)
}

fn deny(names: Vec<String>, errno: i32) -> Result<LinuxSyscall> {
    LinuxSyscallBuilder::default()
        .names(names)
        .action(LinuxSeccompAction::ScmpActErrno)
        .errno_ret(errno as u32)
        .build()
        .map_err(super::spec::spec_error)
}

/// This build's architecture and the compat ones its kernel runs, so a 32-bit program in the
/// image is filtered too rather than killed as a foreign architecture.
fn architectures() -> Vec<Arch> {
    if cfg!(target_arch = "x86_64") {
        vec![Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32]
    } else if cfg!(target_arch = "aarch64") {
        vec![Arch::ScmpArchAarch64, Arch::ScmpArchArm]
    } else {
        vec![Arch::ScmpArchNative]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn denied(p: &LinuxSeccomp) -> Vec<String> {
        p.syscalls()
            .iter()
            .flatten()
            .filter(|s| s.args().is_none())
            .flat_map(|s| s.names().clone())
            .collect()
    }

    #[test]
    fn default_denies_namespace_and_keyring_calls_unless_a_capability_allows_them() {
        let p = profile(Mode::Default, &HashSet::new()).unwrap().unwrap();
        assert_eq!(p.default_action(), LinuxSeccompAction::ScmpActAllow);
        let names = denied(&p);
        for call in [
            "unshare",
            "setns",
            "mount",
            "keyctl",
            "reboot",
            "init_module",
            "clone3",
        ] {
            assert!(names.iter().any(|n| n == call), "{call} not denied");
        }
        let clone = p
            .syscalls()
            .iter()
            .flatten()
            .find(|s| s.names() == &["clone"])
            .unwrap();
        assert_eq!(clone.args().as_ref().map(Vec::len), Some(CLONE_NEW.len()));

        let admin = profile(Mode::Default, &HashSet::from([Capability::SysAdmin]))
            .unwrap()
            .unwrap();
        let names = denied(&admin);
        assert!(
            !names
                .iter()
                .any(|n| n == "unshare" || n == "mount" || n == "clone3")
        );
        assert!(names.iter().any(|n| n == "keyctl"), "keyrings stay denied");
        assert!(!admin.syscalls().iter().flatten().any(|s| s.names() == &["clone"]));
    }

    #[test]
    fn modes() {
        let opts = |m: &str| SeccompOpts {
            mode: m.into(),
            profile: None,
        };
        assert_eq!(opts("").mode().unwrap(), Mode::Default);
        assert_eq!(opts("unconfined").mode().unwrap(), Mode::Unconfined);
        assert!(
            opts("custom")
                .mode()
                .unwrap_err()
                .to_string()
                .contains("custom seccomp profiles")
        );
        assert!(opts("strict").mode().is_err());
        assert_eq!(profile(Mode::Unconfined, &HashSet::new()).unwrap(), None);
    }
}
