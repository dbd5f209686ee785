//! The crate's one error type.

use thiserror::Error;

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong with an image; [`Error::status`] maps it to dockerd's HTTP status.
#[derive(Debug, Error)]
pub enum Error {
    /// The reference does not parse (dockerd: 400).
    #[error("invalid reference format: {0}")]
    Reference(#[from] types::reference::ReferenceError),
    /// A malformed argument other than a reference (400).
    #[error("{0}")]
    InvalidArgument(String),
    /// No image or tag by that name here (404).
    #[error("No such image: {0}")]
    NotFound(String),
    /// The image is used by a container or task (409).
    #[error("conflict: unable to remove image {image}: image is being used by a running container")]
    InUse {
        /// The reference asked for.
        image: String,
    },
    /// The operation is refused for a reason given (409).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The registry answered with an error or could not be reached (dockerd relays it as 500,
    /// or 404 for a missing manifest); a retry may help for network errors.
    #[error("{0}")]
    Registry(String),
    /// The registry refused our credentials (401 upstream; dockerd answers 500 with the text).
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// The registry has no such manifest (404).
    #[error("manifest for {0} not found: manifest unknown")]
    ManifestUnknown(String),
    /// Content did not match its digest, size or format (500; retrying may fetch good bytes).
    #[error("{0}")]
    Corrupt(String),
    /// A layer tar was refused as unsafe or malformed (500).
    #[error("layer {layer}: {reason}")]
    HostileLayer {
        /// Digest of the layer.
        layer: String,
        /// What was wrong.
        reason: String,
    },
    /// The image has no manifest for this platform (dockerd: 404 "no matching manifest").
    #[error("no matching manifest for {0} in the manifest list entries")]
    NoPlatform(String),
    /// A feature the store does not implement (501).
    #[error("not supported: {0}")]
    Unsupported(String),
    /// Disk I/O under the store's root (500).
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// The HTTP status dockerd answers with for this error.
    pub fn status(&self) -> u16 {
        match self {
            Error::Reference(_) | Error::InvalidArgument(_) => 400,
            Error::NotFound(_) | Error::ManifestUnknown(_) | Error::NoPlatform(_) => 404,
            Error::InUse { .. } | Error::Conflict(_) => 409,
            Error::Unsupported(_) => 501,
            Error::Registry(_)
            | Error::Unauthorized(_)
            | Error::Corrupt(_)
            | Error::HostileLayer { .. }
            | Error::Io { .. } => 500,
        }
    }
}

/// Adds context to an I/O error.
pub(crate) trait IoContext<T> {
    /// Wraps the error with `what`.
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::Io {
            context: what(),
            source,
        })
    }
}
