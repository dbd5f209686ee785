//! Opened packets into the encrypted networks' VXLAN socket in runs, not one TUN write each:
//! the VXLAN payload of each packet (what follows the outer IPv4 and UDP headers) is sent from a
//! marked socket to this node's own encrypted VXLAN port, a run of equal-size payloads as one
//! UDP GSO send over loopback.
//!
//! ```text
//!  opened packet: IPv4 (peer → this node) | UDP → 4793 | VXLAN | inner frame
//!                 └──────── dropped here ───────────┘ └─ sent to <underlay>:4793 ─┘
//!  lo ─► prerouting: udp dport 4793, iif lo, meta mark DELIVER_MARK → accept (`steer`)
//!     ─► the VXLAN socket splits the run ─► every frame into VXLAN's GRO cell in one softirq
//!     ─► GRO merges a TCP stream's segments before bridge, veth and TCP see them
//! ```
//!
//! A TUN write carries one packet per system call through the whole receive path (VXLAN,
//! bridge, veth, TCP), so nothing merges: that was most of the receiving agent's CPU. Only a
//! process with CAP_NET_ADMIN can mark a socket, so no unprivileged local process gets plaintext
//! VXLAN past the drop rule this way; whatever is not VXLAN for this node still goes through the
//! TUN device as before.

use std::io::IoSlice;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::os::fd::AsRawFd;

use nix::errno::Errno;
use nix::sys::socket::{ControlMessage, MsgFlags, SockaddrIn, sendmsg, sendto};

use super::ENCRYPTED_VXLAN_PORT;

/// The mark of the delivering socket's packets, which the drop table lets in from loopback.
pub(crate) const DELIVER_MARK: u32 = 0x5348_4f41;

/// The most payloads in one run (the kernel's limit on GSO segments is 64 or more).
const RUN: usize = 64;

/// The largest UDP payload of one IPv4 datagram: a run stays under it.
const MAX_UDP_PAYLOAD: usize = 65_507;

/// The VXLAN payload of an opened packet when it is VXLAN for this node's encrypted port: an
/// unfragmented IPv4 packet to `underlay`, UDP to the port, lengths consistent.
pub(super) fn vxlan_payload(packet: &[u8], underlay: Ipv4Addr) -> Option<&[u8]> {
    if packet.len() < 20 || packet[0] >> 4 != 4 {
        return None;
    }
    let header = usize::from(packet[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([packet[2], packet[3]]));
    let fragment = u16::from_be_bytes([packet[6], packet[7]]) & 0x3fff;
    if header < 20 || total > packet.len() || total < header + 8 || packet[9] != 17 || fragment != 0 {
        return None;
    }
    if packet[16..20] != underlay.octets() {
        return None;
    }
    let udp = &packet[header..total];
    let port = u16::from_be_bytes([udp[2], udp[3]]);
    let length = usize::from(u16::from_be_bytes([udp[4], udp[5]]));
    (port == ENCRYPTED_VXLAN_PORT && length == udp.len()).then(|| &udp[8..])
}

/// Where the marked socket sends, and how.
pub(super) struct Deliverer {
    target: SockaddrIn,
    /// Whether loopback takes GSO sends from it (false after the kernel refused one).
    gso: bool,
}

impl Deliverer {
    /// Delivers to `underlay`'s encrypted VXLAN port.
    pub(super) fn new(underlay: Ipv4Addr) -> Self {
        Deliverer {
            target: SockaddrIn::from(SocketAddrV4::new(underlay, ENCRYPTED_VXLAN_PORT)),
            gso: true,
        }
    }

    /// Sends `payloads` in order through `socket` (bound in the host namespace and marked):
    /// each run of equal sizes (a shorter last one allowed) as one GSO send, the rest one by one.
    pub(super) fn send(&mut self, socket: &UdpSocket, payloads: &[&[u8]]) {
        let mut i = 0;
        while i < payloads.len() {
            let size = payloads[i].len().max(1);
            let mut j = i + 1;
            if self.gso {
                let most = (MAX_UDP_PAYLOAD / size).min(RUN);
                while j < payloads.len() && j - i < most && payloads[j].len() <= size {
                    j += 1;
                    if payloads[j - 1].len() < size {
                        break;
                    }
                }
            }
            if j - i > 1 {
                match self.send_run(socket, &payloads[i..j], size) {
                    Ok(()) => {
                        i = j;
                        continue;
                    }
                    Err(Errno::EIO | Errno::EINVAL | Errno::EOPNOTSUPP | Errno::ENOPROTOOPT) => {
                        tracing::info!("loopback refuses UDP GSO; opened packets are delivered one per call");
                        self.gso = false;
                    }
                    Err(error) => tracing::debug!(%error, "delivery of opened packets failed"),
                }
            }
            for payload in &payloads[i..j] {
                if let Err(error) = sendto(socket.as_raw_fd(), payload, &self.target, MsgFlags::empty()) {
                    tracing::debug!(%error, "delivery of an opened packet failed");
                }
            }
            i = j;
        }
    }

    fn send_run(&self, socket: &UdpSocket, run: &[&[u8]], size: usize) -> nix::Result<()> {
        let segment = u16::try_from(size).map_err(|_| Errno::EINVAL)?;
        let mut slices = [IoSlice::new(&[]); RUN];
        for (slice, payload) in slices.iter_mut().zip(run) {
            *slice = IoSlice::new(payload);
        }
        sendmsg(
            socket.as_raw_fd(),
            &slices[..run.len()],
            &[ControlMessage::UdpGsoSegments(&segment)],
            MsgFlags::empty(),
            Some(&self.target),
        )
        .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NODE: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

    /// IPv4 from 10.0.0.1 to `to`, UDP to `port`, with `payload`.
    fn packet(to: Ipv4Addr, port: u16, payload: &[u8]) -> Vec<u8> {
        let total = 28 + payload.len();
        let mut p = vec![0u8; total];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        p[9] = 17;
        p[12..16].copy_from_slice(&[10, 0, 0, 1]);
        p[16..20].copy_from_slice(&to.octets());
        p[22..24].copy_from_slice(&port.to_be_bytes());
        p[24..26].copy_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
        p[28..].copy_from_slice(payload);
        p
    }

    #[test]
    fn only_vxlan_to_this_nodes_encrypted_port_is_delivered() {
        let vxlan = packet(NODE, ENCRYPTED_VXLAN_PORT, b"vxlan frame");
        assert_eq!(vxlan_payload(&vxlan, NODE), Some(&b"vxlan frame"[..]));
        // Another node, another port, not UDP, a fragment, lengths beyond the packet: the TUN path.
        assert_eq!(vxlan_payload(&vxlan, Ipv4Addr::new(10, 0, 0, 3)), None);
        assert_eq!(vxlan_payload(&packet(NODE, 4789, b"x"), NODE), None);
        let mut tcp = vxlan.clone();
        tcp[9] = 6;
        assert_eq!(vxlan_payload(&tcp, NODE), None);
        let mut fragment = vxlan.clone();
        fragment[6] = 0x20;
        assert_eq!(vxlan_payload(&fragment, NODE), None);
        assert_eq!(vxlan_payload(&vxlan[..vxlan.len() - 1], NODE), None);
        let mut short_udp = vxlan.clone();
        short_udp[24..26].copy_from_slice(&4u16.to_be_bytes());
        assert_eq!(vxlan_payload(&short_udp, NODE), None);
        assert_eq!(vxlan_payload(&vxlan[..12], NODE), None);
    }
}
