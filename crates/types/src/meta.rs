//! Version and timestamps that every stored object carries.

use serde::{Deserialize, Serialize};

/// Nanoseconds since the Unix epoch. Produced by a clock at the edge, never read here.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Whole seconds and the nanosecond remainder, for formatting.
    pub fn parts(self) -> (i64, u32) {
        (
            self.0.div_euclid(1_000_000_000),
            self.0.rem_euclid(1_000_000_000) as u32,
        )
    }

    /// This timestamp moved forward by `nanos`.
    pub fn plus_nanos(self, nanos: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(nanos))
    }
}

/// Version and timestamps of a stored object.
///
/// `version` is the Raft index of the entry that last wrote the object; an update must carry
/// the version it read, and the store refuses it if the object changed since ("update out of
/// sequence"), as Swarm does.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    /// Raft index of the last write.
    pub version: u64,
    /// When the object was created.
    pub created_at: Timestamp,
    /// When the object was last written.
    pub updated_at: Timestamp,
}
