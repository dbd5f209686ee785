//! Removing what a crashed agent left: every name the plane gives starts with `shoal-` and carries
//! its owner tag where it is machine-global, so a restarted agent finds exactly its own leftovers.

use std::path::Path;

use crate::error::Result;
use crate::links;
use crate::names;
use crate::netns::{self, Netlink};
use crate::plane::Plane;
use crate::vip;

/// What a sweep removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Overlay namespaces removed (their names).
    pub namespaces: Vec<String>,
    /// Links removed (their names).
    pub links: Vec<String>,
    /// nft tables removed.
    pub tables: Vec<String>,
}

impl Plane {
    /// Removes this plane's overlay namespaces of networks not in `keep`, and any VXLAN device a
    /// cut-short create left in the host namespace.
    pub async fn sweep(&self, keep: &[u32]) -> Result<SweepReport> {
        let _serialised = self.overlays.lock().await;
        let mut report = SweepReport::default();
        let prefix = names::overlay_prefix(&self.config.tag);
        for name in netns::list(&self.config.netns_dir, &prefix)? {
            let kept = name[prefix.len()..]
                .parse::<u32>()
                .is_ok_and(|vni| keep.contains(&vni));
            if !kept {
                crate::overlay::teardown(&self.config.netns_dir.join(&name)).await?;
                report.namespaces.push(name);
            }
        }
        // A VXLAN device lives in the host namespace only between its creation and its move;
        // another agent's (another alias) may be on its way into its overlay right now.
        let host = Netlink::open(self.host_netns()).await?;
        let vxlan_prefix = names::vxlan_prefix();
        let ours = names::vxlan_alias(&self.config.tag);
        for link in links::all(&host.handle).await? {
            if let Some(name) = links::name(&link)
                && name.starts_with(&vxlan_prefix)
                && links::alias(&link).is_none_or(|alias| alias == ours)
            {
                let name = name.to_owned();
                links::delete(&host.handle, link.header.index, &name).await?;
                report.links.push(name);
            }
        }
        if report != SweepReport::default() {
            tracing::info!(?report, "swept data plane leftovers");
        }
        Ok(report)
    }

    /// Removes this plane's VIP table and overlay interfaces from the task namespace at `netns`.
    pub async fn sweep_sandbox(&self, netns: &Path) -> Result<SweepReport> {
        let mut report = SweepReport::default();
        let table = names::nft_table(&self.config.tag);
        if vip::nft_tables(netns).await?.contains(&table) {
            vip::delete_table(netns, &table).await?;
            report.tables.push(table);
        }
        let ours = format!("{}{}:", names::PREFIX, self.config.tag);
        let task = Netlink::open(netns).await?;
        for link in links::all(&task.handle).await? {
            if links::alias(&link).is_some_and(|alias| alias.starts_with(&ours)) {
                let name = links::name(&link).unwrap_or("?").to_owned();
                links::delete(&task.handle, link.header.index, &name).await?;
                report.links.push(name);
            }
        }
        Ok(report)
    }
}
