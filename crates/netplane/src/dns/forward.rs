//! Forwarding of names outside the overlay networks to the host's resolvers.
//!
//! Each forward opens a fresh socket in the HOST namespace (a random source port per query, as a
//! stub resolver does), so the host's resolvers are reached as the host reaches them: loopback
//! ones such as systemd-resolved's 127.0.0.53 work too, and the overlay namespace needs no route
//! out. At most `MAX_IN_FLIGHT` forwards run at once per node; past that a query gets SERVFAIL at
//! once instead of queueing, so a flood of unknown names costs bounded memory and threads.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::answer::Transport;
use crate::error::{Error, Result};
use crate::netns;

/// Forwards that may be under way at once on a node.
const MAX_IN_FLIGHT: usize = 128;

/// How long one upstream gets to answer before the next is asked.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

/// The resolvers unknown names go to, and the namespace they are reached from; cheap to clone.
#[derive(Clone, Debug)]
pub struct Upstreams {
    servers: Arc<Vec<SocketAddr>>,
    host_netns: PathBuf,
    timeout: Duration,
    slots: Arc<Semaphore>,
    /// Whether `host_netns` is the namespace the runtime's threads are in: then sockets are
    /// opened in place, without a thread that enters it (the agent's usual case).
    here: bool,
}

impl Upstreams {
    /// Forwards to `servers` in order, from sockets opened in the namespace at `host_netns`.
    pub fn new(servers: Vec<SocketAddr>, host_netns: impl Into<PathBuf>) -> Self {
        let host_netns = host_netns.into();
        Upstreams {
            here: is_current_netns(&host_netns),
            servers: Arc::new(servers),
            host_netns,
            timeout: DEFAULT_TIMEOUT,
            slots: Arc::new(Semaphore::new(MAX_IN_FLIGHT)),
        }
    }

    /// Forwards to the nameservers of the `resolv.conf` at `path` (the host's `/etc/resolv.conf`,
    /// read once: a later change needs a new `Upstreams`), reached from `host_netns`. Loopback
    /// ones are kept: forwards leave from the host namespace, where they answer.
    pub fn from_resolv_conf(path: &std::path::Path, host_netns: impl Into<PathBuf>) -> Result<Self> {
        let conf = super::HostResolvConf::read(path)?;
        Ok(Upstreams::new(conf.upstreams(), host_netns))
    }

    /// Sets how long each upstream gets before the next is tried.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The upstream servers, in the order they are asked.
    pub fn servers(&self) -> &[SocketAddr] {
        &self.servers
    }

    /// A place among the forwards in flight, or `None` when all are taken.
    pub(crate) fn try_slot(&self) -> Option<OwnedSemaphorePermit> {
        self.slots.clone().try_acquire_owned().ok()
    }

    /// Sends `query` (whose ID is `id`) to each upstream in turn; the first well-formed answer
    /// carrying that ID wins. `None` when none answered in time.
    pub(crate) async fn forward(&self, query: &[u8], id: u16, transport: Transport) -> Option<Vec<u8>> {
        for server in self.servers.iter() {
            let attempt = async {
                match transport {
                    Transport::Udp => self.over_udp(*server, query, id).await,
                    Transport::Tcp => self.over_tcp(*server, query, id).await,
                }
            };
            match tokio::time::timeout(self.timeout, attempt).await {
                Ok(Ok(reply)) => return Some(reply),
                Ok(Err(error)) => tracing::debug!(%server, %error, "DNS forward failed"),
                Err(_) => tracing::debug!(%server, "DNS forward timed out"),
            }
        }
        None
    }

    async fn over_udp(&self, server: SocketAddr, query: &[u8], id: u16) -> Result<Vec<u8>> {
        {
            let local = unspecified(server);
            let open = move || {
                let socket = std::net::UdpSocket::bind(local)
                    .map_err(|source| Error::io("bind a DNS forwarding socket", source))?;
                socket
                    .set_nonblocking(true)
                    .map_err(|source| Error::io("make a DNS socket non-blocking", source))?;
                Ok(socket)
            };
            let socket = if self.here {
                open()?
            } else {
                netns::run_in(&self.host_netns, open).await?
            };
            let socket = tokio::net::UdpSocket::from_std(socket)
                .map_err(|source| Error::io("register a DNS forwarding socket", source))?;
            // Connected: the kernel drops datagrams from anyone but the upstream.
            socket
                .connect(server)
                .await
                .map_err(|source| Error::io("connect to an upstream resolver", source))?;
            socket
                .send(query)
                .await
                .map_err(|source| Error::io("send to an upstream resolver", source))?;
            let mut buffer = vec![0u8; usize::from(u16::MAX)];
            loop {
                let n = socket
                    .recv(&mut buffer)
                    .await
                    .map_err(|source| Error::io("receive from an upstream resolver", source))?;
                // A late or forged datagram with another ID is skipped; the timeout bounds the wait.
                if is_reply_to(&buffer[..n], id) {
                    buffer.truncate(n);
                    return Ok(buffer);
                }
            }
        }
    }

    async fn over_tcp(&self, server: SocketAddr, query: &[u8], id: u16) -> Result<Vec<u8>> {
        let runtime = tokio::runtime::Handle::current();
        let open = move || {
            let _context = runtime.enter();
            let socket = match server {
                SocketAddr::V4(_) => tokio::net::TcpSocket::new_v4(),
                SocketAddr::V6(_) => tokio::net::TcpSocket::new_v6(),
            };
            socket.map_err(|source| Error::io("open a DNS forwarding socket", source))
        };
        let socket = if self.here {
            open()?
        } else {
            netns::run_in(&self.host_netns, open).await?
        };
        let mut stream = socket
            .connect(server)
            .await
            .map_err(|source| Error::io("connect to an upstream resolver", source))?;
        let length =
            u16::try_from(query.len()).map_err(|_| Error::Invalid("DNS query over 64 KiB".into()))?;
        let mut framed = Vec::with_capacity(query.len() + 2);
        framed.extend_from_slice(&length.to_be_bytes());
        framed.extend_from_slice(query);
        stream
            .write_all(&framed)
            .await
            .map_err(|source| Error::io("send to an upstream resolver", source))?;
        let length = stream
            .read_u16()
            .await
            .map_err(|source| Error::io("receive from an upstream resolver", source))?;
        let mut reply = vec![0u8; usize::from(length)];
        stream
            .read_exact(&mut reply)
            .await
            .map_err(|source| Error::io("receive from an upstream resolver", source))?;
        if is_reply_to(&reply, id) {
            Ok(reply)
        } else {
            Err(Error::Invalid(
                "the upstream resolver answered another query".into(),
            ))
        }
    }
}

/// Whether `path` names the network namespace of the calling thread (same nsfs inode). The
/// runtime's threads never change namespace (`netns` works on threads of its own), so the answer
/// holds for all of them.
fn is_current_netns(path: &std::path::Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (
        std::fs::metadata(path),
        std::fs::metadata("/proc/thread-self/ns/net"),
    ) {
        (Ok(target), Ok(current)) => (target.dev(), target.ino()) == (current.dev(), current.ino()),
        _ => false,
    }
}

/// Whether `packet` is a DNS response with ID `id`.
fn is_reply_to(packet: &[u8], id: u16) -> bool {
    packet.len() >= 12 && packet[..2] == id.to_be_bytes() && packet[2] & 0x80 != 0
}

fn unspecified(server: SocketAddr) -> SocketAddr {
    match server {
        SocketAddr::V4(_) => SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
        SocketAddr::V6(_) => SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0),
    }
}
