//! The agent: every node's session with the leader's dispatcher, and the machinery that runs
//! the tasks it is assigned.
//!
//! ```text
//!  Agent ── Session(description) ──► leader ── SessionMessage* ──► events (managers, role)
//!        ── Heartbeat every period ─►
//!  assignments ─► runner::Worker ─► one runner per task ─► executor (process | sim)
//!                                        └─► StatusUpdate channel ─► session (batched to the dispatcher)
//! ```
//!
//! The agent finds the leader through any manager it knows (a follower answers with the
//! leader's address), keeps heartbeating, and reports what the cluster wants of this node
//! as [`AgentEvent`]s; the daemon acts on them (e.g. renews its certificate on promotion).
//! [`start()`] assembles a node's agent from an executor's configuration, for the daemon and
//! hollow nodes alike.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod describe;
pub mod executor;
pub mod log_publisher;
pub mod logs;
mod mounts;
pub mod network;
pub mod payloads;
pub mod runner;
pub mod session;
pub mod start;
pub mod tasks;
pub mod volumes;

pub use describe::describe_host;
pub use executor::{Error, Result};
pub use session::{Agent, AgentEvent, LeaderLink, TaskLink};
pub use start::{ExecutorConfig, Started, start};
pub use tasks::Tasks;
