//! The node's tunnels as part of its `Plane`: started when the first encrypted network needs
//! them, kept while the agent runs, their key and peers replaced as the managers' view changes.

use super::keys::PrivateKey;
use super::tunnels::{TunnelPeer, Tunnels};
use crate::error::Result;
use crate::plane::Plane;

impl Plane {
    /// Runs the node's tunnels under `key` with exactly `peers`: started on first use, the key
    /// replaced (every session renegotiated) when it differs from the running one.
    pub async fn set_tunnels(&self, key: &PrivateKey, peers: &[TunnelPeer]) -> Result<()> {
        let mut tunnels = self.tunnels.lock().await;
        let running = match tunnels.take() {
            Some(running) => running,
            None => {
                let mtu = self.underlay_mtu().await?;
                Tunnels::start(
                    self.host_netns(),
                    &self.config.tag,
                    self.config.underlay,
                    mtu,
                    key.clone(),
                )
                .await?
            }
        };
        if running.public_key() != key.public() {
            running.set_private_key(key.clone());
        }
        running.set_peers(peers);
        *tunnels = Some(running);
        Ok(())
    }

    /// Stops the node's tunnels, if they run, and removes their routing and drop table.
    pub async fn stop_tunnels(&self) -> Result<()> {
        match self.tunnels.lock().await.take() {
            Some(running) => running.stop().await,
            None => Ok(()),
        }
    }

    /// Whether the tunnel to the node at `underlay` has a current session.
    pub async fn tunnel_established(&self, underlay: std::net::Ipv4Addr) -> bool {
        self.tunnels
            .lock()
            .await
            .as_ref()
            .is_some_and(|running| running.is_established(underlay))
    }
}
