//! One standalone container as the node holds it: its task, its network attachments (one
//! per attachable overlay) and its life so far.

use std::sync::{Arc, Mutex};

use agent::executor::{Exit, Sandbox};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use types::Task;

/// A container's place on an attachable overlay.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct Attachment {
    /// The attachment task holding its address.
    pub(super) task_id: String,
    /// The network's ID and name (`docker network disconnect` names it by either).
    #[serde(default)]
    pub(super) network_id: String,
    #[serde(default)]
    pub(super) network_name: String,
    /// The sandbox made for that task, which the container joins on every run: through the
    /// executor when it names a namespace, else (joined while running) after each start.
    pub(super) sandbox: Sandbox,
    /// Joined while running: the container's own `/etc` files as they were before the
    /// network's were written over them, put back when it leaves while still running.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(super) restore: Vec<(String, String)>,
}

impl Attachment {
    /// Whether the container's process joins the sandbox after each start (it was connected
    /// while running) rather than the executor putting it there.
    pub(super) fn joined_after_start(&self) -> bool {
        self.sandbox.netns.is_none()
    }

    /// Whether `key` names its network (by name or a prefix of its ID).
    pub(super) fn is_on(&self, key: &str) -> bool {
        self.network_name == key || (!key.is_empty() && self.network_id.starts_with(key))
    }
}

/// One container.
pub(super) struct Entry {
    pub(super) task: Arc<Task>,
    pub(super) auto_remove: bool,
    /// Its network attachments, one per network: the first set at create (after the name is
    /// reserved, before the first prepare) or by `network connect`, more by later connects,
    /// each taken by `network disconnect`. A run is prepared in the first one's namespace
    /// when it has one; the others join the running process's namespace after each start.
    pub(super) attachments: Mutex<Vec<Attachment>>,
    /// The prepared run no longer fits the container's networks (it left, while running, the
    /// namespace that run was prepared to join): its next start prepares it again.
    pub(super) reprepare: std::sync::atomic::AtomicBool,
    /// Exits so far and the last one; `docker wait` and `docker run` follow it.
    pub(super) life: watch::Sender<Life>,
    /// Clients attached to its output (auto-removal waits for them to drain).
    pub(super) attached: watch::Sender<usize>,
}

impl Entry {
    pub(super) fn lock_attachments(&self) -> std::sync::MutexGuard<'_, Vec<Attachment>> {
        // Every change is one push, remove or assignment: a poisoned value is still whole.
        self.attachments.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn attachments(&self) -> Vec<Attachment> {
        self.lock_attachments().clone()
    }

    /// Its attachment on the network `key` names.
    pub(super) fn attachment_on(&self, key: &str) -> Option<Attachment> {
        self.lock_attachments().iter().find(|a| a.is_on(key)).cloned()
    }

    /// The attachment whose namespace its runs are prepared in.
    pub(super) fn prepared_in(&self) -> Option<Attachment> {
        self.lock_attachments()
            .iter()
            .find(|a| !a.joined_after_start())
            .cloned()
    }

    pub(super) fn take_attachments(&self) -> Vec<Attachment> {
        std::mem::take(&mut *self.lock_attachments())
    }

    /// Takes the attachment of attachment task `task_id` out.
    pub(super) fn take_attachment(&self, task_id: &str) -> Option<Attachment> {
        let mut held = self.lock_attachments();
        let at = held.iter().position(|a| a.task_id == task_id)?;
        Some(held.remove(at))
    }

    pub(super) fn set_attachments(&self, attachments: Vec<Attachment>) {
        *self.lock_attachments() = attachments;
    }

    /// Changes the attachment of attachment task `task_id`, if it holds it.
    pub(super) fn update_attachment(&self, task_id: &str, change: impl FnOnce(&mut Attachment)) {
        if let Some(a) = self.lock_attachments().iter_mut().find(|a| a.task_id == task_id) {
            change(a);
        }
    }

    pub(super) fn push_attachment(&self, attachment: Attachment) {
        self.lock_attachments().push(attachment);
    }
}

#[derive(Debug, Clone, Default)]
pub(super) struct Life {
    pub(super) exits: u64,
    pub(super) last: Option<Exit>,
    pub(super) running: bool,
    /// Runs prepared by `start` so far; a client attached to an ended run waits for the next.
    pub(super) runs: u64,
    /// The executor's run has ended; the next `start` reruns the container.
    pub(super) ended: bool,
    /// The container was removed: no run will come.
    pub(super) removed: bool,
    /// When the latest run was started: its log lines are the ones at or after it (a
    /// restarted container's logs hold its earlier runs' lines before them).
    pub(super) run_started: Option<types::Timestamp>,
}
