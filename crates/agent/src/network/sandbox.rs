//! A task's sandbox: made before the executor prepares the task (or attached after start for
//! executors making their own namespace), released after its removal.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use netplane::{DataPlane, EndpointSpec, NetworkSpec, names};
use types::Task;

use super::error::{Error, Result};
use super::node::{Attachment, Mode, NodeNetwork, State, TaskSandbox};
use super::views::Views;
use super::{files, gateway, mesh, vips};
use crate::executor::Sandbox;

impl NodeNetwork {
    /// Whether `task` gets endpoints: it names networks, or its service publishes ports (it
    /// holds an ingress address with no network in its spec; the view came with the task).
    pub async fn on_networks(&self, task: &Task) -> bool {
        !task.spec.networks.is_empty() || self.state.lock().await.views.ingress_address(task).is_some()
    }

    /// Whether `task_id`'s sandbox waits for its started process (an executor making its own
    /// namespace): [`NodeNetwork::started`] has endpoints to attach.
    pub async fn awaits_start(&self, task_id: &str) -> bool {
        self.state
            .lock()
            .await
            .sandboxes
            .get(task_id)
            .is_some_and(|sandbox| sandbox.netns.is_none())
    }

    /// Makes `task`'s sandbox: waits for its addresses, then (unless the executor makes its
    /// own namespace, `own_netns`) a named namespace with one endpoint per network and its VIP
    /// table; then its `resolv.conf` and `hosts`. A task on no network gets an empty sandbox.
    pub async fn sandbox(&self, task: &Task, own_netns: bool) -> Result<Sandbox> {
        if !self.on_networks(task).await {
            return Ok(Sandbox::default());
        }
        let (plane, namespaces) = match &self.mode {
            Mode::Refusing(why) => {
                return Err(Error::Refused {
                    task: task.id.clone(),
                    why: why.clone(),
                });
            }
            Mode::ViewsOnly => return Ok(Sandbox::default()),
            Mode::Plane {
                plane, namespaces, ..
            } => (plane, namespaces),
        };
        if self.state.lock().await.left {
            return Err(Error::Refused {
                task: task.id.clone(),
                why: "this node left the swarm".into(),
            });
        }
        let (mut state, attachments) = self.wait_for_addresses(task).await?;
        let mut made = Vec::new();
        for (network_id, address) in &attachments {
            let Some(local) = state.networks.get(network_id) else {
                return Err(Error::NotReady {
                    task: task.id.clone(),
                    network: network_id.clone(),
                    seconds: self.config.attach_deadline.as_secs(),
                });
            };
            made.push((
                local.spec.clone(),
                Attachment {
                    network_id: network_id.clone(),
                    vni: local.spec.vni,
                    address: *address,
                },
            ));
        }
        let plane_error = |what, source| Error::Plane {
            task: task.id.clone(),
            what,
            source,
        };
        let name = names::task_netns(&self.config.tag, &task.id);
        let netns = if own_netns {
            None
        } else {
            let path = namespaces
                .create(&name)
                .await
                .map_err(|e| plane_error("make the task's network namespace", e))?;
            let attached = attach_all(plane.as_ref(), &state.views, &path, &made).await;
            if let Err(error) = attached {
                // Nothing half-made stays: the namespace takes its interfaces with it.
                let _ = namespaces.delete(&name);
                return Err(plane_error("attach the task to its networks", error));
            }
            Some(path)
        };
        let ids: Vec<String> = made.iter().map(|(_, a)| a.network_id.clone()).collect();
        // Unreachable peers' endpoints stay out of a new sandbox too (`liveness.rs`).
        let live = super::liveness::reachable(&state.views, &state.unreachable, &self.config.node_id);
        let task_vips = vips::task_vips(&live, &ids);
        if let Some(path) = &netns
            && let Err(error) = plane.set_vips(path, &task_vips).await
        {
            let _ = namespaces.delete(&name);
            return Err(plane_error("set the task's VIP table", error));
        }
        let returns = mesh::task_return(&live, &task.id, &ids);
        drop(live);
        if let Some(path) = &netns
            && let Err(error) = mesh::set_returns(plane.as_ref(), path, &None, &returns).await
        {
            let _ = namespaces.delete(&name);
            return Err(plane_error("set the task's route-return routing", error));
        }
        let (first_spec, first) = &made[0];
        let hostname = task.hostname();
        let written = files::write(
            &self.config.sandboxes,
            &task.id,
            first_spec.gateway,
            &self.config.host_resolv,
            first.address,
            &hostname,
        )
        .map_err(|source| Error::Files {
            task: task.id.clone(),
            what: "write the task's resolv.conf and hosts",
            source,
        })?;
        state.sandboxes.insert(
            task.id.clone(),
            TaskSandbox {
                netns: netns.clone(),
                attachments: made.into_iter().map(|(_, a)| a).collect(),
                vips: if own_netns { Vec::new() } else { task_vips },
                returns: if own_netns { None } else { returns },
                shares_with: Vec::new(),
            },
        );
        Ok(Sandbox {
            netns,
            resolv_conf: Some(written.resolv_conf),
            hosts: Some(written.hosts),
            ..Sandbox::default()
        })
    }

    /// Waits until the views give `task` an address on each of its networks and this node has
    /// their overlays; returns with the state locked.
    async fn wait_for_addresses(
        &self,
        task: &Task,
    ) -> Result<(tokio::sync::MutexGuard<'_, State>, Vec<(String, Ipv4Addr)>)> {
        let deadline = tokio::time::Instant::now() + self.config.attach_deadline;
        let mut applied = self.applied.subscribe();
        loop {
            applied.borrow_and_update();
            let state = self.state.lock().await;
            let missing = match state.views.attachments(task) {
                Ok(found) => match found.iter().find(|(id, _)| !state.networks.contains_key(id)) {
                    None => return Ok((state, found)),
                    Some((id, _)) => id.clone(),
                },
                Err(target) => target,
            };
            drop(state);
            let not_ready = || Error::NotReady {
                task: task.id.clone(),
                network: missing.clone(),
                seconds: self.config.attach_deadline.as_secs(),
            };
            match tokio::time::timeout_at(deadline, applied.changed()).await {
                Ok(Ok(())) => {}
                _ => return Err(not_ready()),
            }
        }
    }

    /// For executors that make their own namespace: attaches the started task's process
    /// namespace to its networks and sets its VIP table. A namespace that other sandboxes
    /// already joined (a running container connected to one more network) gets the next
    /// interfaces (`eth1`, …) without a second default route, and one VIP table for all.
    pub async fn started(&self, task_id: &str, pid: i64) -> Result<()> {
        let Mode::Plane { plane, .. } = &self.mode else {
            return Ok(());
        };
        let mut state = self.state.lock().await;
        let State {
            networks,
            sandboxes,
            views,
            unreachable,
            ..
        } = &mut *state;
        let live = super::liveness::reachable(views, unreachable, &self.config.node_id);
        match sandboxes.get(task_id) {
            Some(sandbox) if sandbox.netns.is_none() => {}
            _ => return Ok(()),
        }
        let path = PathBuf::from(format!("/proc/{pid}/ns/net"));
        let mut sharing: Vec<String> = sandboxes
            .iter()
            .filter(|(id, other)| {
                id.as_str() != task_id && other.netns.as_deref().is_some_and(|p| same_netns(p, &path))
            })
            .map(|(id, _)| id.clone())
            .collect();
        sharing.sort();
        let first_if: usize = sharing.iter().map(|id| sandboxes[id].attachments.len()).sum();
        let Some(sandbox) = sandboxes.get_mut(task_id) else {
            return Ok(());
        };
        let made: Vec<(NetworkSpec, Attachment)> = sandbox
            .attachments
            .iter()
            .filter_map(|a| networks.get(&a.network_id).map(|l| (l.spec.clone(), a.clone())))
            .collect();
        let plane_error = |what, source| Error::Plane {
            task: task_id.to_owned(),
            what,
            source,
        };
        attach_from(plane.as_ref(), views, &path, &made, first_if)
            .await
            .map_err(|e| plane_error("attach the started task to its networks", e))?;
        let ids: Vec<String> = sandbox.attachments.iter().map(|a| a.network_id.clone()).collect();
        let returns = mesh::task_return(&live, task_id, &ids);
        mesh::set_returns(plane.as_ref(), &path, &None, &returns)
            .await
            .map_err(|e| plane_error("set the task's route-return routing", e))?;
        sandbox.returns = returns;
        sandbox.netns = Some(path.clone());
        sandbox.shares_with = sharing.clone();
        // An earlier run's sharing (`join` of a restarted container) is replaced by this one's.
        for (id, other) in sandboxes.iter_mut() {
            other.shares_with.retain(|s| s != task_id);
            if sharing.contains(id) {
                other.shares_with.push(task_id.to_owned());
            }
        }
        let wanted = vips::task_vips(&live, &netns_networks(sandboxes, task_id));
        drop(live);
        plane
            .set_vips(&path, &wanted)
            .await
            .map_err(|e| plane_error("set the task's VIP table", e))?;
        for id in sharing.iter().chain(std::iter::once(&task_id.to_owned())) {
            if let Some(s) = sandboxes.get_mut(id) {
                s.vips = wanted.clone();
            }
        }
        Ok(())
    }

    /// Takes task `task_id`'s sandbox down: its endpoints, namespace and files. Releasing a
    /// task without a sandbox still removes leftovers of its name.
    pub async fn release(&self, task_id: &str) {
        let Mode::Plane {
            plane, namespaces, ..
        } = &self.mode
        else {
            return;
        };
        let mut state = self.state.lock().await;
        if let Some(sandbox) = state.sandboxes.remove(task_id) {
            for a in &sandbox.attachments {
                if let Err(error) = plane.detach(a.vni, a.address, sandbox.netns.as_deref()).await {
                    tracing::warn!(task = %task_id, network = %a.network_id, %error, "detaching failed");
                }
            }
            // The namespace stays with the sandboxes it shared: their VIP table loses this
            // one's networks (a failure here is retried by the next convergence).
            let State {
                sandboxes,
                views,
                unreachable,
                ..
            } = &mut *state;
            for other in &sandbox.shares_with {
                if let Some(o) = sandboxes.get_mut(other) {
                    o.shares_with.retain(|id| id != task_id);
                }
            }
            if let (Some(first), Some(netns)) = (sandbox.shares_with.first(), &sandbox.netns) {
                let live = super::liveness::reachable(views, unreachable, &self.config.node_id);
                let wanted = vips::task_vips(&live, &netns_networks(sandboxes, first));
                drop(live);
                match plane.set_vips(netns, &wanted).await {
                    Ok(()) => {
                        for id in &sandbox.shares_with {
                            if let Some(o) = sandboxes.get_mut(id) {
                                o.vips = wanted.clone();
                            }
                        }
                    }
                    Err(error) => {
                        tracing::warn!(task = %task_id, %error, "updating a shared VIP table failed; retried")
                    }
                }
            }
        }
        if let Err(error) = namespaces.delete(&names::task_netns(&self.config.tag, task_id)) {
            tracing::warn!(task = %task_id, %error, "removing the task's namespace failed");
        }
        if let Err(error) = files::remove(&self.config.sandboxes, task_id) {
            tracing::warn!(task = %task_id, %error, "removing the task's sandbox files failed");
        }
    }
}

/// Attaches the namespace at `netns` to each network, as `eth0`, `eth1`, … in order; the
/// default route through the one network `gateway::choose` picks, and replies from an ingress
/// address that is not it through `ingress`.
pub(super) async fn attach_all(
    plane: &dyn DataPlane,
    views: &Views,
    netns: &std::path::Path,
    made: &[(NetworkSpec, Attachment)],
) -> netplane::Result<()> {
    attach_from(plane, views, netns, made, 0).await
}

/// As [`attach_all`], the interfaces numbered from `eth<first_if>`; a namespace already on
/// other networks (`first_if` > 0) keeps its default route and reply routing.
async fn attach_from(
    plane: &dyn DataPlane,
    views: &Views,
    netns: &std::path::Path,
    made: &[(NetworkSpec, Attachment)],
    first_if: usize,
) -> netplane::Result<()> {
    if first_if > 0 {
        for (i, (spec, attachment)) in made.iter().enumerate() {
            let endpoint = EndpointSpec {
                netns: netns.to_owned(),
                ifname: format!("eth{}", first_if + i),
                address: attachment.address,
            };
            let routed = NetworkSpec {
                internal: true,
                ..spec.clone()
            };
            plane.attach(&routed, &endpoint).await?;
        }
        return Ok(());
    }
    let candidates: Vec<gateway::Candidate<'_>> = made
        .iter()
        .map(|(spec, a)| {
            let view = views.get(&a.network_id);
            gateway::Candidate {
                name: view.map_or(a.network_id.as_str(), |v| v.name.as_str()),
                internal: spec.internal,
                ingress: view.is_some_and(|v| v.ingress),
            }
        })
        .collect();
    let routes = gateway::choose(&candidates);
    for (i, (spec, attachment)) in made.iter().enumerate() {
        let endpoint = EndpointSpec {
            netns: netns.to_owned(),
            ifname: format!("eth{i}"),
            address: attachment.address,
        };
        // A network that is not the gateway is attached as an internal one is: no default route.
        let routed = NetworkSpec {
            internal: spec.internal || routes.gateway != Some(i),
            ..spec.clone()
        };
        plane.attach(&routed, &endpoint).await?;
    }
    if let Some(i) = routes.replies {
        let (spec, attachment) = &made[i];
        plane.route_replies(netns, spec, attachment.address).await?;
    }
    Ok(())
}

/// Whether two namespace paths name one namespace (a named one and `/proc/<pid>/ns/net` of a
/// process in it): the same path, or the same nsfs inode.
fn same_netns(a: &std::path::Path, b: &std::path::Path) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    if a == b {
        return true;
    }
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

/// The networks of `task_id`'s sandbox and of those sharing its namespace: what its VIP
/// table serves.
pub(super) fn netns_networks(
    sandboxes: &std::collections::HashMap<String, TaskSandbox>,
    task_id: &str,
) -> Vec<String> {
    let Some(sandbox) = sandboxes.get(task_id) else {
        return Vec::new();
    };
    let mut ids: Vec<String> = Vec::new();
    let all = std::iter::once(task_id)
        .chain(sandbox.shares_with.iter().map(String::as_str))
        .filter_map(|id| sandboxes.get(id))
        .flat_map(|s| &s.attachments);
    for a in all {
        if !ids.contains(&a.network_id) {
            ids.push(a.network_id.clone());
        }
    }
    ids
}
