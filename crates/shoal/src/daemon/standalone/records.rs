//! The containers' records on disk (`<data-dir>/standalone/records/<task>.json`, 0600,
//! rewritten through a rename) and their reading back when the agent starts.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use agent::executor::{Executor, Phase};
use api::containers::container_id;
use rules::Error;
use serde::{Deserialize, Serialize};
use types::Task;

use super::{Attachment, Entry, Result, Standalone};

/// What is kept on disk per container.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    task: Task,
    auto_remove: bool,
    /// Its first network attachment (`network.rs`): the attachment task's ID and the sandbox.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    attachment: Option<Attachment>,
    /// Its attachments to further networks (`docker network connect` of a connected one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    more_attachments: Vec<Attachment>,
    /// Its next start prepares it again (`Entry::reprepare`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    reprepare: bool,
}

impl Standalone {
    /// Reads the records back; a container the executor no longer holds is dropped (it
    /// cannot be shown honestly), a running one is watched again.
    pub(super) async fn reload(self: &Arc<Self>) -> anyhow::Result<()> {
        let held: HashMap<String, Phase> = self
            .executor
            .reattach()
            .await?
            .into_iter()
            .map(|a| (a.task_id, a.phase))
            .collect();
        for file in std::fs::read_dir(&self.records)? {
            let path = file?.path();
            let record: Record = match std::fs::read(&path)
                .map_err(anyhow::Error::from)
                .and_then(|b| serde_json::from_slice(&b).map_err(anyhow::Error::from))
            {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(path = %path.display(), "skipping an unreadable container record: {e}");
                    continue;
                }
            };
            let id = record.task.id.clone();
            let Some(phase) = held.get(&id) else {
                tracing::warn!(container = %container_id(&id), "standalone container lost (its state is gone); dropping its record");
                let _ = std::fs::remove_file(&path);
                continue;
            };
            let entry = self.insert(record.task, record.auto_remove);
            entry.set_attachments(
                record
                    .attachment
                    .into_iter()
                    .chain(record.more_attachments)
                    .collect(),
            );
            entry
                .reprepare
                .store(record.reprepare, std::sync::atomic::Ordering::SeqCst);
            match phase {
                Phase::Running => {
                    entry.life.send_modify(|l| l.running = true);
                    self.monitor(entry);
                }
                Phase::Exited(exit) => {
                    entry.life.send_modify(|l| {
                        l.last = Some(exit.clone());
                        l.ended = true;
                    });
                    if entry.auto_remove {
                        let _ = self.remove(&id, true, true).await;
                    }
                }
                Phase::Prepared => {}
            }
        }
        Ok(())
    }

    pub(super) fn record_path(&self, task_id: &str) -> PathBuf {
        self.records.join(format!("{task_id}.json"))
    }

    pub(super) fn save(&self, entry: &Entry) -> Result<()> {
        use std::io::Write as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let mut attachments = entry.attachments().into_iter();
        let record = Record {
            task: (*entry.task).clone(),
            auto_remove: entry.auto_remove,
            attachment: attachments.next(),
            more_attachments: attachments.collect(),
            reprepare: entry.reprepare.load(std::sync::atomic::Ordering::SeqCst),
        };
        let bytes = serde_json::to_vec(&record)
            .map_err(|e| Error::Internal(format!("encoding a container record: {e}")))?;
        let path = self.record_path(&entry.task.id);
        let tmp = path.with_extension("tmp");
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)
        };
        write().map_err(|e| Error::Internal(format!("writing {}: {e}", path.display())))
    }
}
