//! A task's endpoint on an overlay: a veth pair whose task end (`eth0`, …) sits in the task's
//! namespace with the task's address and whose other end is a port of the overlay's bridge.
//!
//! The pair is created from inside the overlay namespace with its peer placed straight into the
//! task's namespace, so no half of it ever appears in the host namespace.

use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::path::Path;

use rtnetlink::packet_route::link::{InfoData, InfoKind, InfoVeth};
use rtnetlink::{LinkMessageBuilder, LinkUnspec, LinkVeth, RouteMessageBuilder};

use crate::error::{Error, Result};
use crate::links;
use crate::names;
use crate::netns::{self, Netlink};
use crate::plane::{EndpointSpec, NetworkSpec, Plane};

/// Where the tables of `route_replies` start (one per interface: this plus its index).
const REPLY_TABLES: u32 = 0x5000;
/// The priority of `route_replies`' rules (before the main table's 32766).
const REPLY_RULE_PRIORITY: u32 = 1000;

/// What `attach` set up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// The task's address.
    pub address: Ipv4Addr,
    /// The task-side interface's MAC.
    pub mac: [u8; 6],
    /// The MTU of both ends.
    pub mtu: u32,
}

impl Plane {
    /// Attaches the task namespace of `endpoint` to network `spec`'s overlay (which must exist on
    /// this node); attaching the same address again replaces the old veth.
    pub async fn attach(&self, spec: &NetworkSpec, endpoint: &EndpointSpec) -> Result<Endpoint> {
        spec.validate()?;
        // A network of several subnets: the endpoint's prefix and gateway are its subnet's.
        let spec = &spec.for_address(endpoint.address);
        check(spec, endpoint)?;
        let overlay_path = self.overlay_netns(spec.vni);
        if !netns::is_mounted_namespace(&overlay_path) {
            return Err(Error::Invalid(format!(
                "network VNI {} has no overlay on this node",
                spec.vni
            )));
        }
        let overlay = Netlink::open(&overlay_path).await?;
        let ov = &overlay.handle;
        let bridge = links::index(ov, names::BRIDGE)
            .await?
            .ok_or_else(|| Error::Invalid(format!("the overlay of VNI {} has no bridge", spec.vni)))?;
        let mtu = links::by_name(ov, names::BRIDGE)
            .await?
            .as_ref()
            .and_then(links::mtu)
            .unwrap_or(1450);

        let task = Netlink::open(&endpoint.netns).await?;
        let alias = names::endpoint_alias(&self.config.tag, spec.vni);
        let veth = names::endpoint_veth(endpoint.address);
        // Deleting either end of an old pair deletes both.
        links::delete_named(ov, &veth).await?;
        if let Some(old) = links::by_name(&task.handle, &endpoint.ifname).await? {
            if links::alias(&old).is_some_and(|found| found.starts_with(names::PREFIX)) {
                links::delete(&task.handle, old.header.index, &endpoint.ifname).await?;
            } else {
                return Err(Error::Invalid(format!(
                    "the task namespace already has an interface {} that is not shoal's",
                    endpoint.ifname
                )));
            }
        }

        let mac = names::mac_for(endpoint.address);
        let task_ns = std::fs::File::open(&endpoint.netns).map_err(|source| Error::Namespace {
            path: endpoint.netns.clone(),
            source,
        })?;
        let peer = LinkMessageBuilder::<LinkUnspec>::new()
            .name(endpoint.ifname.clone())
            .address(mac.to_vec())
            .mtu(mtu)
            .setns_by_fd(task_ns.as_raw_fd())
            .build();
        let pair = LinkMessageBuilder::<LinkVeth>::new_with_info_kind(InfoKind::Veth)
            .name(veth.clone())
            .mtu(mtu)
            .controller(bridge)
            .set_info_data(InfoData::Veth(InfoVeth::Peer(peer)))
            .up()
            .build();
        ov.link()
            .add(pair)
            .execute()
            .await
            .map_err(|source| Error::netlink(format!("create veth {veth} into the task"), source))?;

        let configured = self
            .configure_task_side(spec, endpoint, &task.handle, &alias)
            .await;
        if configured.is_err() {
            // A pair without its address would only confuse the next attach.
            links::delete_named(ov, &veth).await?;
        }
        configured?;
        Ok(Endpoint {
            address: endpoint.address,
            mac,
            mtu,
        })
    }

    async fn configure_task_side(
        &self,
        spec: &NetworkSpec,
        endpoint: &EndpointSpec,
        task: &rtnetlink::Handle,
        alias: &str,
    ) -> Result<()> {
        let index = links::index(task, &endpoint.ifname).await?.ok_or_else(|| {
            Error::Invalid(format!(
                "{} did not arrive in the task namespace",
                endpoint.ifname
            ))
        })?;
        task.link()
            .set(LinkUnspec::new_with_index(index).alias(alias).up().build())
            .execute()
            .await
            .map_err(|source| Error::netlink(format!("set {} up", endpoint.ifname), source))?;
        if let Some(lo) = links::index(task, "lo").await? {
            links::up(task, lo, "the task's lo").await?;
        }
        task.address()
            .add(index, endpoint.address.into(), spec.subnet.prefix_len())
            .replace()
            .execute()
            .await
            .map_err(|source| Error::netlink(format!("add {} to the task", endpoint.address), source))?;
        if !spec.internal {
            let route = RouteMessageBuilder::<Ipv4Addr>::new()
                .gateway(spec.gateway)
                .output_interface(index)
                .build();
            task.route()
                .add(route)
                .replace()
                .execute()
                .await
                .map_err(|source| Error::netlink("add the task's default route", source))?;
        }
        // The network's other subnets share the segment: reached on the link, internal or not.
        for more in &spec.more_subnets {
            let route = RouteMessageBuilder::<Ipv4Addr>::new()
                .destination_prefix(more.subnet.network(), more.subnet.prefix_len())
                .output_interface(index)
                .scope(rtnetlink::packet_route::route::RouteScope::Link)
                .build();
            task.route()
                .add(route)
                .replace()
                .execute()
                .await
                .map_err(|source| {
                    Error::netlink(format!("add the task's route to {}", more.subnet), source)
                })?;
        }
        Ok(())
    }

    /// Routes what the task namespace `netns` sends from `address` (attached to `spec`) through
    /// `spec`'s gateway: a rule `from <address>` to a table of its own holding that default
    /// route. The table is numbered from the interface, so each attached network has one.
    pub async fn route_replies(&self, netns: &Path, spec: &NetworkSpec, address: Ipv4Addr) -> Result<()> {
        let spec = &spec.for_address(address);
        let task = Netlink::open(netns).await?;
        let alias = names::endpoint_alias(&self.config.tag, spec.vni);
        let link = links::all(&task.handle)
            .await?
            .into_iter()
            .find(|link| links::alias(link) == Some(alias.as_str()))
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "{address} is not attached to network VNI {} in {}",
                    spec.vni,
                    netns.display()
                ))
            })?;
        let index = link.header.index;
        let table = REPLY_TABLES + index;
        task.handle
            .route()
            .add(
                RouteMessageBuilder::<Ipv4Addr>::new()
                    .gateway(spec.gateway)
                    .output_interface(index)
                    .table_id(table)
                    .build(),
            )
            .replace()
            .execute()
            .await
            .map_err(|source| Error::netlink("route the task's replies through its network", source))?;
        let rule = task
            .handle
            .rule()
            .add()
            .v4()
            .source_prefix(address, 32)
            .table_id(table)
            .action(rtnetlink::packet_route::rule::RuleAction::ToTable)
            .priority(REPLY_RULE_PRIORITY);
        // Added exclusively: the kernel would keep a second copy of a rule added again.
        rule.execute().await.or_else(|source| {
            let error = Error::netlink("add the task's reply routing rule", source);
            // The rule exists already (a second attach of the same address): nothing to do.
            if error.errno() == Some(nix::errno::Errno::EEXIST as i32) {
                Ok(())
            } else {
                Err(error)
            }
        })
    }

    /// Detaches the endpoint with `address` from network `vni`'s overlay; `task_netns`, if still
    /// there, loses its interface too. Detaching what is gone is not an error.
    pub async fn detach(&self, vni: u32, address: Ipv4Addr, task_netns: Option<&Path>) -> Result<()> {
        let overlay_path = self.overlay_netns(vni);
        if netns::is_mounted_namespace(&overlay_path) {
            let overlay = Netlink::open(&overlay_path).await?;
            links::delete_named(&overlay.handle, &names::endpoint_veth(address)).await?;
        }
        if let Some(path) = task_netns
            && path.exists()
        {
            let alias = names::endpoint_alias(&self.config.tag, vni);
            let task = Netlink::open(path).await?;
            for link in links::all(&task.handle).await? {
                if links::alias(&link) == Some(alias.as_str()) {
                    links::delete(&task.handle, link.header.index, "the task's overlay interface").await?;
                }
            }
        }
        Ok(())
    }
}

/// Checks that an endpoint's address and interface name can be attached to network `spec`.
pub(crate) fn check(spec: &NetworkSpec, endpoint: &EndpointSpec) -> Result<()> {
    if !spec.is_host_address(endpoint.address) || endpoint.address == spec.gateway {
        return Err(Error::Invalid(format!(
            "endpoint address {} is not a free host address of {}",
            endpoint.address, spec.subnet
        )));
    }
    if endpoint.ifname.is_empty() || endpoint.ifname.len() > 15 || endpoint.ifname.contains(['/', ' ']) {
        return Err(Error::Invalid(format!(
            "interface name {:?} is not valid",
            endpoint.ifname
        )));
    }
    Ok(())
}
