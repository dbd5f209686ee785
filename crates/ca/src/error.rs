//! The CA crate's error type.

/// Errors of certificate, token and TLS handling.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A certificate, key or CSR could not be made or parsed.
    #[error("certificate: {0}")]
    Cert(String),
    /// A join token is malformed; the message says how.
    #[error("invalid join token: {0}")]
    Token(String),
    /// A root CA offered to sign with (the operator's own) is unusable; the message says why.
    #[error("{0}")]
    InvalidRoot(String),
    /// An external CA did not sign, or signed something unusable; the message says which.
    #[error("external CA: {0}")]
    ExternalCa(String),
    /// TLS configuration failed.
    #[error("tls: {0}")]
    Tls(String),
}

impl From<rcgen::Error> for Error {
    fn from(e: rcgen::Error) -> Self {
        Error::Cert(e.to_string())
    }
}

impl From<rustls::Error> for Error {
    fn from(e: rustls::Error) -> Self {
        Error::Tls(e.to_string())
    }
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, Error>;
