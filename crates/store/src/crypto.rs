//! Sealing of what a manager keeps on disk and the unlock key: the code lives in the pure
//! `state` crate (the replicated state holds the unlock key), re-exported here for the
//! store's callers.

pub use ::state::crypto::*;
