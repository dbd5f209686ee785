//! Data-plane liveness between nodes that share overlays: each node pings the VTEPs of its
//! peers on the underlay and answers their pings, so a node whose host is lost can leave this
//! node's balancers and DNS answers within a second, long before the manager's heartbeat
//! verdict reschedules its tasks.
//!
//! ```text
//!  node A (UDP PROBE_PORT on its VTEP)            node B
//!     ── Ping(nonce) ─────────────────────────────►
//!     ◄──────────────────────────── Pong(nonce) ──   (answered by B's agent, not its kernel)
//!  Tracker: no Pong for `misses` probes and `down_after` ─► B unreachable on A (locally)
//!           the first Pong again                         ─► B reachable
//! ```
//!
//! What authenticates an answer: it must come from the probed address and echo the 64-bit
//! random nonce of a probe still outstanding (each once), so a stranger off the path cannot
//! keep a lost node alive. Nothing in the protocol says a node is down — a node is judged only
//! by its own silence, never by another's report (no indirect probes, no gossip) — so a forger
//! cannot make a node drop backends at all; the worst an attacker on the path can do, dropping
//! packets, it could do to the traffic itself.
//!
//! `wire` is the message format, `tracker` the pure judgement; this file the socket.

mod prober;
pub mod tracker;
pub mod wire;

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::time::Duration;

use ring::rand::SecureRandom;

use crate::error::{Error, Result};
use wire::{MESSAGE_LEN, Message};

pub use prober::{Prober, ProberConfig};

/// The UDP port the probes use on each node's VTEP (libnetwork's control-plane port).
pub const PROBE_PORT: u16 = 7946;

/// A node's probe socket: sends pings, answers the peers' pings, hands back their pongs.
/// Blocking, for the prober's own thread: answers and probes keep their pace while the
/// agent's async runtime is busy.
pub struct ProbeSocket {
    socket: UdpSocket,
    port: u16,
    random: ring::rand::SystemRandom,
}

impl ProbeSocket {
    /// Binds `address:port` (the node's VTEP) in the calling thread's network namespace;
    /// probes go to the peers' `port`.
    pub fn bind(address: Ipv4Addr, port: u16) -> Result<ProbeSocket> {
        let socket = UdpSocket::bind(SocketAddrV4::new(address, port))
            .map_err(|e| Error::Invalid(format!("binding the probe socket {address}:{port}: {e}")))?;
        Ok(ProbeSocket {
            socket,
            port,
            random: ring::rand::SystemRandom::new(),
        })
    }

    /// A fresh random nonce.
    pub fn nonce(&self) -> u64 {
        let mut bytes = [0u8; 8];
        // The system's random source failing is not expected; a zero nonce then only lets a
        // forger guess it, which keeps a lost peer listed until the manager's verdict.
        let _ = self.random.fill(&mut bytes);
        u64::from_ne_bytes(bytes)
    }

    /// Pings `peer`'s probe port with `nonce`; a send that fails (no route while the
    /// underlay is down) counts as a probe left unanswered.
    pub fn ping(&self, peer: Ipv4Addr, nonce: u64) {
        let to = SocketAddrV4::new(peer, self.port);
        if let Err(error) = self.socket.send_to(&Message::Ping(nonce).encode(), to) {
            tracing::trace!(%peer, %error, "probe not sent");
        }
    }

    /// The next pong within `wait`: (its sender's address, the nonce it echoes), or none.
    /// Pings received meanwhile are answered to their sender; anything else is dropped.
    pub fn next_pong(&self, wait: Duration) -> Result<Option<(Ipv4Addr, u64)>> {
        let mut buf = [0u8; MESSAGE_LEN + 1];
        // A zero timeout would block forever.
        self.socket
            .set_read_timeout(Some(wait.max(Duration::from_micros(1))))
            .map_err(|e| Error::Invalid(format!("probe socket: {e}")))?;
        let (len, from) = match self.socket.recv_from(&mut buf) {
            Ok(got) => got,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(Error::Invalid(format!("probe socket: {e}"))),
        };
        let SocketAddr::V4(from) = from else {
            return Ok(None);
        };
        match Message::decode(&buf[..len]) {
            Some(Message::Ping(nonce)) => {
                if let Err(error) = self.socket.send_to(&Message::Pong(nonce).encode(), from) {
                    tracing::trace!(%from, %error, "probe answer not sent");
                }
                Ok(None)
            }
            Some(Message::Pong(nonce)) => Ok(Some((*from.ip(), nonce))),
            None => Ok(None),
        }
    }

    /// The local port (tests bind port 0).
    pub fn local_port(&self) -> u16 {
        self.socket.local_addr().map_or(0, |a| a.port())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_ping_is_answered_with_its_nonce() {
        let b = ProbeSocket::bind(Ipv4Addr::new(127, 0, 0, 2), 0).unwrap();
        // a pings b's port (tests bind port 0, so a's "probe port" is b's).
        let mut a = ProbeSocket::bind(Ipv4Addr::LOCALHOST, 0).unwrap();
        a.port = b.local_port();
        let nonce = a.nonce();
        a.ping(Ipv4Addr::new(127, 0, 0, 2), nonce);
        assert_eq!(
            b.next_pong(Duration::from_secs(10)).unwrap(),
            None,
            "a ping, answered"
        );
        let answer = a.next_pong(Duration::from_secs(10)).unwrap();
        assert_eq!(answer, Some((Ipv4Addr::new(127, 0, 0, 2), nonce)));
        assert_eq!(
            a.next_pong(Duration::from_millis(1)).unwrap(),
            None,
            "nothing more"
        );
    }
}
