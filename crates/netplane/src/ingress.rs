//! The node's ingress sandbox (Swarm's `ingress-sbox`): a namespace between the host and the
//! ingress overlay, where published ports are balanced over the tasks.
//!
//! ```text
//!  host namespace                 sandbox shoal-<tag>-ingress        overlay shoal-<tag>-ov-<vni>
//!  client ─► :8080 ─ DNAT ─► shi<tag> ══ lnk ─ DNAT (numgen) ─ eth0 ══ br0 ─► task (local)
//!            169.254.197.1/30          169.254.197.2   <ingress addr>  │  └─► VXLAN ─► task (remote,
//!                                                                      │         SNAT to <ingress addr>)
//!  local task's reply ─► gateway (br0) ─ default via <ingress addr> ───┘
//! ```
//! The sandbox's default route is the host link, the overlay namespace's default route is the
//! sandbox: a local task's reply to a client it saw unchanged goes back the way it came, through
//! both conntrack entries. Forwarding is switched on in the three namespaces.

use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use rtnetlink::packet_route::link::{InfoData, InfoKind, InfoVeth};
use rtnetlink::{LinkMessageBuilder, LinkUnspec, LinkVeth, RouteMessageBuilder};

use crate::error::{Error, Result};
use crate::firewall;
use crate::links;
use crate::mesh::{
    self, HOST_LINK_ADDRESS, LINK_PREFIX, MeshPort, SANDBOX_LINK, SANDBOX_LINK_ADDRESS, SANDBOX_OVERLAY_IF,
};
use crate::names;
use crate::netns::{self, Netlink};
use crate::plane::{EndpointSpec, NetworkSpec, Plane};

impl Plane {
    /// The path of this node's ingress sandbox namespace.
    pub fn ingress_netns(&self) -> PathBuf {
        self.config.netns_dir.join(self.ingress_netns_name())
    }

    /// The host's end of the link into the sandbox (fits IFNAMSIZ: the tag has at most 12).
    fn host_link(&self) -> String {
        format!("shi{}", self.config.tag)
    }

    /// Makes (or completes) the ingress sandbox on network `spec`'s overlay, which must exist,
    /// with the node's ingress `address`; calling it again re-attaches the overlay endpoint.
    pub async fn ensure_ingress(&self, spec: &NetworkSpec, address: Ipv4Addr) -> Result<()> {
        spec.validate()?;
        let overlay_path = self.overlay_netns(spec.vni);
        if !netns::is_mounted_namespace(&overlay_path) {
            return Err(Error::Invalid(format!(
                "the ingress network (VNI {}) has no overlay on this node",
                spec.vni
            )));
        }
        let sandbox_path = netns::create(&self.config.netns_dir, &self.ingress_netns_name()).await?;
        self.ensure_link(&sandbox_path).await?;
        // Internal: the sandbox's default route is the host link, set below.
        let endpoint_spec = NetworkSpec {
            internal: true,
            ..spec.clone()
        };
        self.attach(
            &endpoint_spec,
            &EndpointSpec {
                netns: sandbox_path.clone(),
                ifname: SANDBOX_OVERLAY_IF.into(),
                address,
            },
        )
        .await?;
        let sandbox = Netlink::open(&sandbox_path).await?;
        let link = links::index(&sandbox.handle, SANDBOX_LINK)
            .await?
            .ok_or_else(|| Error::Invalid("the sandbox lost its host link".into()))?;
        default_route(
            &sandbox.handle,
            HOST_LINK_ADDRESS,
            link,
            "the sandbox's default route",
        )
        .await?;
        let overlay = Netlink::open(&overlay_path).await?;
        let bridge = links::index(&overlay.handle, names::BRIDGE)
            .await?
            .ok_or_else(|| Error::Invalid(format!("the overlay of VNI {} has no bridge", spec.vni)))?;
        default_route(
            &overlay.handle,
            address,
            bridge,
            "the ingress overlay's default route",
        )
        .await?;
        for path in [self.host_netns().to_owned(), sandbox_path, overlay_path] {
            forwarding_on(&path).await?;
        }
        Ok(())
    }

    fn ingress_netns_name(&self) -> String {
        format!("{}{}-ingress", names::PREFIX, self.config.tag)
    }

    /// The veth pair host ↔ sandbox with its link-local addresses, made once.
    async fn ensure_link(&self, sandbox_path: &Path) -> Result<()> {
        let host = Netlink::open(self.host_netns()).await?;
        let sandbox = Netlink::open(sandbox_path).await?;
        let name = self.host_link();
        if links::index(&sandbox.handle, SANDBOX_LINK).await?.is_none() {
            // A host end left from an old sandbox would block the new pair's name.
            links::delete_named(&host.handle, &name).await?;
            let sandbox_ns = std::fs::File::open(sandbox_path).map_err(|source| Error::Namespace {
                path: sandbox_path.to_owned(),
                source,
            })?;
            let peer = LinkMessageBuilder::<LinkUnspec>::new()
                .name(SANDBOX_LINK.to_string())
                .setns_by_fd(sandbox_ns.as_raw_fd())
                .build();
            let pair = LinkMessageBuilder::<LinkVeth>::new_with_info_kind(InfoKind::Veth)
                .name(name.clone())
                .set_info_data(InfoData::Veth(InfoVeth::Peer(peer)))
                .up()
                .build();
            host.handle.link().add(pair).execute().await.map_err(|source| {
                Error::netlink(format!("create veth {name} into the ingress sandbox"), source)
            })?;
        }
        let host_index = links::index(&host.handle, &name)
            .await?
            .ok_or_else(|| Error::Invalid(format!("{name} is missing in the host namespace")))?;
        // Connections from the node's own loopback addresses (`curl localhost:8080`) leave
        // through this link after the mesh's DNAT; the kernel routes a loopback source out of
        // an interface only with `route_localnet` (the mesh's SNAT then replaces it).
        let sysctl = format!("/proc/sys/net/ipv4/conf/{name}/route_localnet");
        netns::run_in(self.host_netns(), move || {
            std::fs::write(&sysctl, "1")
                .map_err(|source| Error::io("allow loopback sources on the host link", source))
        })
        .await?;
        address_up(
            &host.handle,
            host_index,
            HOST_LINK_ADDRESS,
            "the host's ingress link",
        )
        .await?;
        // Every node's link has the same /30, so a host link another node's plane left in
        // this namespace (a dev cluster killed with its sandbox still pinned, then started
        // again under a new node ID) would hold an equal route to the sandbox: the published
        // ports' DNAT could leave through the dead link. The host route to this sandbox is
        // more specific, whatever else the namespace holds.
        let route = RouteMessageBuilder::<Ipv4Addr>::new()
            .destination_prefix(SANDBOX_LINK_ADDRESS, 32)
            .output_interface(host_index)
            .scope(rtnetlink::packet_route::route::RouteScope::Link)
            .build();
        set_route(&host.handle, route, "the host's route to its ingress sandbox").await?;
        let sandbox_index = links::index(&sandbox.handle, SANDBOX_LINK)
            .await?
            .ok_or_else(|| Error::Invalid("the sandbox's link did not arrive".into()))?;
        address_up(
            &sandbox.handle,
            sandbox_index,
            SANDBOX_LINK_ADDRESS,
            "the sandbox's link",
        )
        .await?;
        if let Some(lo) = links::index(&sandbox.handle, "lo").await? {
            links::up(&sandbox.handle, lo, "the sandbox's lo").await?;
        }
        Ok(())
    }

    /// Makes the mesh tables hold exactly `ports` (host and sandbox, one transaction each; the
    /// sandbox first, so the host never sends a port the sandbox does not balance yet).
    pub async fn set_mesh(&self, address: Ipv4Addr, ports: &[MeshPort]) -> Result<()> {
        let table = mesh::table_name(&self.config.tag);
        let sandbox_rules = mesh::sandbox_ruleset(&table, address, ports)?;
        let host_rules = mesh::host_ruleset(&table, self.config.underlay, ports)?;
        for (path, rules) in [
            (self.ingress_netns(), sandbox_rules),
            (self.host_netns().to_owned(), host_rules),
        ] {
            let netns_path = path.clone();
            netns::run_in(&path, move || {
                nftables::helper::apply_ruleset(&rules).map_err(|source| Error::Nftables {
                    netns: netns_path,
                    source,
                })
            })
            .await?;
        }
        // After the table: the rule lets through what the table marks.
        if firewall::ensure(self.host_netns(), &self.config.tag).await? == firewall::Ensured::Refused {
            tracing::warn!("{}", firewall::REFUSED);
        }
        Ok(())
    }

    /// Removes the mesh: the host's table and firewall rule, the host link and the sandbox
    /// namespace (its links first, so its end on the ingress overlay goes now, not when the
    /// kernel frees the namespace); removing what is gone succeeds.
    pub async fn remove_ingress(&self) -> Result<()> {
        let table = mesh::table_name(&self.config.tag);
        crate::vip::delete_table(self.host_netns(), &table).await?;
        firewall::remove(self.host_netns(), &self.config.tag).await?;
        let host = Netlink::open(self.host_netns()).await?;
        links::delete_named(&host.handle, &self.host_link()).await?;
        crate::overlay::teardown(&self.ingress_netns()).await
    }
}

async fn address_up(handle: &rtnetlink::Handle, index: u32, address: Ipv4Addr, what: &str) -> Result<()> {
    handle
        .address()
        .add(index, address.into(), LINK_PREFIX)
        .replace()
        .execute()
        .await
        .map_err(|source| Error::netlink(format!("address {what}"), source))?;
    links::up(handle, index, what).await
}

async fn default_route(handle: &rtnetlink::Handle, via: Ipv4Addr, index: u32, what: &str) -> Result<()> {
    let route = RouteMessageBuilder::<Ipv4Addr>::new()
        .gateway(via)
        .output_interface(index)
        .build();
    set_route(handle, route, what).await
}

/// Adds `route`, replacing one to the same destination.
async fn set_route(
    handle: &rtnetlink::Handle,
    route: rtnetlink::packet_route::route::RouteMessage,
    what: &str,
) -> Result<()> {
    handle
        .route()
        .add(route)
        .replace()
        .execute()
        .await
        .map_err(|source| Error::netlink(format!("set {what}"), source))
}

/// Switches IPv4 forwarding on in the namespace at `path` (the file is per namespace, read
/// through the opening thread's namespace) unless it is on; true when it was off — at the
/// sandbox's making, or after something switched it off (a `sysctl --system` whose files say
/// so, `guard`).
pub(crate) async fn forwarding_on(path: &Path) -> Result<bool> {
    netns::run_in(path, || {
        let file = "/proc/sys/net/ipv4/ip_forward";
        let now =
            std::fs::read_to_string(file).map_err(|source| Error::io("read IPv4 forwarding", source))?;
        if now.trim() == "1" {
            return Ok(false);
        }
        std::fs::write(file, "1").map_err(|source| Error::io("switch IPv4 forwarding on", source))?;
        Ok(true)
    })
    .await
}
