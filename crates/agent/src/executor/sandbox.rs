//! A task's network sandbox as the executor receives it: decided and made by the agent's
//! network layer (overlay endpoints attached, VIP table set) before the executor prepares the
//! task, so the task's process starts with its networks in place.
//!
//! How each executor honours it (`Executor::prepare_in`):
//! - `oci`: the container joins `netns` (the runtime spec names it by path instead of asking
//!   for a new namespace) and gets `resolv_conf` and `hosts` bind-mounted read-only at
//!   `/etc/resolv.conf` and `/etc/hosts`; its hostname stays its own.
//! - `process`: the supervisor's child enters `netns` before exec and, given either file,
//!   a private mount namespace of its own where they are bind-mounted read-only over the
//!   host's `/etc/resolv.conf` and `/etc/hosts` (the host's files stay as they are).
//! - `docker`: refuses a `netns` (dockerd cannot join a namespace given by path; its
//!   containers make their own, see `Executor::makes_own_netns`) and bind-mounts the files.
//! - `sim`: accepts any sandbox (hollow nodes have no network).
//!
//! Secret and config files (`payload_files`, on a per-task tmpfs the agent made) are
//! bind-mounted read-only at their paths by `oci` and `docker`; `process` tasks get the
//! tmpfs's `secrets/` and `configs/` directories in `SHOAL_SECRETS_DIR` and `SHOAL_CONFIGS_DIR`.
//!
//! The executors keep the sandbox in the task's state (the process and oci executors in its
//! `spec.json`), so a re-attached task, its health checks and `docker exec` see the same one.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Error, Result};

/// Where a task's networking lives. Empty (the default) for a task on no overlay network: the
/// executor's own default applies.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sandbox {
    /// The network namespace the task must join (a bind-mounted namespace file the agent made
    /// and attached the task's endpoints to).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netns: Option<PathBuf>,
    /// The file to give the task as `/etc/resolv.conf` (it names the networks' resolvers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolv_conf: Option<PathBuf>,
    /// The file to give the task as `/etc/hosts` (its own name and addresses).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosts: Option<PathBuf>,
    /// The task's secret and config files, each on its tmpfs (`crate::payloads`), to
    /// bind-mount read-only at its path in the task (`oci`, `docker`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub payload_files: Vec<PayloadFile>,
    /// The tmpfs holding them (`secrets/`, `configs/`), for executors that hand a task a
    /// directory instead of mounting files (`process`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_dir: Option<PathBuf>,
}

/// One secret or config file of a task.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayloadFile {
    /// The file on the task's tmpfs.
    pub source: PathBuf,
    /// Its absolute path inside the task.
    pub target: String,
}

impl Sandbox {
    /// True when the task has no sandbox to join.
    pub fn is_empty(&self) -> bool {
        self.netns.is_none()
            && self.resolv_conf.is_none()
            && self.hosts.is_none()
            && self.payload_files.is_empty()
            && self.payload_dir.is_none()
    }

    /// The files to bind-mount, as (source, path inside the task).
    pub fn files(&self) -> Vec<(&Path, &'static str)> {
        [
            (self.resolv_conf.as_deref(), "/etc/resolv.conf"),
            (self.hosts.as_deref(), "/etc/hosts"),
        ]
        .into_iter()
        .filter_map(|(source, target)| source.map(|s| (s, target)))
        .collect()
    }

    /// Checks what the agent handed over before a task is prepared in it, so a wrong path
    /// rejects the task with its name instead of failing the start: every path absolute, the
    /// namespace a network namespace file, the files regular files.
    pub fn check(&self) -> Result<()> {
        if let Some(netns) = &self.netns {
            absolute(netns, "network namespace")?;
            if !is_network_namespace(netns) {
                return Err(Error::Invalid(format!(
                    "sandbox network namespace {} is not a network namespace",
                    netns.display()
                )));
            }
        }
        let payloads = self
            .payload_files
            .iter()
            .map(|f| (f.source.as_path(), f.target.as_str()));
        for (source, target) in self.files().into_iter().chain(payloads) {
            absolute(source, target)?;
            match std::fs::metadata(source) {
                Ok(m) if m.is_file() => {}
                Ok(_) => {
                    return Err(Error::Invalid(format!(
                        "sandbox file for {target}: {} is not a regular file",
                        source.display()
                    )));
                }
                Err(e) => {
                    return Err(Error::io(
                        format!("sandbox file for {target}: {}", source.display()),
                        e,
                    ));
                }
            }
        }
        Ok(())
    }
}

fn absolute(path: &Path, what: &str) -> Result<()> {
    if path.is_absolute() {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "sandbox path for {what} {} is not absolute",
            path.display()
        )))
    }
}

/// True when `path` is a network namespace: a file on nsfs (a pinned namespace or a
/// `/proc/<pid>/ns/net`) whose namespace type is network.
fn is_network_namespace(path: &Path) -> bool {
    std::fs::File::open(path)
        .and_then(|f| super::process::sys::namespace_type(&f))
        .is_ok_and(|kind| kind == libc::CLONE_NEWNET)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_state_without_a_sandbox_reads_as_empty_and_paths_are_checked() {
        let empty: Sandbox = serde_json::from_str("{}").unwrap();
        assert!(empty.is_empty());
        assert_eq!(serde_json::to_string(&empty).unwrap(), "{}");
        let dir = tempfile::tempdir().unwrap();
        let resolv = dir.path().join("resolv.conf");
        std::fs::write(&resolv, "nameserver 10.0.0.2\n").unwrap();
        let ok = Sandbox {
            resolv_conf: Some(resolv.clone()),
            ..Sandbox::default()
        };
        ok.check().unwrap();
        assert_eq!(ok.files(), [(resolv.as_path(), "/etc/resolv.conf")]);
        let not_ns = Sandbox {
            netns: Some(resolv),
            ..Sandbox::default()
        };
        let err = not_ns.check().unwrap_err().to_string();
        assert!(err.contains("is not a network namespace"), "{err}");
        let relative = Sandbox {
            hosts: Some("hosts".into()),
            ..Sandbox::default()
        };
        assert!(relative.check().unwrap_err().to_string().contains("not absolute"));
        let own = Sandbox {
            netns: Some("/proc/self/ns/net".into()),
            ..Sandbox::default()
        };
        own.check().unwrap();
        let mnt = Sandbox {
            netns: Some("/proc/self/ns/mnt".into()),
            ..Sandbox::default()
        };
        assert!(
            mnt.check().is_err(),
            "a mount namespace is not a network namespace"
        );
    }
}
