//! The manager: Raft replica, control API rules, certificate authority, dispatcher and the
//! leader's control loops.
//!
//! ```text
//! api ─► controlapi (pure rules) ─► Manager::propose ─► raft ─► store ─► leader loops
//!                                                          ▲
//! nodes ─► cluster port: Ca (join) · Dispatcher (sessions) · Control · Raft
//! ```

pub mod controlapi;
pub mod dispatcher;
pub mod error;
pub mod manager;
pub mod raft_net;
pub mod roles;
pub mod services;

pub mod constraint;
pub mod scheduler;

pub use error::{Error, Result};
pub use manager::{Manager, ManagerConfig, Start};
