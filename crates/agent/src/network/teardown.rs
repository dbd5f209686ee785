//! The node's data plane as a whole: recovered after an agent restart (held tasks' namespaces
//! re-adopted, the rest of the tag swept) and taken down when the node leaves the swarm.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use netplane::{DataPlane, NetworkSpec, names};
use types::Task;

use super::files;
use super::node::{Attachment, Mode, NodeNetwork, TaskSandbox};
use super::sandbox::attach_all;
use super::views::Views;
use super::{mesh, vips};

impl NodeNetwork {
    /// After an agent restart, with the first full assignment (`held`): re-adopts the named
    /// namespaces of held tasks (their endpoints survived), then removes every other task
    /// namespace, sandbox directory and overlay of this plane's tag. Runs once.
    pub async fn recover(&self, held: &[std::sync::Arc<Task>]) {
        self.recover_adopting(held, &HashMap::new()).await
    }

    /// Whether the recovery after start already ran.
    pub async fn recovered(&self) -> bool {
        self.state.lock().await.recovered
    }

    /// As [`NodeNetwork::recover`], also re-adopting the namespaces of tasks whose executor
    /// made them (docker: the container's, `/proc/<pid>/ns/net`), `pids` by task ID. Their
    /// endpoints are kept when the namespace still has them (a veth pair lives while both
    /// the container's namespace and the overlay's do) and attached again when not.
    pub async fn recover_adopting(&self, held: &[std::sync::Arc<Task>], pids: &HashMap<String, i64>) {
        let Mode::Plane {
            plane, namespaces, ..
        } = &self.mode
        else {
            return;
        };
        let mut state = self.state.lock().await;
        if state.recovered {
            return;
        }
        state.recovered = true;
        let prefix = names::task_prefix(&self.config.tag);
        let present = namespaces.list(&prefix).unwrap_or_else(|error| {
            tracing::warn!(%error, "listing task namespaces failed");
            Vec::new()
        });
        let held_ids: HashSet<&str> = held.iter().map(|t| t.id.as_str()).collect();
        for task in held {
            let name = names::task_netns(&self.config.tag, &task.id);
            let named = present.contains(&name);
            let pid = pids.get(&task.id).copied().filter(|p| *p > 0);
            if state.sandboxes.contains_key(&task.id) || (!named && pid.is_none()) {
                continue;
            }
            let Ok(found) = state.views.attachments(task) else {
                continue;
            };
            let made: Vec<(NetworkSpec, Attachment)> = found
                .into_iter()
                .filter_map(|(network_id, address)| {
                    let spec = state.networks.get(&network_id)?.spec.clone();
                    let vni = spec.vni;
                    Some((
                        spec,
                        Attachment {
                            network_id,
                            vni,
                            address,
                        },
                    ))
                })
                .collect();
            let path = match pid {
                Some(pid) if !named => {
                    match adopt_process_netns(plane.as_ref(), &state.views, &task.id, pid, &made).await {
                        Some(path) => path,
                        None => continue,
                    }
                }
                _ => namespaces.path(&name),
            };
            let attachments: Vec<Attachment> = made.into_iter().map(|(_, a)| a).collect();
            let ids: Vec<String> = attachments.iter().map(|a| a.network_id.clone()).collect();
            let wanted = vips::task_vips(&state.views, &ids);
            if let Err(error) = plane.set_vips(&path, &wanted).await {
                tracing::warn!(task = %task.id, %error, "re-setting a re-adopted task's VIP table failed");
            }
            let returns = mesh::task_return(&state.views, &task.id, &ids);
            let returns = match mesh::set_returns(plane.as_ref(), &path, &None, &returns).await {
                Ok(()) => returns,
                Err(error) => {
                    tracing::warn!(task = %task.id, %error, "re-setting a re-adopted task's route-return routing failed");
                    None
                }
            };
            state.sandboxes.insert(
                task.id.clone(),
                TaskSandbox {
                    netns: Some(path),
                    attachments,
                    vips: wanted,
                    returns,
                    shares_with: Vec::new(),
                },
            );
        }
        for name in present {
            let id = &name[prefix.len()..];
            if !state.sandboxes.contains_key(id)
                && !held_ids.contains(id)
                && let Err(error) = namespaces.delete(&name)
            {
                tracing::warn!(namespace = %name, %error, "removing a stale task namespace failed");
            }
        }
        for id in files::listed(&self.config.sandboxes).unwrap_or_default() {
            if !held_ids.contains(id.as_str()) {
                let _ = files::remove(&self.config.sandboxes, &id);
            }
        }
        let keep: Vec<u32> = state.networks.values().map(|l| l.spec.vni).collect();
        match plane.sweep(&keep).await {
            Ok(report) => tracing::info!(?report, "swept the data plane after start"),
            Err(error) => tracing::warn!(%error, "sweeping the data plane failed"),
        }
    }

    /// Takes this node's whole data plane down as it leaves the swarm (dockerd's leave does
    /// the same): every resolver stopped, every sandbox detached and its namespace and files
    /// removed, the ingress sandbox and the mesh's tables, every overlay; then whatever else of
    /// this plane's tag is left (task namespaces, overlays of an earlier run, stranded VXLAN
    /// devices). Afterwards the layer applies no view and makes nothing. Failures are logged:
    /// a leave goes on, and what is left is swept when the node's tag starts again.
    pub async fn leave(&self) {
        let Mode::Plane {
            plane, namespaces, ..
        } = &self.mode
        else {
            return;
        };
        let mut state = self.state.lock().await;
        state.left = true;
        // Nothing to probe any more: the prober goes quiet (it ends with the layer).
        self.probe_peers.send_replace(Default::default());
        for (task, sandbox) in std::mem::take(&mut state.sandboxes) {
            for a in &sandbox.attachments {
                if let Err(error) = plane.detach(a.vni, a.address, sandbox.netns.as_deref()).await {
                    tracing::warn!(%task, network = %a.network_id, %error, "detaching on leave failed");
                }
            }
            if let Some(path) = &sandbox.netns
                && let Err(error) = plane.set_vips(path, &[]).await
            {
                tracing::debug!(%task, %error, "clearing a VIP table on leave");
            }
        }
        let prefix = names::task_prefix(&self.config.tag);
        for name in namespaces.list(&prefix).unwrap_or_else(|error| {
            tracing::warn!(%error, "listing task namespaces on leave failed");
            Vec::new()
        }) {
            if let Err(error) = namespaces.delete(&name) {
                tracing::warn!(namespace = %name, %error, "removing a task namespace on leave failed");
            }
        }
        for id in files::listed(&self.config.sandboxes).unwrap_or_default() {
            if let Err(error) = files::remove(&self.config.sandboxes, &id) {
                tracing::warn!(task = %id, %error, "removing a task's sandbox files on leave failed");
            }
        }
        // The ingress sandbox sits on the ingress overlay: it goes first.
        if let Err(error) = plane.remove_ingress().await {
            tracing::warn!(%error, "removing the ingress sandbox on leave failed");
        }
        state.ingress = None;
        state.mesh = None;
        for (id, local) in std::mem::take(&mut state.networks) {
            // The resolver's sockets live in the overlay namespace: closed before it goes.
            if let Some(resolver) = local.resolver {
                resolver.stop().await;
            }
            if let Err(error) = plane.remove_network(local.spec.vni).await {
                tracing::warn!(network = %id, %error, "removing an overlay on leave failed");
            }
        }
        // The tunnels carried the encrypted overlays' VXLAN: with no views left they stop
        // (a failure is logged by `converge`; the sweep below still removes their routing).
        let _ = state
            .tunnels
            .converge(&Views::default(), &self.config.node_id, plane.as_ref())
            .await;
        match plane.sweep(&[]).await {
            Ok(report) => tracing::info!(?report, "the node's data plane is down"),
            Err(error) => tracing::warn!(%error, "sweeping the data plane on leave failed"),
        }
        state.views = Views::default();
        self.records.replace(&[]);
        drop(state);
        self.applied.send_modify(|n| *n = n.wrapping_add(1));
    }
}

/// Re-adopts the namespace of a held task's process (`pid`, as its executor reports it): kept
/// as it is when it still has an interface per network (`eth0`, … as `attach_all` names them),
/// attached again otherwise. `None` when the process is gone (its exit reaches the runner).
async fn adopt_process_netns(
    plane: &dyn DataPlane,
    views: &Views,
    task_id: &str,
    pid: i64,
    made: &[(NetworkSpec, Attachment)],
) -> Option<PathBuf> {
    let table = match std::fs::read_to_string(format!("/proc/{pid}/net/dev")) {
        Ok(text) => text,
        Err(error) => {
            tracing::info!(task = %task_id, pid, %error, "a held task's process is gone; not re-adopted");
            return None;
        }
    };
    let present = interfaces(&table);
    let path = PathBuf::from(format!("/proc/{pid}/ns/net"));
    let whole = (0..made.len()).all(|i| present.iter().any(|n| *n == format!("eth{i}")));
    if whole {
        tracing::info!(task = %task_id, pid, "re-adopted a held task's namespace with its endpoints");
    } else if let Err(error) = attach_all(plane, views, &path, made).await {
        tracing::warn!(task = %task_id, pid, %error, "attaching a re-adopted task to its networks failed");
    } else {
        tracing::info!(task = %task_id, pid, "re-adopted a held task's namespace; its endpoints made again");
    }
    Some(path)
}

/// The interface names of a `/proc/<pid>/net/dev` table (two header lines, then `name: counters`).
fn interfaces(text: &str) -> Vec<&str> {
    text.lines()
        .skip(2)
        .filter_map(|l| l.split_once(':'))
        .map(|(name, _)| name.trim())
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn interfaces_are_read_off_net_dev() {
        let text = "Inter-|   Receive  |  Transmit\n face |bytes packets|bytes packets\n    lo: 0 0 0\n  eth0: 10 1 0\n";
        assert_eq!(super::interfaces(text), ["lo", "eth0"]);
    }
}
