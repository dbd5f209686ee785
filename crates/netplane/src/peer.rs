//! Remote endpoints: a static FDB entry (MAC → remote VTEP) and a permanent neighbour entry
//! (IP → MAC) on the overlay's VXLAN device, as libnetwork installs for its peers. With learning
//! off, these entries are all the overlay knows; with proxy ARP on, the device answers a task's
//! ARP for a remote endpoint from the neighbour entry without sending it across the underlay.

use std::net::IpAddr;

use rtnetlink::packet_route::AddressFamily;
use rtnetlink::packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
};

use crate::error::{Error, Result};
use crate::links;
use crate::names;
use crate::netns::{self, Netlink};
use crate::plane::{Plane, RemoteEndpoint};

impl Plane {
    /// Adds (or updates) remote endpoints on network `vni`'s overlay.
    pub async fn add_peers(&self, vni: u32, peers: &[RemoteEndpoint]) -> Result<()> {
        let (overlay, vxlan) = self.open_vxlan(vni).await?;
        let ov = &overlay.handle;
        for peer in peers {
            ov.neighbours()
                .add_bridge(vxlan, &peer.mac)
                .destination(IpAddr::V4(peer.vtep))
                .flags(NeighbourFlags::Own)
                .state(NeighbourState::Permanent)
                .replace()
                .execute()
                .await
                .map_err(|source| Error::netlink(format!("add FDB entry for {}", peer.address), source))?;
            ov.neighbours()
                .add(vxlan, IpAddr::V4(peer.address))
                .link_layer_address(&peer.mac)
                .state(NeighbourState::Permanent)
                .replace()
                .execute()
                .await
                .map_err(|source| {
                    Error::netlink(format!("add neighbour entry for {}", peer.address), source)
                })?;
        }
        Ok(())
    }

    /// Removes remote endpoints from network `vni`'s overlay; entries already gone are skipped.
    pub async fn remove_peers(&self, vni: u32, peers: &[RemoteEndpoint]) -> Result<()> {
        let overlay_path = self.overlay_netns(vni);
        if !netns::is_mounted_namespace(&overlay_path) {
            return Ok(());
        }
        let (overlay, vxlan) = self.open_vxlan(vni).await?;
        let ov = &overlay.handle;
        for peer in peers {
            let mut neighbour = NeighbourMessage::default();
            neighbour.header.family = AddressFamily::Inet;
            neighbour.header.ifindex = vxlan;
            neighbour
                .attributes
                .push(NeighbourAttribute::Destination(NeighbourAddress::Inet(
                    peer.address,
                )));
            ignore_missing(
                ov.neighbours().del(neighbour).execute().await,
                "remove a neighbour entry",
            )?;

            let mut fdb = NeighbourMessage::default();
            fdb.header.family = AddressFamily::Bridge;
            fdb.header.ifindex = vxlan;
            fdb.header.flags = NeighbourFlags::Own;
            fdb.attributes
                .push(NeighbourAttribute::LinkLayerAddress(peer.mac.to_vec()));
            fdb.attributes
                .push(NeighbourAttribute::Destination(NeighbourAddress::Inet(peer.vtep)));
            ignore_missing(ov.neighbours().del(fdb).execute().await, "remove an FDB entry")?;
        }
        Ok(())
    }

    async fn open_vxlan(&self, vni: u32) -> Result<(Netlink, u32)> {
        let overlay_path = self.overlay_netns(vni);
        if !netns::is_mounted_namespace(&overlay_path) {
            return Err(Error::Invalid(format!(
                "network VNI {vni} has no overlay on this node"
            )));
        }
        let overlay = Netlink::open(&overlay_path).await?;
        let vxlan = links::index(&overlay.handle, &names::vxlan(vni))
            .await?
            .ok_or_else(|| Error::Invalid(format!("the overlay of VNI {vni} has no VXLAN device")))?;
        Ok((overlay, vxlan))
    }
}

fn ignore_missing(result: std::result::Result<(), rtnetlink::Error>, what: &'static str) -> Result<()> {
    match result {
        Ok(()) => Ok(()),
        Err(source) => {
            let error = Error::netlink(what, source);
            if links::is_missing(&error) {
                Ok(())
            } else {
                Err(error)
            }
        }
    }
}
