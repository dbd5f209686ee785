//! Views → data plane: overlays, resolvers, peers, the ingress sandbox and mesh tables, and
//! every sandbox's VIP table made to match the views the node holds.

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;

use netplane::dns::{Resolver, ResolverConfig, Upstreams};
use netplane::{DataPlane, MeshPort};

use super::node::{Local, NodeNetwork, State};
use super::views::Views;
use super::{mesh, peers, spec, vips};

impl NodeNetwork {
    /// Makes overlays, resolvers, peers and VIP tables match the views; false when something
    /// failed (logged) and is left for a retry.
    pub(super) async fn converge(
        &self,
        state: &mut State,
        plane: &dyn DataPlane,
        upstreams: &Upstreams,
    ) -> bool {
        let mut all_ok = true;
        let State {
            views,
            networks,
            sandboxes,
            ingress,
            mesh,
            tunnels,
            unreachable,
            ..
        } = state;
        // Who serves, as this node sees it: unreachable peers' endpoints out (`liveness.rs`).
        let live = super::liveness::reachable(views, unreachable, &self.config.node_id);
        // Before the overlays: the sandbox's endpoint hangs off the ingress overlay.
        all_ok &= mesh::drop_mesh(views, &self.config.node_id, ingress, mesh, plane).await;
        let gone: Vec<String> = networks
            .keys()
            .filter(|id| views.get(id).is_none())
            .cloned()
            .collect();
        for id in gone {
            if let Some(local) = networks.remove(&id) {
                // The resolver's sockets live in the overlay namespace: closed before it goes.
                if let Some(resolver) = local.resolver {
                    resolver.stop().await;
                }
                if let Err(error) = plane.remove_network(local.spec.vni).await {
                    tracing::warn!(network = %id, %error, "removing an overlay failed");
                }
            }
        }
        // Before any encrypted overlay exists, so its VXLAN never leaves without a tunnel.
        let tunnels_ok = tunnels.converge(views, &self.config.node_id, plane).await;
        all_ok &= tunnels_ok;
        for view in views.iter() {
            let id = &view.network_id;
            if view.encrypted && !tunnels_ok {
                tracing::warn!(network = %id, "encrypted network not set up: the node's tunnels are not running");
                continue;
            }
            let wanted = match spec::network_spec(view) {
                Ok(wanted) => wanted,
                Err(why) => {
                    // Not retried: the view itself is what this node cannot set up.
                    tracing::warn!(network = %id, %why, "network not set up on this node");
                    continue;
                }
            };
            if networks
                .get(id)
                .is_none_or(|local| local.spec != wanted || local.encrypted != view.encrypted)
            {
                if let Some(old) = networks.remove(id) {
                    if let Some(resolver) = old.resolver {
                        resolver.stop().await;
                    }
                    if old.spec.vni != wanted.vni {
                        let _ = plane.remove_network(old.spec.vni).await;
                    }
                }
                let made = if view.encrypted {
                    plane.ensure_encrypted_network(&wanted).await
                } else {
                    plane.ensure_network(&wanted).await
                };
                match made {
                    Ok(overlay) => {
                        networks.insert(
                            id.clone(),
                            Local {
                                spec: wanted.clone(),
                                peers: HashSet::new(),
                                resolver: None,
                                overlay_netns: overlay.netns,
                                encrypted: view.encrypted,
                            },
                        );
                    }
                    Err(error) => {
                        tracing::warn!(network = %id, %error, "making the overlay failed; retried");
                        all_ok = false;
                        continue;
                    }
                }
            }
            let Some(local) = networks.get_mut(id) else {
                continue;
            };
            if local.resolver.is_none() {
                let config = ResolverConfig {
                    network: id.clone(),
                    netns: local.overlay_netns.clone(),
                    address: local.spec.gateway,
                    port: self.config.dns_port,
                    internal: local.spec.internal,
                };
                match Resolver::start(config, self.records.clone(), upstreams.clone()).await {
                    Ok(resolver) => local.resolver = Some(resolver),
                    Err(error) => {
                        tracing::warn!(network = %id, %error, "starting the network's resolver failed; retried");
                        all_ok = false;
                    }
                }
            }
            let wanted_peers = peers::remote_endpoints(view, &self.config.node_id);
            let (remove, add) = peers::diff(&local.peers, &wanted_peers);
            let mut ok = true;
            if !remove.is_empty()
                && let Err(error) = plane.remove_peers(local.spec.vni, &remove).await
            {
                tracing::warn!(network = %id, %error, "removing peers failed");
                ok = false;
            }
            if !add.is_empty()
                && let Err(error) = plane.add_peers(local.spec.vni, &add).await
            {
                tracing::warn!(network = %id, %error, "adding peers failed");
                ok = false;
            }
            // On failure, forget what is installed so the next apply sends the whole set again.
            local.peers = if ok { wanted_peers } else { HashSet::new() };
            all_ok &= ok;
        }
        all_ok &= self.converge_mesh(&live, networks, ingress, mesh, plane).await;
        // A namespace shared by several sandboxes has one VIP table for all their networks.
        let served: HashMap<String, Vec<String>> = sandboxes
            .iter()
            .filter(|(_, s)| !s.shares_with.is_empty())
            .map(|(id, _)| (id.clone(), super::sandbox::netns_networks(sandboxes, id)))
            .collect();
        for (task, sandbox) in sandboxes.iter_mut() {
            let Some(netns) = &sandbox.netns else { continue };
            let ids: Vec<String> = sandbox.attachments.iter().map(|a| a.network_id.clone()).collect();
            let wanted = vips::task_vips(&live, served.get(task).unwrap_or(&ids));
            if wanted != sandbox.vips {
                match plane.set_vips(netns, &wanted).await {
                    Ok(()) => sandbox.vips = wanted,
                    Err(error) => {
                        tracing::warn!(%task, %error, "updating the task's VIP table failed; retried");
                        all_ok = false;
                    }
                }
            }
            let returns = mesh::task_return(&live, task, &ids);
            if returns != sandbox.returns {
                match mesh::set_returns(plane, netns, &sandbox.returns, &returns).await {
                    Ok(()) => sandbox.returns = returns,
                    Err(error) => {
                        tracing::warn!(%task, %error, "updating the task's route-return routing failed; retried");
                        all_ok = false;
                    }
                }
            }
        }
        all_ok
    }

    /// Makes the ingress sandbox once the ingress overlay is up and the view gives this node
    /// its ingress address, then the mesh's tables from the published ports; false when
    /// something failed (logged, retried).
    async fn converge_mesh(
        &self,
        views: &Views,
        networks: &HashMap<String, Local>,
        ingress: &mut Option<(u32, Ipv4Addr)>,
        applied: &mut Option<Vec<MeshPort>>,
        plane: &dyn DataPlane,
    ) -> bool {
        let Some(view) = views.ingress() else {
            return true;
        };
        let Some(address) = view.node_sandbox(&self.config.node_id).map(|e| e.addr) else {
            // The leader gives every node its address; until then there is nothing to make.
            return true;
        };
        let Some(local) = networks.get(&view.network_id) else {
            return false;
        };
        if *ingress != Some((local.spec.vni, address)) {
            if let Err(error) = plane.ensure_ingress(&local.spec, address).await {
                tracing::warn!(%error, "making the ingress sandbox failed; retried");
                return false;
            }
            *ingress = Some((local.spec.vni, address));
            *applied = None;
        }
        let ports = mesh::mesh_ports(view, &self.config.node_id);
        if applied.as_ref() != Some(&ports) {
            if let Err(error) = plane.set_mesh(address, &ports).await {
                tracing::warn!(%error, "setting the routing mesh's tables failed; retried");
                return false;
            }
            *applied = Some(ports);
        }
        true
    }
}
