//! What other programs take from the host namespace while the agent runs, and the plane puts
//! back. A firewall reload is the usual one: `nft flush ruleset` (the first line of Debian's
//! `/etc/nftables.conf`, so every `systemctl restart nftables`), a firewalld reload and
//! `iptables-restore` replace the host's rules, the plane's with them. Each loss is silent and
//! lasting:
//!
//! - the mesh's host table: this node's published ports stop answering;
//! - the `FORWARD` accept rule (`firewall`): behind a firewall that drops forwarded traffic, they
//!   answer only this node's own clients; so too when IPv4 forwarding is switched off (a
//!   `sysctl --system` whose files say `net.ipv4.ip_forward = 0`);
//! - the encrypted overlays' drop table (`crypt::steer`): plaintext VXLAN from the underlay is
//!   delivered into encrypted networks again, so the tunnels no longer authenticate anything.
//!
//! dockerd puts its rules back only on firewalld's reload signal; the agent looks every few
//! seconds instead (`Plane::check_host`), whatever did the reloading. The same look finds
//! nftables-native firewalls whose forward chain drops, which the plane leaves alone and
//! reports with the rule that would let the mesh through.

use crate::crypt::steer;
use crate::error::Result;
use crate::mesh::MeshPort;
use crate::plane::Plane;
use crate::{firewall, ingress, mesh, vip};

/// What one look at the host namespace found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct HostCheck {
    /// The mesh's host table is gone. The plane does not keep the mesh's ports, so the caller
    /// sets the mesh again.
    pub mesh_table_lost: bool,
    /// What was missing and is back, for the log.
    pub restored: Vec<&'static str>,
    /// What the plane cannot put right itself: an nftables firewall's chain that drops the
    /// mesh's forwarded connections (`firewall::forward_drops`), with the rule that would
    /// accept them, or an iptables that refused the accept rule. For the log (once) and
    /// `docker info`.
    pub warnings: Vec<String>,
}

impl Plane {
    /// Looks for the plane's rules in the host namespace and puts back what is missing: the
    /// encrypted overlays' drop table while tunnels run, and, while the mesh as last set
    /// (`mesh`) has ports this host answers on, IPv4 forwarding and the firewall accept rule; a
    /// lost mesh table is reported, not made.
    pub async fn check_host(&self, mesh: Option<&[MeshPort]>) -> Result<HostCheck> {
        let tag = &self.config.tag;
        let mut check = HostCheck::default();
        let mesh_set = mesh.is_some_and(mesh::host_table_needed);
        // Held while putting the drop table back: tunnels stopped meanwhile would leave it behind.
        let tunnels = self.tunnels.lock().await;
        if tunnels.is_none() && !mesh_set {
            return Ok(check);
        }
        let tables = vip::nft_tables(self.host_netns()).await?;
        if tunnels.is_some() && !tables.contains(&steer::nft_table(tag)) {
            steer::install_drop(self.host_netns(), tag).await?;
            check.restored.push("the encrypted overlays' drop table");
        }
        drop(tunnels);
        if mesh_set {
            if ingress::forwarding_on(self.host_netns()).await? {
                check.restored.push("IPv4 forwarding in the host namespace");
            }
            check.warnings = firewall::nft_warnings(self.host_netns()).await?;
            if !tables.contains(&mesh::table_name(tag)) {
                check.mesh_table_lost = true;
            } else {
                match firewall::ensure(self.host_netns(), tag).await? {
                    firewall::Ensured::Nothing => {}
                    firewall::Ensured::Inserted => {
                        check.restored.push("the routing mesh's firewall accept rule")
                    }
                    firewall::Ensured::Refused => check.warnings.push(firewall::REFUSED.to_owned()),
                }
            }
        }
        Ok(check)
    }
}
