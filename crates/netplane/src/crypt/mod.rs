//! The encrypted overlay: one WireGuard tunnel per pair of nodes, in userspace (this kernel has
//! neither ESP nor WireGuard), carrying the VXLAN traffic of the networks created with
//! `--opt encrypted`:
//!
//! ```text
//!  overlay ns           host namespace                                     peer node
//!  shoal-vx… ──VXLAN──► udp :4793 → rule → table 4793 → shoal-wg0 (TUN)
//!  (encrypted                                   │ read by the loop: peer by destination
//!   network)                                    ▼ address, boringtun's Noise session
//!                       udp :51820 ◄──────── WireGuard ────────────────► udp :51820
//!  shoal-vx… ◄─VXLAN─── udp :4793 ◄── lo, marked ◄── opened by the loop ◄──────┘
//! ```
//!
//! The VXLAN devices of encrypted networks use a port of their own (4793), so the kernel can
//! tell their packets from plain networks' (4789, which keep the direct path) and route only them
//! into the TUN device. Received tunnel packets are decrypted, checked to come from the peer's own
//! underlay address, and written to the TUN device, from where the kernel delivers them to the
//! VXLAN socket as if they had come off the wire (`deliver`: VXLAN for this node goes to its
//! VXLAN socket over loopback from a marked socket instead, a run at a time); plaintext arriving
//! on the encrypted port from anywhere else is dropped (`steer`). Keys: each node makes its own (`keys`); the managers
//! carry the public halves to the peers.

mod datapath;
mod deliver;
mod keys;
mod plane;
pub(crate) mod steer;
mod tunnels;

pub use keys::{PrivateKey, PublicKey};
pub use tunnels::{TunnelPeer, Tunnels};

/// The UDP port of the WireGuard tunnels between nodes (WireGuard's customary one).
pub const TUNNEL_PORT: u16 = 51820;

/// The VXLAN port of encrypted networks, apart from plain networks' so routing can tell them apart.
pub const ENCRYPTED_VXLAN_PORT: u16 = 4793;

/// The TUN device carrying encrypted networks' VXLAN into the tunnel loop (one per host namespace).
pub const TUN_NAME: &str = "shoal-wg0";

/// The routing table sending the encrypted VXLAN port into the TUN device.
pub const ROUTE_TABLE: u32 = 4793;

/// The priority of the rules selecting that table (before `main` at 32766).
pub const RULE_PRIORITY: u32 = 9000;

/// The bytes the tunnel adds to a VXLAN packet: outer IPv4 20 + UDP 8 + WireGuard's header 16 and tag 16.
pub const TUNNEL_OVERHEAD: u32 = 60;
