//! A standalone container on an attachable overlay (`docker run --network NET`): the address
//! is an attachment task in the store (`rules::controlapi::attachment`), made through this
//! node's manager; the sandbox is the node network layer's, made for that task as for any
//! task on the network, and the container's executor joins it.
//!
//! ```text
//! attach ─► manager: attachment task (NEW, this node) ─► allocator/scheduler ─► views
//!        ─► layer.sandbox(attachment) waits for its address ─► netns + eth0 + VIP table + files
//! detach ─► layer.release(attachment) ─► manager: delete the task (its address freed)
//! ```
//! A manager proposes it itself; a worker asks the leader (`AttachNetwork`/`DetachNetwork` on
//! its dispatcher identity, `manager/src/dispatcher/attach.rs`), which makes it for that node
//! only. Each attach first deletes this node's attachments that no container holds any more (a
//! daemon killed between making one and recording it, a container whose state was lost).

use rules::Error;
use rules::controlapi::attachment;

use super::Attachment;
use crate::daemon::swarm::{Local, Swarm};

type Result<T> = std::result::Result<T, Error>;

/// Age after which an attachment no container holds is deleted: far beyond the time one takes
/// to be made (its address is awaited for `agent::network::ATTACH_DEADLINE`, 10 s).
const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(120);

/// How long a worker waits for the leader to make or delete an attachment task.
const LEADER_CALL: std::time::Duration = std::time::Duration::from_secs(10);

impl Swarm {
    /// Attaches the container `name` (host name `hostname`; answering on the network to its
    /// name and `aliases`; at `address` when given) to network `key`: the attachment task and the sandbox made for it,
    /// which the container joins when it next starts — or, with `running`, which is made
    /// without a namespace, for the running container to join (`join_container`).
    pub(super) async fn attach_container(
        &self,
        key: &str,
        name: &str,
        hostname: &str,
        aliases: Vec<String>,
        address: Option<std::net::Ipv4Addr>,
        running: bool,
    ) -> Result<Attachment> {
        // Outside a swarm the only networks are dockerd's local ones, which take no containers.
        // Not a 404: on a 404 to create the CLI goes to pull the image.
        let Local::Active(node) = self.local() else {
            return Err(Error::FailedPrecondition(format!(
                "network {key} not found: this node is not in a swarm, and containers join swarm networks only"
            )));
        };
        let Some(layer) = node.tasks().node_network().await else {
            return Err(Error::Unimplemented(
                "this node has no network layer for containers on overlay networks".into(),
            ));
        };
        let (task, network_name) = match node.manager().await {
            Some(m) => {
                let node_id = node.state().node_id;
                self.collect_stale_attachments(&m, &layer, &node_id).await;
                let view = m.synced_view().await;
                let planned = attachment::plan(
                    &view,
                    key,
                    &node_id,
                    name,
                    aliases,
                    address,
                    m.new_id(),
                    self.clock.now(),
                )?;
                m.propose(planned.ops).await?;
                (planned.task, planned.network_name)
            }
            None => {
                // A worker: the leader makes it, for this node only (`AttachNetwork`).
                let link = node.leader_link().ok_or_else(|| {
                    Error::Unavailable("this node's session with the leader is not running".into())
                })?;
                let held = self
                    .standalone()
                    .map(|s| s.attachment_ids().into_iter().collect())
                    .unwrap_or_default();
                let request = rpc::messages::AttachNetworkRequest {
                    network: key.to_owned(),
                    container: name.to_owned(),
                    aliases,
                    address,
                    held,
                };
                let r = link
                    .call_leader::<rpc::calls::AttachNetwork>(&request, LEADER_CALL)
                    .await
                    .map_err(manager::error::from_status)?;
                for id in &r.collected {
                    layer.release(id).await;
                }
                (r.task, r.network_name)
            }
        };
        let mut sandboxed = task.clone();
        std::sync::Arc::make_mut(&mut sandboxed.spec).container.hostname = hostname.to_owned();
        match layer.sandbox(&sandboxed, running).await {
            Ok(sandbox) => Ok(Attachment {
                network_id: task
                    .spec
                    .networks
                    .first()
                    .map(|n| n.target.clone())
                    .unwrap_or_default(),
                network_name,
                task_id: task.id,
                sandbox,
                restore: Vec::new(),
            }),
            Err(e) => {
                self.detach_container(&task.id).await;
                Err(Error::Unavailable(format!(
                    "attaching the container to network {key}: {e}"
                )))
            }
        }
    }

    /// Deletes this node's attachments that no container holds (see
    /// `attachment::stale`), with their sandboxes; failures are logged and left for next time.
    async fn collect_stale_attachments(
        &self,
        m: &manager::Manager,
        layer: &agent::network::NodeNetwork,
        node_id: &str,
    ) {
        let held = self.standalone().map(|s| s.attachment_ids()).unwrap_or_default();
        let (ids, ops) = attachment::stale(
            &*m.synced_view().await,
            node_id,
            &held,
            self.clock.now(),
            STALE_AFTER.as_nanos() as i64,
        );
        if ops.is_empty() {
            return;
        }
        for id in &ids {
            layer.release(id).await;
        }
        match m.propose(ops).await {
            Ok(_) => tracing::info!(attachments = ?ids, "deleted network attachments no container holds"),
            Err(e) => tracing::warn!(attachments = ?ids, "deleting stale network attachments: {e}"),
        }
    }

    /// Puts attachment `attachment_id`'s sandbox (made for a running container) into the
    /// namespace of the container's process `pid`.
    pub(super) async fn join_container(&self, attachment_id: &str, pid: i64) -> Result<()> {
        let Local::Active(node) = self.local() else {
            return Err(Error::FailedPrecondition(
                "this node left the swarm: its networks are gone".into(),
            ));
        };
        let Some(layer) = node.tasks().node_network().await else {
            return Err(Error::Unimplemented(
                "this node has no network layer for containers on overlay networks".into(),
            ));
        };
        layer
            .join(attachment_id, pid)
            .await
            .map_err(|e| Error::Unavailable(format!("joining the running container to its network: {e}")))
    }

    /// Takes attachment `attachment_id`'s sandbox down and deletes the task (its address
    /// goes with it). Failures are logged: the reaper deletes it if the node leaves.
    pub(super) async fn detach_container(&self, attachment_id: &str) {
        let Local::Active(node) = self.local() else {
            return;
        };
        if let Some(layer) = node.tasks().node_network().await {
            layer.release(attachment_id).await;
        }
        let Some(m) = node.manager().await else {
            // A worker: the leader deletes it (`DetachNetwork`).
            let request = rpc::messages::DetachNetworkRequest {
                task_id: attachment_id.to_owned(),
            };
            let result = match node.leader_link() {
                Some(link) => link
                    .call_leader::<rpc::calls::DetachNetwork>(&request, LEADER_CALL)
                    .await
                    .map_err(|s| s.message().to_owned()),
                None => Err("this node's session with the leader is not running".into()),
            };
            if let Err(e) = result {
                tracing::warn!(attachment = %attachment_id, "deleting a container's network attachment: {e}");
            }
            return;
        };
        let planned = attachment::remove(&*m.synced_view().await, attachment_id);
        let result = match planned {
            Ok(Some(op)) => m.propose(vec![op]).await.map(|_| ()),
            Ok(None) => Ok(()),
            Err(e) => Err(e),
        };
        if let Err(e) = result {
            tracing::warn!(attachment = %attachment_id, "deleting a container's network attachment: {e}");
        }
    }
}
