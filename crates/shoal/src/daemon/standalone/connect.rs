//! `docker network connect|disconnect` for standalone containers.
//!
//! - Not running: the attachment is made or given up (`network.rs`), and a created or exited
//!   container is prepared again so that its next start joins (or no longer joins) the
//!   network's sandbox (an exited one's writable layer and logs start afresh then).
//! - Running: the sandbox is made without a namespace and its endpoint goes into the running
//!   process's namespace (`agent::network::join`), with the network's `resolv.conf` and
//!   `hosts` written over the container's own (kept, and put back when it leaves while still
//!   running); each later start joins the new process again. Leaving takes the endpoint out
//!   of the namespace; a container that ran in the sandbox's own namespace since its start is
//!   prepared again at its next start (that namespace is gone).
//!
//! A container may be on several networks, one attachment (task, sandbox, address) each. The
//! first gives its runs their namespace (or, connected while running, joins the process's
//! own); each further one joins the running process's namespace as `eth1`, `eth2`, … after
//! every start, without a default route, and the files stay the first network's (its resolver
//! answers the names of every network the container is on). Disconnecting takes out only that
//! network's endpoint.

use agent::executor::{Executor, Phase};
use agent::network::join::replace_in_root;
use api::containers::container_id;
use api::convert::standalone::EndpointSettings;
use rules::Error;

use super::{Attachment, Entry, Result, Standalone, error};

impl Standalone {
    /// `docker network connect [--alias A] [--ip IP] KEY CONTAINER`.
    pub async fn connect(&self, key: &str, task_id: &str, endpoint: EndpointSettings) -> Result<()> {
        let entry = self.get(task_id)?;
        if let Some(a) = entry.attachment_on(key) {
            // dockerd's words (403).
            return Err(Error::Forbidden(format!(
                "endpoint with name {} already exists in network {}",
                entry.task.service_name, a.network_name
            )));
        }
        if entry.life.borrow().running {
            return self.connect_running(&entry, key, &endpoint).await;
        }
        let first = entry.attachments().is_empty();
        // A further network joins each run's namespace after its start: no namespace of its own.
        let attachment = self.attach_to(&entry, key, !first, &endpoint).await?;
        let attachment_id = attachment.task_id.clone();
        entry.push_attachment(attachment);
        let prepared = if first {
            self.reprepare(&entry).await
        } else {
            Ok(())
        };
        if let Err(e) = prepared.and_then(|()| self.save(&entry)) {
            self.detach_one(&entry, &attachment_id).await;
            return Err(e);
        }
        Ok(())
    }

    /// Connects a running container: its endpoint into the process's namespace, the network's
    /// files over its own.
    async fn connect_running(&self, entry: &Entry, key: &str, endpoint: &EndpointSettings) -> Result<()> {
        let id = &entry.task.id;
        let pid = self.executor.details(id).await.map_err(|e| error(id, e))?.pid;
        let first = entry.attachments().is_empty();
        let mut attachment = self.attach_to(entry, key, true, endpoint).await?;
        let attachment_id = attachment.task_id.clone();
        let joined = match self.swarm()?.join_container(&attachment.task_id, pid).await {
            // The first network's files; a further network's names come from the same
            // resolver (see the top of this file).
            Ok(()) if first => write_files(pid, &attachment).map(|restore| attachment.restore = restore),
            other => other,
        };
        entry.push_attachment(attachment);
        if let Err(e) = joined.and_then(|()| self.save(entry)) {
            self.detach_one(entry, &attachment_id).await;
            return Err(e);
        }
        Ok(())
    }

    /// Gives up one attachment of `entry` (its endpoint, sandbox and task).
    async fn detach_one(&self, entry: &Entry, attachment_id: &str) {
        if entry.take_attachment(attachment_id).is_some()
            && let Ok(swarm) = self.swarm()
        {
            swarm.detach_container(attachment_id).await;
        }
    }

    /// `docker network disconnect [-f] KEY CONTAINER`.
    pub async fn disconnect(&self, key: &str, task_id: &str, force: bool) -> Result<()> {
        let entry = self.get(task_id)?;
        let Some(attachment) = entry.attachment_on(key) else {
            if force {
                return Ok(());
            }
            // dockerd's words (403).
            return Err(Error::Forbidden(format!(
                "container {} is not connected to network {key}",
                container_id(task_id)
            )));
        };
        let running = entry.life.borrow().running;
        // The files a running container reads are its first network's: when that one leaves
        // and another stays, the next one's take their place (its resolver answers then).
        let held = entry.attachments();
        let next = held.get(1).filter(|_| held[0].task_id == attachment.task_id);
        let handed_over = match next {
            Some(next) if running => self.hand_files_over(&entry, &attachment, next).await,
            _ => false,
        };
        // Only this network's endpoint goes; the container's other networks stay.
        self.detach_one(&entry, &attachment.task_id).await;
        if !running {
            if !attachment.joined_after_start() {
                // Its runs were prepared in this one's namespace.
                self.reprepare(&entry).await?;
            }
            return self.save(&entry);
        }
        if handed_over && attachment.joined_after_start() {
            // The next network's files are in place; the originals wait for its leaving.
        } else if attachment.joined_after_start() {
            // Its own namespace stays, without the endpoint; its files as they were.
            if let Ok(d) = self.executor.details(task_id).await {
                for (name, text) in &attachment.restore {
                    if let Err(e) = replace_in_root(d.pid, name, text) {
                        tracing::warn!(container = %container_id(task_id), "restoring /etc/{name}: {e}");
                    }
                }
            }
        } else {
            // The run was prepared to join the sandbox's namespace, which is gone now.
            entry.reprepare.store(true, std::sync::atomic::Ordering::SeqCst);
        }
        self.save(&entry)
    }

    /// Puts the `next` attachment's `resolv.conf` and `hosts` where running container `entry`
    /// reads `leaving`'s: in place in the files bind-mounted into it (a run prepared in
    /// `leaving`'s namespace), else through its root, `next` then keeping the originals to put
    /// back. False when that failed (logged; the container keeps the old files).
    async fn hand_files_over(&self, entry: &Entry, leaving: &Attachment, next: &Attachment) -> bool {
        let id = &entry.task.id;
        let files = [
            (
                "resolv.conf",
                &leaving.sandbox.resolv_conf,
                &next.sandbox.resolv_conf,
            ),
            ("hosts", &leaving.sandbox.hosts, &next.sandbox.hosts),
        ];
        let pid = match self.executor.details(id).await {
            Ok(d) => d.pid,
            Err(_) => return false,
        };
        for (name, mounted, source) in files {
            let Some(source) = source else { continue };
            let written = std::fs::read_to_string(source).and_then(|text| match mounted {
                // Written in place, not renamed: the bind mount holds this inode.
                Some(mounted) if !leaving.joined_after_start() => std::fs::write(mounted, text),
                _ => replace_in_root(pid, name, &text).map(|_| ()),
            });
            if let Err(e) = written {
                tracing::warn!(container = %container_id(id), "handing /etc/{name} over to the next network: {e}");
                return false;
            }
        }
        if leaving.joined_after_start() {
            entry.update_attachment(&next.task_id, |a| a.restore = leaving.restore.clone());
        }
        true
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
            self.executor
                .remove_container(id, false)
                .await
                .map_err(|e| error(id, e))?;
            self.prepare(entry).await.map_err(|e| error(id, e))?;
            entry.reprepare.store(false, std::sync::atomic::Ordering::SeqCst);
        }
        Ok(())
    }
}

/// Writes the sandbox's `resolv.conf` and `hosts` into running process `pid`'s `/etc`; the
/// files they replaced, to put back.
pub(super) fn write_files(pid: i64, attachment: &Attachment) -> Result<Vec<(String, String)>> {
    let mut restore = Vec::new();
    let files = [
        ("resolv.conf", &attachment.sandbox.resolv_conf),
        ("hosts", &attachment.sandbox.hosts),
    ];
    for (name, source) in files {
        let Some(source) = source else { continue };
        let failed = |e: std::io::Error| Error::Internal(format!("writing the container's /etc/{name}: {e}"));
        let text = std::fs::read_to_string(source).map_err(failed)?;
        if let Some(earlier) = replace_in_root(pid, name, &text).map_err(failed)? {
            restore.push((name.to_owned(), earlier));
        }
    }
    Ok(restore)
}
