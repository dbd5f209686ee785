//! The store crate's error type.

use crate::TxnError;

/// Errors of the store and its consensus layer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The transaction's preconditions failed; nothing was written.
    #[error(transparent)]
    Txn(#[from] TxnError),
    /// No leader is known, so no write can commit. Retrying after an election helps.
    #[error(
        "The swarm does not have a leader. It's possible that too few managers are online. \
         Make sure more than half of the managers are online."
    )]
    NoLeader,
    /// This manager is not the leader; the write must go to the leader at `addr`.
    #[error("not the leader; leader is raft member {leader_id} at {addr}")]
    ForwardToLeader {
        /// Raft member ID of the leader.
        leader_id: u64,
        /// Cluster RPC address of the leader.
        addr: String,
    },
    /// The on-disk state cannot be used; the daemon must not start over it.
    #[error("raft data in {path} is unusable: {reason}")]
    Corrupt {
        /// File or directory at fault.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Disk I/O failed.
    #[error("raft storage i/o: {0}")]
    Io(#[from] std::io::Error),
    /// Sealed data did not open or could not be sealed.
    #[error("raft data encryption: {0}")]
    Crypto(#[from] crate::crypto::CryptoError),
    /// The Raft library reported an error.
    #[error("raft: {0}")]
    Raft(String),
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, Error>;
