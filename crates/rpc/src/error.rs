//! The RPC crate's error type.

/// Errors making or serving cluster RPCs.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Could not connect or the call failed in transport; retrying may help.
    #[error("cluster rpc to {addr}: {message}")]
    Transport {
        /// Peer address.
        addr: String,
        /// What failed.
        message: String,
    },
    /// The peer answered with an error status.
    #[error("{}", .0.message())]
    Status(#[from] tonic::Status),
    /// A message did not decode.
    #[error("bad message: {0}")]
    Decode(String),
    /// TLS or certificate problem.
    #[error(transparent)]
    Ca(#[from] ca::Error),
    /// Listening failed.
    #[error("listen on {addr}: {source}")]
    Listen {
        /// Address we tried.
        addr: String,
        /// OS error.
        source: std::io::Error,
    },
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, Error>;
