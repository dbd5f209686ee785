//! `docker network connect|disconnect` for standalone containers that are not running: the
//! attachment is made or given up (`network.rs`), and a created or exited container is prepared
//! again so that its next start joins (or no longer joins) the network's sandbox (an exited
//! one's writable layer and logs start afresh then). A running container is refused for now: joining
//! it would mean moving a live process's interfaces (and its `resolv.conf`, bind-mounted at
//! start) — stop it first.

use agent::executor::{Executor, Phase};
use api::containers::container_id;
use rules::Error;

use super::{Entry, Result, Standalone, error};

impl Standalone {
    /// `docker network connect KEY CONTAINER`.
    pub async fn connect(&self, key: &str, task_id: &str) -> Result<()> {
        let entry = self.get(task_id)?;
        refuse_running(&entry, "connect", key)?;
        if let Some(a) = entry.attachment() {
            if a.network_name == key || a.network_id.starts_with(key) {
                return Err(Error::Forbidden(format!(
                    "endpoint with name {} already exists in network {}",
                    entry.task.service_name, a.network_name
                )));
            }
            return Err(Error::Unimplemented(format!(
                "container {} is on network {}: a standalone container joins one network for now",
                entry.task.service_name, a.network_name
            )));
        }
        let attachment = self.attach_to(&entry, key).await?;
        entry.set_attachment(Some(attachment));
        if let Err(e) = self.reprepare(&entry).await.and_then(|()| self.save(&entry)) {
            self.detach(&entry).await;
            return Err(e);
        }
        Ok(())
    }

    /// `docker network disconnect [-f] KEY CONTAINER`.
    pub async fn disconnect(&self, key: &str, task_id: &str, force: bool) -> Result<()> {
        let entry = self.get(task_id)?;
        refuse_running(&entry, "disconnect", key)?;
        let on_it = entry
            .attachment()
            .is_some_and(|a| a.network_name == key || a.network_id.starts_with(key));
        if !on_it {
            if force {
                return Ok(());
            }
            return Err(Error::Forbidden(format!(
                "container {} is not connected to network {key}",
                container_id(task_id)
            )));
        }
        self.detach(&entry).await;
        self.reprepare(&entry).await?;
        self.save(&entry)
    }

    /// Prepares a container that is not running again, so its next start sees the
    /// attachment as it is now.
    async fn reprepare(&self, entry: &Entry) -> Result<()> {
        let id = &entry.task.id;
        let details = self.executor.details(id).await.map_err(|e| error(id, e))?;
        // An exited container too: a start re-runs what was prepared (same writable layer and
        // logs), which would join the old networks' sandboxes. Its layer and logs start afresh
        // then — unlike dockerd, which keeps them across a network change.
        if matches!(details.phase, Phase::Prepared | Phase::Exited(_)) {
            self.executor.remove(id).await.map_err(|e| error(id, e))?;
            self.prepare(entry).await.map_err(|e| error(id, e))?;
        }
        Ok(())
    }
}

fn refuse_running(entry: &Entry, verb: &str, key: &str) -> Result<()> {
    if entry.life.borrow().running {
        return Err(Error::Unimplemented(format!(
            "cannot {verb} running container {} and network {key}: shoal changes the networks of stopped containers only for now; stop it first",
            entry.task.service_name
        )));
    }
    Ok(())
}
