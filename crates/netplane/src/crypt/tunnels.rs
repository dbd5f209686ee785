//! The node's tunnel loop: one TUN device, one UDP socket, one boringtun session per peer node.
//!
//! ```text
//!  TUN ──read──► dst IPv4 = peer's underlay ──► encapsulate ──► UDP send to peer:51820
//!  UDP ──recv──► peer by source address ──► decapsulate ──► src = peer's underlay? ──► TUN write
//!  every 250 ms: each session's timers (handshake retries, rekeying, keepalives)
//! ```
//!
//! WireGuard rekeys its sessions itself (every 2 minutes); a change of a node's static key is a
//! `set_private_key` here and a `set_peers` with the new public key on every peer: the sessions
//! are renegotiated and the VXLAN path above them never changes, so connections between tasks
//! carry on (TCP retransmits what a handshake's round trip held up).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use boringtun::noise::{Tunn, TunnResult};

use super::keys::{PrivateKey, PublicKey};
use super::{TUN_NAME, TUNNEL_OVERHEAD, TUNNEL_PORT, steer};
use crate::error::{Error, Result};
use crate::netns;

/// How often the sessions' timers run (boringtun's own device ticks at this rate).
const TICK: Duration = Duration::from_millis(250);

/// The TUN device's transmit queue, in packets.
const TUN_QUEUE: u32 = 4096;

/// The tunnel socket's receive and send buffers.
const SOCKET_BUFFER: usize = 4 << 20;

/// The largest datagram or TUN packet handled (the TUN MTU is far below it).
const BUFFER: usize = 65_536;

/// Another node as the tunnel knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TunnelPeer {
    /// The node's underlay address: its VTEP and its tunnel endpoint.
    pub underlay: Ipv4Addr,
    /// The node's static public key, as the managers handed it out.
    pub public_key: PublicKey,
}

/// The running tunnel loop of a node; dropping it stops the loop, and `stop` also removes the
/// routing rules and the drop table.
pub struct Tunnels {
    shared: Arc<Shared>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    host: PathBuf,
    tag: String,
    mtu: u32,
}

struct Shared {
    udp: tokio::net::UdpSocket,
    tun: tun_rs::AsyncDevice,
    state: Mutex<State>,
}

struct State {
    key: PrivateKey,
    peers: HashMap<Ipv4Addr, Peer>,
    /// The next session index: unique among this node's sessions, as WireGuard's receiver index.
    next_index: u32,
}

struct Peer {
    public_key: PublicKey,
    session: Box<Tunn>,
}

impl State {
    fn session(&mut self, public_key: PublicKey) -> Box<Tunn> {
        let index = self.next_index;
        // boringtun shifts the index left by 8 bits: it has 24 bits.
        self.next_index = (self.next_index + 1) & 0x00ff_ffff;
        Box::new(Tunn::new(
            self.key.secret(),
            public_key.key(),
            None,
            None,
            index,
            None,
        ))
    }
}

impl Tunnels {
    /// Opens the TUN device and the tunnel socket in the host namespace at `host`, routes the
    /// encrypted VXLAN port through them and starts the loop with no peers yet. `tag` names the
    /// plane's nft table; `underlay` is the node's address and link.
    pub async fn start(
        host: &Path,
        tag: &str,
        underlay: Ipv4Addr,
        underlay_mtu: u32,
        key: PrivateKey,
    ) -> Result<Self> {
        let mtu = underlay_mtu.saturating_sub(TUNNEL_OVERHEAD);
        let tun_mtu =
            u16::try_from(mtu).map_err(|_| Error::Invalid(format!("tunnel MTU {mtu} is too large")))?;
        let (tun, udp) = netns::run_in(host, move || {
            let tun = tun_rs::DeviceBuilder::new()
                .name(TUN_NAME)
                .mtu(tun_mtu)
                .packet_information(false)
                // The default 500 overflowed while the loop sealed a burst (drops on the TUN's
                // transmit side, and TCP inside backing off).
                .tx_queue_len(TUN_QUEUE)
                .build_sync()
                .map_err(|source| Error::io("open the tunnel's TUN device", source))?;
            let udp = std::net::UdpSocket::bind(SocketAddrV4::new(underlay, TUNNEL_PORT))
                .map_err(|source| Error::io("bind the tunnel's UDP socket", source))?;
            udp.set_nonblocking(true)
                .map_err(|source| Error::io("make the tunnel socket non-blocking", source))?;
            // A stream's bursts overran the default receive buffer (~200 KiB): the drops showed
            // as UdpRcvbufErrors and TCP inside the tunnel backed off. As root the buffers may
            // exceed the sysctl limits; without that right the defaults stay.
            for (option, what) in [(true, "receive"), (false, "send")] {
                let set = if option {
                    nix::sys::socket::setsockopt(&udp, nix::sys::socket::sockopt::RcvBufForce, &SOCKET_BUFFER)
                } else {
                    nix::sys::socket::setsockopt(&udp, nix::sys::socket::sockopt::SndBufForce, &SOCKET_BUFFER)
                };
                if let Err(error) = set {
                    tracing::debug!(%error, "the tunnel socket keeps its default {what} buffer");
                }
            }
            Ok((tun, udp))
        })
        .await?;
        let tun =
            tun_rs::AsyncDevice::new(tun).map_err(|source| Error::io("register the TUN device", source))?;
        let udp = tokio::net::UdpSocket::from_std(udp)
            .map_err(|source| Error::io("register the tunnel socket", source))?;
        steer::install(host, tag).await?;
        let shared = Arc::new(Shared {
            udp,
            tun,
            state: Mutex::new(State {
                key,
                peers: HashMap::new(),
                next_index: 1,
            }),
        });
        let tasks = vec![
            tokio::spawn(outbound(shared.clone())),
            tokio::spawn(inbound(shared.clone())),
            tokio::spawn(timers(shared.clone())),
        ];
        Ok(Tunnels {
            shared,
            tasks,
            host: host.to_owned(),
            tag: tag.to_owned(),
            mtu,
        })
    }

    /// The TUN device's MTU: the underlay's less the tunnel's overhead.
    pub fn mtu(&self) -> u32 {
        self.mtu
    }

    /// This node's public key.
    pub fn public_key(&self) -> PublicKey {
        self.lock().key.public()
    }

    /// Makes the peers exactly `peers`: new ones get a session, a changed key a new session,
    /// unchanged ones keep theirs, the rest are dropped.
    pub fn set_peers(&self, peers: &[TunnelPeer]) {
        let mut state = self.lock();
        let wanted: HashMap<Ipv4Addr, PublicKey> = peers
            .iter()
            .map(|peer| (peer.underlay, peer.public_key))
            .collect();
        state
            .peers
            .retain(|address, peer| wanted.get(address) == Some(&peer.public_key));
        for (address, public_key) in wanted {
            if !state.peers.contains_key(&address) {
                let mut session = state.session(public_key);
                // At once rather than with the first packet: after a peer's key rotation the
                // peer's own attempt was refused under its old key and would only be retried
                // after WireGuard's 5 s, while the connections inside wait.
                self.initiate(&mut session, address, false);
                state.peers.insert(address, Peer { public_key, session });
            }
        }
    }

    /// Sends a handshake initiation on `session` to the peer at `address` now (best effort:
    /// the session's timers retry a lost one).
    fn initiate(&self, session: &mut Tunn, address: Ipv4Addr, force: bool) {
        let mut packet = [0u8; 256];
        if let TunnResult::WriteToNetwork(out) = session.format_handshake_initiation(&mut packet, force) {
            let target = SocketAddr::V4(SocketAddrV4::new(address, TUNNEL_PORT));
            if let Err(error) = self.shared.udp.try_send_to(out, target) {
                tracing::debug!(peer = %address, %error, "handshake initiation not sent; the timers retry");
            }
        }
    }

    /// Replaces this node's static key: every session is renegotiated under it (peers must be
    /// given the new public key too).
    pub fn set_private_key(&self, key: PrivateKey) {
        let mut state = self.lock();
        let public = key.public().key();
        for (address, peer) in state.peers.iter_mut() {
            peer.session.set_static_private(key.secret(), public, None);
            // Peers that already know the new key answer at once; the others initiate
            // themselves when they learn it (`set_peers`).
            self.initiate(&mut peer.session, *address, true);
        }
        state.key = key;
    }

    /// Whether a session with the peer at `underlay` has completed a handshake and is current.
    pub fn is_established(&self, underlay: Ipv4Addr) -> bool {
        self.lock()
            .peers
            .get(&underlay)
            .is_some_and(|peer| peer.session.time_since_last_handshake().is_some())
    }

    /// Stops the loop, closes the device and socket, and removes the routing rules and the drop table.
    pub async fn stop(mut self) -> Result<()> {
        for task in self.tasks.drain(..) {
            task.abort();
            let _ = task.await;
        }
        steer::remove(&self.host, &self.tag).await
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        lock(&self.shared)
    }
}

impl Drop for Tunnels {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl std::fmt::Debug for Tunnels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tunnels")
            .field("mtu", &self.mtu)
            .finish_non_exhaustive()
    }
}

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, State> {
    // A panic while holding the lock leaves sessions that are still consistent (each call
    // completes or fails as a whole), so the poison is not a reason to stop the data path.
    shared
        .state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The peer a packet read from the TUN device goes to: its IPv4 destination (the VXLAN's remote).
fn destination(packet: &[u8]) -> Option<Ipv4Addr> {
    if packet.len() < 20 || packet[0] >> 4 != 4 {
        return None;
    }
    Some(Ipv4Addr::new(packet[16], packet[17], packet[18], packet[19]))
}

async fn outbound(shared: Arc<Shared>) {
    let mut packet = vec![0u8; BUFFER];
    let mut sealed = vec![0u8; BUFFER + 32];
    loop {
        let n = match shared.tun.recv(&mut packet).await {
            Ok(n) => n,
            Err(error) => {
                tracing::warn!(%error, "the tunnel's TUN device failed; encrypted networks are cut off");
                return;
            }
        };
        let Some(peer) = destination(&packet[..n]) else {
            continue;
        };
        let length = {
            let mut state = lock(&shared);
            let Some(entry) = state.peers.get_mut(&peer) else {
                tracing::debug!(%peer, "no tunnel to this node; packet dropped");
                continue;
            };
            match entry.session.encapsulate(&packet[..n], &mut sealed) {
                TunnResult::WriteToNetwork(out) => out.len(),
                TunnResult::Err(error) => {
                    tracing::debug!(%peer, ?error, "encapsulation failed");
                    continue;
                }
                _ => continue,
            }
        };
        send(&shared, &sealed[..length], peer).await;
    }
}

async fn inbound(shared: Arc<Shared>) {
    let mut datagram = vec![0u8; BUFFER];
    let mut opened = vec![0u8; BUFFER];
    loop {
        let (n, from) = match shared.udp.recv_from(&mut datagram).await {
            Ok(received) => received,
            Err(error) => {
                tracing::debug!(%error, "tunnel socket receive failed");
                continue;
            }
        };
        let SocketAddr::V4(from) = from else { continue };
        let peer = *from.ip();
        let mut input: &[u8] = &datagram[..n];
        // A datagram may release packets queued behind a handshake: boringtun hands them out
        // one per call with an empty input, until it says Done.
        loop {
            let action = {
                let mut state = lock(&shared);
                let Some(entry) = state.peers.get_mut(&peer) else {
                    tracing::debug!(%peer, "datagram from a node that is no peer; dropped");
                    break;
                };
                match entry
                    .session
                    .decapsulate(Some(IpAddr::V4(peer)), input, &mut opened)
                {
                    TunnResult::WriteToNetwork(out) => Action::Send(out.len()),
                    // The inner packet must come from the peer's own address: a node cannot
                    // speak for another through its tunnel (WireGuard's allowed IPs).
                    TunnResult::WriteToTunnelV4(out, source) if source == peer => Action::Deliver(out.len()),
                    TunnResult::WriteToTunnelV4(_, source) => {
                        tracing::debug!(%peer, %source, "tunnelled packet from a foreign address; dropped");
                        Action::Stop
                    }
                    TunnResult::Err(error) => {
                        tracing::debug!(%peer, ?error, "tunnel datagram refused");
                        Action::Stop
                    }
                    TunnResult::WriteToTunnelV6(..) | TunnResult::Done => Action::Stop,
                }
            };
            match action {
                Action::Send(length) => {
                    send(&shared, &opened[..length], peer).await;
                    input = &[];
                }
                Action::Deliver(length) => {
                    if let Err(error) = shared.tun.send(&opened[..length]).await {
                        tracing::debug!(%error, "TUN write failed");
                    }
                    break;
                }
                Action::Stop => break,
            }
        }
    }
}

enum Action {
    Send(usize),
    Deliver(usize),
    Stop,
}

async fn timers(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut out = vec![0u8; BUFFER];
    loop {
        tick.tick().await;
        let mut due = Vec::new();
        {
            let mut state = lock(&shared);
            for (address, peer) in state.peers.iter_mut() {
                if let TunnResult::WriteToNetwork(packet) = peer.session.update_timers(&mut out) {
                    due.push((*address, packet.to_vec()));
                }
            }
        }
        for (address, packet) in due {
            send(&shared, &packet, address).await;
        }
    }
}

async fn send(shared: &Shared, datagram: &[u8], peer: Ipv4Addr) {
    let target = SocketAddr::V4(SocketAddrV4::new(peer, TUNNEL_PORT));
    if let Err(error) = shared.udp.send_to(datagram, target).await {
        tracing::debug!(%peer, %error, "tunnel send failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_destination_is_read_from_ipv4_headers_only() {
        let mut packet = [0u8; 28];
        packet[0] = 0x45;
        packet[16..20].copy_from_slice(&[192, 168, 1, 2]);
        assert_eq!(destination(&packet), Some(Ipv4Addr::new(192, 168, 1, 2)));
        packet[0] = 0x60;
        assert_eq!(destination(&packet), None);
        assert_eq!(destination(&packet[..10]), None);
    }
}
