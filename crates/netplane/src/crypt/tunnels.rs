//! The node's tunnel loop: one TUN device, one UDP socket, one boringtun session per peer node.
//!
//! ```text
//!  thread shoal-wg-out: TUN ──read──► dst IPv4 = peer's underlay ──► encapsulate ──► UDP send to peer:51820
//!  thread shoal-wg-in:  UDP ──recv──► peer by source address ──► decapsulate ──► src = peer's underlay?
//!                       ──► VXLAN to this node: marked loopback send to its VXLAN socket (`deliver`); else TUN write
//!  task, every 250 ms:  each session's timers (handshake retries, rekeying, keepalives)
//! ```
//!
//! The two directions are threads blocking on their descriptors and moving batches
//! (`datapath`): a task per direction on the agent's runtime paid an async wakeup per packet
//! and could not batch the system calls. The cause of the old path's cost, measured on 3 netns
//! hosts (`shoal-bench mesh --overlay-only`): no drops, retransmissions or fragments, but every
//! 1.4 KB packet crossed the kernel's whole path alone — a UDP send per packet through the
//! underlay's veths, bridge and netfilter, and a TUN write per packet through VXLAN, bridge,
//! veth and TCP receive, with no GSO or GRO anywhere — about 30 CPU seconds per GiB.
//!
//! WireGuard rekeys its sessions itself (every 2 minutes); a change of a node's static key is a
//! `set_private_key` here and a `set_peers` with the new public key on every peer: the sessions
//! are renegotiated and the VXLAN path above them never changes, so connections between tasks
//! carry on (TCP retransmits what a handshake's round trip held up).

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use boringtun::noise::{Tunn, TunnResult};
use nix::sys::socket::MsgFlags;

use super::datapath;
use super::deliver::DELIVER_MARK;
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

/// The largest message the session timers write (handshake initiations, keepalives).
const TIMER_BUFFER: usize = 256;

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
    timers: tokio::task::JoinHandle<()>,
    threads: Vec<std::thread::JoinHandle<()>>,
    /// Dropping it wakes the data threads to end.
    stop: Option<UnixStream>,
    host: PathBuf,
    tag: String,
    mtu: u32,
}

/// What the data threads, the timers and the API calls share.
pub(super) struct Shared {
    /// The tunnel socket: blocking, so a full send buffer holds the sender back; receives and
    /// the timers' sends do not wait.
    pub(super) udp: std::net::UdpSocket,
    /// The TUN device, non-blocking (its reads drain what is ready).
    pub(super) tun: tun_rs::SyncDevice,
    /// The TUN device's MTU: no packet read from it is longer.
    pub(super) mtu: u32,
    /// This node's underlay address.
    pub(super) underlay: Ipv4Addr,
    /// The marked socket delivering opened VXLAN to this node's VXLAN socket over loopback
    /// (`deliver`); without it (the mark refused) every opened packet is a TUN write.
    pub(super) deliver: Option<std::net::UdpSocket>,
    pub(super) state: Mutex<State>,
}

pub(super) struct State {
    key: PrivateKey,
    pub(super) peers: HashMap<Ipv4Addr, Peer>,
    /// The next session index: unique among this node's sessions, as WireGuard's receiver index.
    next_index: u32,
}

pub(super) struct Peer {
    public_key: PublicKey,
    pub(super) session: Box<Tunn>,
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
        let (tun, udp, deliver) = netns::run_in(host, move || {
            let tun = tun_rs::DeviceBuilder::new()
                .name(TUN_NAME)
                .mtu(tun_mtu)
                .packet_information(false)
                // The default 500 overflowed while the loop sealed a burst (drops on the TUN's
                // transmit side, and TCP inside backing off).
                .tx_queue_len(TUN_QUEUE)
                .build_sync()
                .map_err(|source| Error::io("open the tunnel's TUN device", source))?;
            tun.set_nonblocking(true)
                .map_err(|source| Error::io("make the TUN device non-blocking", source))?;
            let udp = std::net::UdpSocket::bind(SocketAddrV4::new(underlay, TUNNEL_PORT))
                .map_err(|source| Error::io("bind the tunnel's UDP socket", source))?;
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
            let deliver = std::net::UdpSocket::bind(SocketAddrV4::new(underlay, 0))
                .map_err(|source| Error::io("bind the tunnel's delivering socket", source))?;
            let deliver = match nix::sys::socket::setsockopt(&deliver, nix::sys::socket::sockopt::Mark, &DELIVER_MARK) {
                Ok(()) => Some(deliver),
                Err(error) => {
                    tracing::info!(%error, "opened packets go through the TUN device one by one (no socket mark)");
                    None
                }
            };
            Ok((tun, udp, deliver))
        })
        .await?;
        steer::install(host, tag).await?;
        let shared = Arc::new(Shared {
            udp,
            tun,
            mtu,
            underlay,
            deliver,
            state: Mutex::new(State {
                key,
                peers: HashMap::new(),
                next_index: 1,
            }),
        });
        let (stop, stopped) =
            UnixStream::pair().map_err(|source| Error::io("make the tunnel's stop signal", source))?;
        let mut threads = Vec::new();
        for (name, run) in [
            ("shoal-wg-out", datapath::outbound as fn(&Shared, &UnixStream)),
            ("shoal-wg-in", datapath::inbound),
        ] {
            let shared = shared.clone();
            let stopped = stopped
                .try_clone()
                .map_err(|source| Error::io("share the tunnel's stop signal", source))?;
            let thread = std::thread::Builder::new()
                .name(name.into())
                .spawn(move || run(&shared, &stopped))
                .map_err(|source| Error::io("start a tunnel thread", source))?;
            threads.push(thread);
        }
        Ok(Tunnels {
            timers: tokio::spawn(timers(shared.clone())),
            shared,
            threads,
            stop: Some(stop),
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
            datapath::send(&self.shared, out, address, MsgFlags::MSG_DONTWAIT);
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
        self.timers.abort();
        let _ = (&mut self.timers).await;
        self.stop = None;
        let threads = std::mem::take(&mut self.threads);
        // The threads see the signal at their next wait: the device and socket are closed
        // when this returns (a new `start` may open them again at once).
        let _ = tokio::task::spawn_blocking(move || {
            for thread in threads {
                let _ = thread.join();
            }
        })
        .await;
        steer::remove(&self.host, &self.tag).await
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        lock(&self.shared)
    }
}

impl Drop for Tunnels {
    fn drop(&mut self) {
        // The data threads end when `stop` goes with the rest of the fields.
        self.timers.abort();
    }
}

impl std::fmt::Debug for Tunnels {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tunnels")
            .field("mtu", &self.mtu)
            .finish_non_exhaustive()
    }
}

pub(super) fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, State> {
    // A panic while holding the lock leaves sessions that are still consistent (each call
    // completes or fails as a whole), so the poison is not a reason to stop the data path.
    shared
        .state
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn timers(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut out = vec![0u8; TIMER_BUFFER];
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
            datapath::send(&shared, &packet, address, MsgFlags::MSG_DONTWAIT);
        }
    }
}
