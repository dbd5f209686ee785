//! A task's network sandbox as the executor receives it: decided and made by the agent's
//! network layer (overlay endpoints attached, VIP table set) before the executor prepares the
//! task, so the task's process starts with its networks in place.

use std::path::PathBuf;

/// Where a task's networking lives. Empty (the default) for a task on no overlay network: the
/// executor's own default applies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sandbox {
    /// The network namespace the task must join (a bind-mounted namespace file the agent made
    /// and attached the task's endpoints to).
    pub netns: Option<PathBuf>,
    /// The file to give the task as `/etc/resolv.conf` (it names the networks' resolvers).
    pub resolv_conf: Option<PathBuf>,
    /// The file to give the task as `/etc/hosts` (its own name and addresses).
    pub hosts: Option<PathBuf>,
}

impl Sandbox {
    /// True when the task has no sandbox to join.
    pub fn is_empty(&self) -> bool {
        self.netns.is_none() && self.resolv_conf.is_none() && self.hosts.is_none()
    }
}
