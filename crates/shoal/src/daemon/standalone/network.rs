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
//! Only a manager proposes it for now: a worker would need an RPC to the leader for it.

use rules::Error;
use rules::controlapi::attachment;

use super::Attachment;
use crate::daemon::swarm::{Local, Swarm};

type Result<T> = std::result::Result<T, Error>;

impl Swarm {
    /// Attaches the container `name` (host name `hostname`; answering on the network to its
    /// name and `aliases`) to network `key`: the attachment task and the sandbox made for it,
    /// which the container joins when it next starts.
    pub(super) async fn attach_container(
        &self,
        key: &str,
        name: &str,
        hostname: &str,
        aliases: Vec<String>,
    ) -> Result<Attachment> {
        let Local::Active(node) = self.local() else {
            return Err(Error::FailedPrecondition(format!(
                "network {key} is a swarm network: this node is not in a swarm"
            )));
        };
        let Some(m) = node.manager().await else {
            return Err(Error::Unimplemented(format!(
                "attaching a container to swarm network {key} is done through a manager for now; run it on a manager node"
            )));
        };
        let Some(layer) = node.tasks().node_network().await else {
            return Err(Error::Unimplemented(
                "this node has no network layer for containers on overlay networks".into(),
            ));
        };
        let node_id = node.state().node_id;
        let view = m.synced_view().await;
        let network_name = view
            .lookup_network(key)
            .map(|n| n.spec.name.clone())
            .unwrap_or_default();
        let (op, task) =
            attachment::create(&view, key, &node_id, name, aliases, m.new_id(), self.clock.now())?;
        m.propose(vec![op]).await?;
        let mut sandboxed = task.clone();
        std::sync::Arc::make_mut(&mut sandboxed.spec).container.hostname = hostname.to_owned();
        match layer.sandbox(&sandboxed, false).await {
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
            }),
            Err(e) => {
                self.detach_container(&task.id).await;
                Err(Error::Unavailable(format!(
                    "attaching the container to network {key}: {e}"
                )))
            }
        }
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
            tracing::warn!(attachment = %attachment_id, "no manager to delete a container's network attachment");
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
