//! One overlay network on this node, as libnetwork's overlay driver lays it out:
//!
//! ```text
//!  host namespace                    overlay namespace shoal-<tag>-ov-<vni>
//!  ┌────────────────────┐            ┌──────────────────────────────────────┐
//!  │ UDP socket :4789 ◄─┼── VXLAN ───┼─ shoal-vx<vni> ──┐                   │
//!  │ (underlay address) │  device    │  (learning off,  ├─ br0 (gateway/len)│
//!  └────────────────────┘  created   │   proxy ARP)     │                   │
//!                          here,     │  shoal-<ip hex> ─┘ … one veth per    │
//!                          moved ──► │                      local endpoint  │
//!                                    └──────────────────────────────────────┘
//! ```
//!
//! The VXLAN device is created in the host namespace and then moved, so its socket stays in the
//! host's namespace (where the underlay is) while the device itself joins the overlay's bridge.

use std::os::fd::AsRawFd;

use futures::TryStreamExt;
use rtnetlink::packet_route::address::AddressAttribute;
use rtnetlink::{LinkBridge, LinkUnspec, LinkVxlan};

use crate::error::{Error, Result};
use crate::links;
use crate::names;
use crate::netns::{self, Netlink};
use crate::plane::{NetworkSpec, Plane, VXLAN_OVERHEAD};

/// What `ensure_network` set up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Overlay {
    /// The VNI.
    pub vni: u32,
    /// The overlay namespace's path.
    pub netns: std::path::PathBuf,
    /// The MTU of the bridge, the VXLAN device and every endpoint.
    pub mtu: u32,
}

impl Plane {
    /// Creates (or completes) the overlay of `spec` on this node; calling it again changes nothing.
    pub async fn ensure_network(&self, spec: &NetworkSpec) -> Result<Overlay> {
        self.ensure_overlay(spec, self.config.vxlan_port, 0).await
    }

    /// As `ensure_network`, for an encrypted network: its VXLAN device uses the encrypted port,
    /// which the node's `crypt::Tunnels` carry, and its MTU leaves room for the tunnel.
    pub async fn ensure_encrypted_network(&self, spec: &NetworkSpec) -> Result<Overlay> {
        self.ensure_overlay(
            spec,
            crate::crypt::ENCRYPTED_VXLAN_PORT,
            crate::crypt::TUNNEL_OVERHEAD,
        )
        .await
    }

    async fn ensure_overlay(&self, spec: &NetworkSpec, port: u16, extra_overhead: u32) -> Result<Overlay> {
        spec.validate()?;
        let _serialised = self.overlays.lock().await;
        let mtu = match spec.mtu {
            Some(mtu) => mtu,
            None => self
                .underlay_mtu()
                .await?
                .saturating_sub(VXLAN_OVERHEAD + extra_overhead),
        };
        let path = netns::create(
            &self.config.netns_dir,
            &names::overlay_netns(&self.config.tag, spec.vni),
        )
        .await?;
        let overlay = Netlink::open(&path).await?;
        let ov = &overlay.handle;
        if let Some(lo) = links::index(ov, "lo").await? {
            links::up(ov, lo, "lo").await?;
        }

        let bridge = match links::index(ov, names::BRIDGE).await? {
            Some(index) => index,
            None => {
                ov.link()
                    .add(LinkBridge::new(names::BRIDGE).mtu(mtu).build())
                    .execute()
                    .await
                    .map_err(|source| Error::netlink("create the overlay bridge", source))?;
                links::index(ov, names::BRIDGE)
                    .await?
                    .ok_or_else(|| Error::Invalid("the bridge vanished after its creation".into()))?
            }
        };
        // A network re-created under the same VNI may bring other gateways: only the current
        // ones stay (one per subnet; the first subnet's first).
        let addresses: Vec<_> = ov
            .address()
            .get()
            .set_link_index_filter(bridge)
            .execute()
            .try_collect()
            .await
            .map_err(|source| Error::netlink("list the bridge's addresses", source))?;
        let wanted = spec.subnets();
        for address in addresses {
            let current = wanted.iter().any(|want| {
                address.header.prefix_len == want.subnet.prefix_len()
                    && address.attributes.iter().any(|attribute| {
                        matches!(attribute, AddressAttribute::Address(ip) if *ip == std::net::IpAddr::V4(want.gateway))
                    })
            });
            if !current {
                ov.address()
                    .del(address)
                    .execute()
                    .await
                    .map_err(|source| Error::netlink("remove an old gateway address", source))?;
            }
        }
        for want in &wanted {
            ov.address()
                .add(bridge, want.gateway.into(), want.subnet.prefix_len())
                .replace()
                .execute()
                .await
                .map_err(|source| Error::netlink("put the gateway address on the bridge", source))?;
        }

        let vxlan_name = names::vxlan(spec.vni);
        let vxlan = match links::index(ov, &vxlan_name).await? {
            Some(index) => index,
            None => {
                self.create_vxlan(spec.vni, port, mtu, &path).await?;
                links::index(ov, &vxlan_name)
                    .await?
                    .ok_or_else(|| Error::Invalid("the VXLAN device did not arrive in the overlay".into()))?
            }
        };
        ov.link()
            .set(
                LinkUnspec::new_with_index(vxlan)
                    .controller(bridge)
                    .mtu(mtu)
                    .up()
                    .build(),
            )
            .execute()
            .await
            .map_err(|source| Error::netlink("enslave the VXLAN device to the bridge", source))?;
        // A bridge without an address of its own takes the lowest of its ports' and changes it
        // as endpoints come and go; tasks' ARP entries for the gateway (their resolver) would
        // then point at a MAC nobody answers for until they expire, tens of seconds. Fixed to
        // the gateway's `02:42:<ip>`: local to this node (broadcasts do not cross the VXLAN).
        let mac = names::mac_for(spec.gateway).to_vec();
        ov.link()
            .set(
                LinkUnspec::new_with_index(bridge)
                    .mtu(mtu)
                    .address(mac)
                    .up()
                    .build(),
            )
            .execute()
            .await
            .map_err(|source| Error::netlink("set the bridge up", source))?;
        tracing::debug!(vni = spec.vni, mtu, netns = %path.display(), "overlay ready");
        Ok(Overlay {
            vni: spec.vni,
            netns: path,
            mtu,
        })
    }

    /// Creates the VXLAN device in the host namespace and moves it into the overlay namespace.
    async fn create_vxlan(&self, vni: u32, port: u16, mtu: u32, overlay: &std::path::Path) -> Result<()> {
        let name = names::vxlan(vni);
        let host = Netlink::open(self.host_netns()).await?;
        let ours = names::vxlan_alias(&self.config.tag);
        // A device of ours by this name in the host namespace is one a crash left between
        // create and move; one of another agent's is its VNI, which this plane cannot share.
        if let Some(found) = links::by_name(&host.handle, &name).await? {
            if links::alias(&found).is_some_and(|alias| alias != ours) {
                return Err(Error::VniTaken { vni, port });
            }
            links::delete(&host.handle, found.header.index, &name).await?;
        }
        let device = LinkVxlan::new(&name, vni)
            .port(port)
            .local(self.config.underlay)
            // Peers come from the cluster (static FDB and neighbour entries), never from flooding.
            .learning(false)
            // The device answers ARP from its neighbour table, so no ARP crosses the underlay.
            .proxy(true)
            .mtu(mtu)
            .alias(ours)
            .build();
        host.handle
            .link()
            .add(device)
            .execute()
            .await
            .map_err(|source| Error::netlink(format!("create VXLAN device {name} (VNI {vni})"), source))
            .map_err(|error| match error.errno() {
                // The name is free (checked above), so the kernel found the VNI on the port.
                Some(errno) if errno == nix::errno::Errno::EEXIST as i32 => Error::VniTaken { vni, port },
                _ => error,
            })?;
        let index = links::index(&host.handle, &name)
            .await?
            .ok_or_else(|| Error::Invalid(format!("VXLAN device {name} vanished after its creation")))?;
        let target = std::fs::File::open(overlay).map_err(|source| Error::Namespace {
            path: overlay.to_owned(),
            source,
        })?;
        let moved = host
            .handle
            .link()
            .set(
                LinkUnspec::new_with_index(index)
                    .setns_by_fd(target.as_raw_fd())
                    .build(),
            )
            .execute()
            .await
            .map_err(|source| Error::netlink(format!("move {name} into the overlay namespace"), source));
        if moved.is_err() {
            links::delete(&host.handle, index, &name).await?;
        }
        moved
    }

    /// Removes network `vni`'s overlay from this node (its endpoints' veths go with it).
    pub async fn remove_network(&self, vni: u32) -> Result<()> {
        let _serialised = self.overlays.lock().await;
        teardown(&self.overlay_netns(vni)).await?;
        // The device may still be in the host namespace if a create was cut short (if it is
        // ours: another agent's device of that VNI is its own).
        let host = Netlink::open(self.host_netns()).await?;
        let name = names::vxlan(vni);
        if let Some(found) = links::by_name(&host.handle, &name).await?
            && links::alias(&found).is_none_or(|alias| alias == names::vxlan_alias(&self.config.tag))
        {
            links::delete(&host.handle, found.header.index, &name).await?;
        }
        Ok(())
    }

    /// The MTU of the host link that carries the underlay address.
    pub async fn underlay_mtu(&self) -> Result<u32> {
        let host = Netlink::open(self.host_netns()).await?;
        let addresses: Vec<_> = host
            .handle
            .address()
            .get()
            .execute()
            .try_collect()
            .await
            .map_err(|source| Error::netlink("list host addresses", source))?;
        let underlay = std::net::IpAddr::V4(self.config.underlay);
        let index = addresses
            .iter()
            .find(|message| {
                message.attributes.iter().any(|attribute| {
                    matches!(attribute, AddressAttribute::Local(ip) | AddressAttribute::Address(ip) if *ip == underlay)
                })
            })
            .map(|message| message.header.index)
            .ok_or(Error::NoUnderlay(self.config.underlay))?;
        let link = host
            .handle
            .link()
            .get()
            .match_index(index)
            .execute()
            .try_next()
            .await
            .map_err(|source| Error::netlink("look up the underlay link", source))?;
        link.as_ref()
            .and_then(links::mtu)
            .ok_or(Error::NoUnderlay(self.config.underlay))
    }
}

/// Deletes an overlay namespace's links, then the namespace. The kernel frees an unmounted
/// namespace later, from a work queue: until then its veths would linger in the tasks and its
/// VXLAN device would keep the VNI's socket, so a re-created overlay would find the VNI taken.
/// Deleting the links first makes removal immediate.
pub(crate) async fn teardown(path: &std::path::Path) -> Result<()> {
    if netns::is_mounted_namespace(path) {
        let overlay = Netlink::open(path).await?;
        for link in links::all(&overlay.handle).await? {
            if links::name(&link) != Some("lo") {
                links::delete(&overlay.handle, link.header.index, "an overlay link").await?;
            }
        }
    }
    netns::delete(path)
}
