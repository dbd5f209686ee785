//! The tunnel's two data threads. Each blocks on its own descriptor (no async wakeup per packet)
//! and moves packets in batches, so the system calls and the underlay's traversal are paid per
//! run of packets rather than per packet:
//!
//! ```text
//!  shoal-wg-out: poll TUN ─► read every ready packet (≤ 64) ─► one lock: seal each for its peer
//!                ─► a run of equal-size datagrams to one peer ─► one UDP GSO send (the kernel
//!                   carries the run across the underlay as one packet and splits it at the end)
//!  shoal-wg-in:  poll UDP ─► recvmsg with UDP_GRO: a run of datagrams from one peer per call
//!                ─► one lock: open each, source = the peer's own address?
//!                ─► VXLAN for this node: the run's payloads as one GSO send to its VXLAN
//!                   socket over loopback (`deliver`); anything else: a TUN write
//! ```
//!
//! Every datagram is untrusted: boringtun authenticates it before anything reaches the VXLAN
//! socket or the TUN device, the buffers are fixed at start (what a run collects is bounded by
//! the receive buffer), and a run's segment size comes from the kernel.

use std::io::{ErrorKind, IoSlice, IoSliceMut};
use std::net::{IpAddr, Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::net::UnixStream;

use boringtun::noise::TunnResult;
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::socket::{ControlMessage, ControlMessageOwned, MsgFlags, SockaddrIn, recvmsg, sendmsg, sendto};

use super::TUNNEL_PORT;
use super::deliver::{Deliverer, vxlan_payload};
use super::tunnels::{Shared, lock};

/// The most packets read from the TUN device (and datagrams sent in one GSO run) per batch.
const BATCH: usize = 64;

/// The largest UDP payload of one IPv4 datagram: a GSO run stays under it.
const MAX_UDP_PAYLOAD: usize = 65_507;

/// The receive buffer: a GRO run is at most one IPv4 datagram's worth.
const RECEIVE: usize = 65_536;

/// Room beyond a packet's length for what boringtun writes for it: its header and tag (32
/// bytes), or a handshake message (at most 148) in its place.
const SEAL_ROOM: usize = 256;

/// Waits until `fd` is readable; false once `stop` is (its other end dropped: the tunnels are
/// going) or polling fails.
fn ready(fd: BorrowedFd<'_>, stop: &UnixStream) -> bool {
    loop {
        let mut fds = [
            PollFd::new(fd, PollFlags::POLLIN),
            PollFd::new(stop.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {
                let fired = |fd: &PollFd<'_>| fd.revents().is_some_and(|events| !events.is_empty());
                if fired(&fds[1]) {
                    return false;
                }
                if fired(&fds[0]) {
                    return true;
                }
            }
            Err(Errno::EINTR) => {}
            Err(error) => {
                tracing::warn!(%error, "the tunnel loop cannot wait for packets; encrypted networks are cut off");
                return false;
            }
        }
    }
}

/// The outbound thread: TUN → seal → UDP, until `stop`.
pub(super) fn outbound(shared: &Shared, stop: &UnixStream) {
    let slot = shared.mtu as usize + SEAL_ROOM;
    let mut packets = vec![0u8; BATCH * slot];
    let mut lengths = [0usize; BATCH];
    let mut outbox = Outbox {
        data: vec![0u8; BATCH * slot],
        datagrams: Vec::with_capacity(BATCH),
        gso: true,
    };
    while ready(shared.tun.as_fd(), stop) {
        let mut count = 0;
        while count < BATCH {
            match shared.tun.recv(&mut packets[count * slot..(count + 1) * slot]) {
                Ok(n) => {
                    lengths[count] = n;
                    count += 1;
                }
                Err(error) if error.kind() == ErrorKind::WouldBlock => break,
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                Err(error) => {
                    tracing::warn!(%error, "the tunnel's TUN device failed; encrypted networks are cut off");
                    return;
                }
            }
        }
        outbox.datagrams.clear();
        let mut end = 0;
        {
            let mut state = lock(shared);
            for (i, length) in lengths[..count].iter().enumerate() {
                let packet = &packets[i * slot..i * slot + length];
                let Some(peer) = destination(packet) else {
                    continue;
                };
                let Some(entry) = state.peers.get_mut(&peer) else {
                    tracing::debug!(%peer, "no tunnel to this node; packet dropped");
                    continue;
                };
                match entry
                    .session
                    .encapsulate(packet, &mut outbox.data[end..end + slot])
                {
                    TunnResult::WriteToNetwork(out) => {
                        let length = out.len();
                        outbox.datagrams.push((peer, end, length));
                        end += length;
                    }
                    TunnResult::Err(error) => tracing::debug!(%peer, ?error, "encapsulation failed"),
                    _ => {}
                }
            }
        }
        outbox.send(shared);
    }
}

/// Sealed datagrams laid end to end in `data`: (peer, start, length) each.
struct Outbox {
    data: Vec<u8>,
    datagrams: Vec<(Ipv4Addr, usize, usize)>,
    /// Whether the socket takes UDP GSO sends (false after the kernel refused one).
    gso: bool,
}

impl Outbox {
    /// Sends every datagram: each run of consecutive ones to the same peer, all of one size but
    /// a shorter last, as one GSO send.
    fn send(&mut self, shared: &Shared) {
        let datagrams = &self.datagrams;
        let mut i = 0;
        while i < datagrams.len() {
            let (peer, start, size) = datagrams[i];
            let mut j = i + 1;
            let mut end = start + size;
            if self.gso {
                let most = (MAX_UDP_PAYLOAD / size.max(1)).min(BATCH);
                while j < datagrams.len() && j - i < most {
                    let (next_peer, next_start, next_size) = datagrams[j];
                    if next_peer != peer || next_start != end || next_size > size {
                        break;
                    }
                    end += next_size;
                    j += 1;
                    if next_size < size {
                        break;
                    }
                }
            }
            if j - i > 1 {
                match send_run(shared, &self.data[start..end], size, peer) {
                    Ok(()) => {
                        i = j;
                        continue;
                    }
                    Err(Errno::EIO | Errno::EINVAL | Errno::EOPNOTSUPP | Errno::ENOPROTOOPT) => {
                        tracing::info!(%peer, "the underlay refuses UDP GSO; the tunnel sends one datagram per call");
                        self.gso = false;
                    }
                    Err(error) => tracing::debug!(%peer, %error, "tunnel send failed"),
                }
            }
            for &(peer, start, size) in &datagrams[i..j] {
                send(shared, &self.data[start..start + size], peer, MsgFlags::empty());
            }
            i = j;
        }
    }
}

/// One GSO send of `run`, datagrams of `size` bytes (the last may be shorter), to `peer`.
fn send_run(shared: &Shared, run: &[u8], size: usize, peer: Ipv4Addr) -> nix::Result<()> {
    let segment = u16::try_from(size).map_err(|_| Errno::EINVAL)?;
    let target = SockaddrIn::from(SocketAddrV4::new(peer, TUNNEL_PORT));
    sendmsg(
        shared.udp.as_raw_fd(),
        &[IoSlice::new(run)],
        &[ControlMessage::UdpGsoSegments(&segment)],
        MsgFlags::empty(),
        Some(&target),
    )
    .map(drop)
}

/// Sends one datagram to `peer`'s tunnel port; the socket blocks while its buffer is full
/// unless `flags` says otherwise. Failures are logged: WireGuard and TCP inside retry.
pub(super) fn send(shared: &Shared, datagram: &[u8], peer: Ipv4Addr, flags: MsgFlags) {
    let target = SockaddrIn::from(SocketAddrV4::new(peer, TUNNEL_PORT));
    if let Err(error) = sendto(shared.udp.as_raw_fd(), datagram, &target, flags) {
        tracing::debug!(%peer, %error, "tunnel send failed");
    }
}

/// The inbound thread: UDP → open → the VXLAN socket (or the TUN device), until `stop`.
pub(super) fn inbound(shared: &Shared, stop: &UnixStream) {
    // Runs of datagrams in one receive; without it (an old kernel) one datagram per call.
    if let Err(error) =
        nix::sys::socket::setsockopt(&shared.udp, nix::sys::socket::sockopt::UdpGroSegment, &true)
    {
        tracing::debug!(%error, "the tunnel socket receives without UDP GRO");
    }
    let mut datagram = vec![0u8; RECEIVE];
    let mut opened = vec![0u8; RECEIVE + SEAL_ROOM];
    let mut released = vec![0u8; RECEIVE];
    let mut deliveries: Vec<(usize, usize)> = Vec::with_capacity(BATCH);
    let mut replies: Vec<Vec<u8>> = Vec::new();
    let mut control = nix::cmsg_space!(i32);
    let mut deliverer = Deliverer::new(shared.underlay);
    while ready(shared.udp.as_fd(), stop) {
        // Everything that is there, up to a bound so a flood cannot keep the stop unseen.
        for _ in 0..BATCH {
            let (n, peer, segment) = {
                let mut iov = [IoSliceMut::new(&mut datagram)];
                match recvmsg::<SockaddrIn>(
                    shared.udp.as_raw_fd(),
                    &mut iov,
                    Some(&mut control),
                    MsgFlags::MSG_DONTWAIT,
                ) {
                    Ok(message) => {
                        let segment = message.cmsgs().ok().and_then(|mut cmsgs| {
                            cmsgs.find_map(|cmsg| match cmsg {
                                ControlMessageOwned::UdpGroSegments(size) => usize::try_from(size).ok(),
                                _ => None,
                            })
                        });
                        let Some(from) = message.address else { continue };
                        (message.bytes, from.ip(), segment)
                    }
                    Err(Errno::EAGAIN) => break,
                    Err(Errno::EINTR) => continue,
                    Err(error) => {
                        tracing::debug!(%error, "tunnel socket receive failed");
                        break;
                    }
                }
            };
            let segment = segment.filter(|size| *size > 0).unwrap_or(n).max(1);
            deliveries.clear();
            replies.clear();
            {
                let mut state = lock(shared);
                let Some(entry) = state.peers.get_mut(&peer) else {
                    tracing::debug!(%peer, "datagram from a node that is no peer; dropped");
                    continue;
                };
                let mut end = 0;
                for input in datagram[..n].chunks(segment) {
                    match entry
                        .session
                        .decapsulate(Some(IpAddr::V4(peer)), input, &mut opened[end..])
                    {
                        TunnResult::WriteToNetwork(out) => {
                            replies.push(out.to_vec());
                            // The datagram may release packets queued behind a handshake:
                            // boringtun hands them out one per call with an empty input.
                            while let TunnResult::WriteToNetwork(out) =
                                entry
                                    .session
                                    .decapsulate(Some(IpAddr::V4(peer)), &[], &mut released)
                            {
                                replies.push(out.to_vec());
                            }
                        }
                        // The inner packet must come from the peer's own address: a node cannot
                        // speak for another through its tunnel (WireGuard's allowed IPs).
                        TunnResult::WriteToTunnelV4(out, source) if source == peer => {
                            let length = out.len();
                            deliveries.push((end, length));
                            end += length;
                        }
                        TunnResult::WriteToTunnelV4(_, source) => {
                            tracing::debug!(%peer, %source, "tunnelled packet from a foreign address; dropped");
                        }
                        TunnResult::Err(error) => tracing::debug!(%peer, ?error, "tunnel datagram refused"),
                        TunnResult::WriteToTunnelV6(..) | TunnResult::Done => {}
                    }
                }
            }
            for reply in &replies {
                send(shared, reply, peer, MsgFlags::empty());
            }
            let mut payloads: Vec<&[u8]> = Vec::with_capacity(deliveries.len());
            for &(start, length) in &deliveries {
                let packet = &opened[start..start + length];
                if shared.deliver.is_some()
                    && let Some(payload) = vxlan_payload(packet, shared.underlay)
                {
                    payloads.push(payload);
                    continue;
                }
                if let Some(socket) = &shared.deliver {
                    deliverer.send(socket, &payloads);
                }
                payloads.clear();
                if let Err(error) = shared.tun.send(packet) {
                    tracing::debug!(%error, "TUN write failed");
                }
            }
            if let Some(socket) = &shared.deliver {
                deliverer.send(socket, &payloads);
            }
        }
    }
}

/// The peer a packet read from the TUN device goes to: its IPv4 destination (the VXLAN's remote).
pub(super) fn destination(packet: &[u8]) -> Option<Ipv4Addr> {
    if packet.len() < 20 || packet[0] >> 4 != 4 {
        return None;
    }
    Some(Ipv4Addr::new(packet[16], packet[17], packet[18], packet[19]))
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
