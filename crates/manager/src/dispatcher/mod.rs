//! The dispatcher (leader only): what the cluster tells each node and what nodes report back.
//!
//! ```text
//! agent ── Session / Heartbeat / Leave ─► session.rs ─► liveness.rs (heartbeats in memory)
//!       ◄─ Assignments stream ─────────── session.rs ◄─ assignments.rs (per-node feeds, feed.rs)
//!                                                   ◄─ netfeed.rs (network views, per network)
//!                                                   ◄─ payfeed.rs (secrets, configs its tasks use)
//!                                                   ◄─ node_tasks.rs (what those two depend on)
//!       ── UpdateTaskStatus ────────────► session.rs ─► status_batcher.rs ─► one Raft write
//!       ── tunnel keys (session, heartbeat) ─► tunnel_keys.rs ─► peers' streams (encrypted overlays)
//! ```

pub mod assignments;
mod attach;
pub mod feed;
pub mod liveness;
pub mod netfeed;
pub mod node_tasks;
pub mod payfeed;
pub mod session;
pub mod status_batcher;
pub mod tunnel_keys;
