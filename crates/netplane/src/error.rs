//! The crate's one error type.

use std::io;
use std::net::Ipv4Addr;
use std::path::PathBuf;

/// What can go wrong while building or tearing down the data plane.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A system call or file operation failed; `what` says which step.
    #[error("{what}: {source}")]
    Io {
        /// The step that failed.
        what: &'static str,
        /// The cause.
        source: io::Error,
    },
    /// A namespace path could not be opened or entered.
    #[error("network namespace {path}: {source}")]
    Namespace {
        /// The namespace's path.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The kernel refused a netlink request; `what` says which.
    #[error("{what}: {source}")]
    Netlink {
        /// The request that failed.
        what: String,
        /// The kernel's answer.
        source: rtnetlink::Error,
    },
    /// The nft transaction failed (nothing of it was applied).
    #[error("nftables in {netns}: {source}")]
    Nftables {
        /// The namespace the table is in.
        netns: PathBuf,
        /// The cause.
        source: nftables::helper::NftablesError,
    },
    /// An input does not describe a valid network, endpoint or service.
    #[error("invalid input: {0}")]
    Invalid(String),
    /// No link of the host carries the underlay address, so the MTU cannot be derived.
    #[error("no link in the host namespace has the underlay address {0}")]
    NoUnderlay(Ipv4Addr),
    /// A worker thread ended without an answer (it panicked).
    #[error("a namespace worker thread ended without an answer")]
    Thread,
    /// Another VXLAN device whose socket is in the host namespace holds the VNI on the port:
    /// the kernel keys a namespace's VXLAN traffic by (port, VNI) alone, so a second one
    /// cannot be made whatever its local address. Not retried away: the other owner must go.
    #[error(
        "VXLAN network identifier {vni} on UDP port {port} is taken by another VXLAN device in this \
         host namespace (another swarm's agent on this host?): one namespace holds one device per VNI and port"
    )]
    VniTaken {
        /// The VNI.
        vni: u32,
        /// The VXLAN UDP port.
        port: u16,
    },
}

impl Error {
    pub(crate) fn io(what: &'static str, source: io::Error) -> Self {
        Error::Io { what, source }
    }

    pub(crate) fn netlink(what: impl Into<String>, source: rtnetlink::Error) -> Self {
        Error::Netlink {
            what: what.into(),
            source,
        }
    }

    /// The kernel's errno for a netlink failure, if that is what this is.
    pub(crate) fn errno(&self) -> Option<i32> {
        match self {
            Error::Netlink {
                source: rtnetlink::Error::NetlinkError(message),
                ..
            } => message.code.map(|code| -code.get()),
            _ => None,
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
