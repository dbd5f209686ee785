//! The agent: every node's session with the leader's dispatcher.
//!
//! ```text
//!  Agent ── Session(description) ──► leader ── SessionMessage* ──► events (managers, role)
//!        ── Heartbeat every period ─►
//! ```
//!
//! The agent finds the leader through any manager it knows (a follower answers with the
//! leader's address), keeps heartbeating, and reports what the cluster wants of this node
//! as [`AgentEvent`]s; the daemon acts on them (e.g. renews its certificate on promotion).

pub mod describe;
pub mod session;
pub mod tasks;

pub use describe::describe_host;
pub use session::{Agent, AgentEvent, Worker};
pub use tasks::Tasks;
