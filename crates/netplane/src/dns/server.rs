//! The resolver of one network on one node: a UDP and a TCP listener on the network's gateway
//! address inside its overlay namespace, serving every task of the network on this node.
//!
//! ```text
//!   task ns ──query──► overlay ns: gateway:53 (UDP/TCP) ──► answer(records, source address)
//!                                                            ├─ reply
//!                                                            └─ forward ──► host ns socket ──► upstream
//! ```
//!
//! The loops run on the agent's runtime; only the sockets live in the overlay namespace (opened
//! on a thread that entered it, then handed to tokio). Every resource a client can make the
//! resolver hold is bounded: one 4 KiB datagram buffer, `MAX_TCP` connections of at most
//! `MAX_TCP_QUERIES` queries each with an idle timeout and a lifetime, and the upstreams' forward slots.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::Semaphore;
use tokio::task::{JoinHandle, JoinSet};

use super::answer::{Outcome, Transport, answer, server_failure};
use super::forward::Upstreams;
use super::records::DnsRecords;
use crate::error::{Error, Result};
use crate::netns;

/// The DNS port.
pub const DNS_PORT: u16 = 53;

/// The largest datagram read; a longer query is cut and then fails to parse (FORMERR).
const UDP_BUFFER: usize = 4096;

/// The UDP socket's receive buffer (the kernel doubles it for its bookkeeping).
const UDP_RECEIVE_BUFFER: usize = 1024 * 1024;

/// TCP connections served at once; more are closed at accept.
const MAX_TCP: usize = 64;

/// Queries one TCP connection may send before it is closed.
const MAX_TCP_QUERIES: usize = 100;

/// How long a TCP connection may sit between (or inside) queries.
const TCP_IDLE: Duration = Duration::from_secs(5);

/// The longest a TCP connection is served, whatever it sends.
const TCP_LIFETIME: Duration = Duration::from_secs(30);

/// Where and for which network a resolver listens.
#[derive(Clone, Debug)]
pub struct ResolverConfig {
    /// The network's ID, as in its `NetworkRecords`.
    pub network: String,
    /// The network's overlay namespace on this node.
    pub netns: PathBuf,
    /// The address to listen on: the network's gateway, which sits on the overlay's bridge.
    pub address: Ipv4Addr,
    /// The port (53 unless a test says otherwise).
    pub port: u16,
    /// An internal network: names outside it get SERVFAIL and nothing is forwarded.
    pub internal: bool,
}

impl ResolverConfig {
    /// The resolver of network `network` (its ID) described by `spec` on `plane`'s node: on the
    /// gateway address, port 53, in the network's overlay namespace. Start it after
    /// `ensure_network` (the gateway address must exist) and drop it before `remove_network`.
    pub fn for_network(plane: &crate::Plane, network: impl Into<String>, spec: &crate::NetworkSpec) -> Self {
        ResolverConfig {
            network: network.into(),
            netns: plane.overlay_netns(spec.vni),
            address: spec.gateway,
            port: DNS_PORT,
            internal: spec.internal,
        }
    }
}

/// A running resolver; dropping it stops it.
#[derive(Debug)]
pub struct Resolver {
    address: SocketAddrV4,
    loops: Vec<JoinHandle<()>>,
}

/// What every query of one resolver needs.
struct Shared {
    network: String,
    forwarding: bool,
    records: DnsRecords,
    upstreams: Upstreams,
    /// Queries answered so far: the rotation of multi-address answers.
    queries: AtomicUsize,
}

impl Resolver {
    /// Binds UDP and TCP on `config.address:config.port` inside `config.netns` and starts serving
    /// `records`, forwarding unknown names to `upstreams` unless the network is internal.
    pub async fn start(
        config: ResolverConfig,
        records: DnsRecords,
        upstreams: Upstreams,
    ) -> Result<Resolver> {
        let address = SocketAddrV4::new(config.address, config.port);
        let (udp, tcp) = netns::run_in(&config.netns, move || {
            let udp = std::net::UdpSocket::bind(address)
                .map_err(|source| Error::io("bind the resolver's UDP socket", source))?;
            let tcp = std::net::TcpListener::bind(address)
                .map_err(|source| Error::io("bind the resolver's TCP socket", source))?;
            enlarge_receive_buffer(&udp);
            for result in [udp.set_nonblocking(true), tcp.set_nonblocking(true)] {
                result.map_err(|source| Error::io("make the resolver's sockets non-blocking", source))?;
            }
            Ok((udp, tcp))
        })
        .await?;
        let runtime = runtime()?;
        // Sockets register with the reactor of the runtime whose context is entered.
        let entered = runtime.enter();
        let udp = UdpSocket::from_std(udp)
            .map_err(|source| Error::io("register the resolver's UDP socket", source))?;
        let tcp = TcpListener::from_std(tcp)
            .map_err(|source| Error::io("register the resolver's TCP socket", source))?;
        drop(entered);
        let shared = Arc::new(Shared {
            network: config.network,
            forwarding: !config.internal,
            records,
            upstreams,
            queries: AtomicUsize::new(0),
        });
        let loops = vec![
            runtime.spawn(serve_udp(Arc::new(udp), shared.clone())),
            runtime.spawn(serve_tcp(tcp, shared)),
        ];
        Ok(Resolver { address, loops })
    }

    /// The address it listens on.
    pub fn address(&self) -> SocketAddrV4 {
        self.address
    }

    /// Stops serving and returns once its sockets are closed, so a resolver started next on
    /// the same address (an overlay made again) can bind it.
    pub async fn stop(mut self) {
        let loops = std::mem::take(&mut self.loops);
        for task in &loops {
            task.abort();
        }
        for task in loops {
            // A cancelled task has dropped its future, sockets included.
            let _ = task.await;
        }
    }
}

impl Drop for Resolver {
    fn drop(&mut self) {
        // Aborting the loops drops the sockets (and, with the TCP loop's JoinSet, its connections).
        for task in &self.loops {
            task.abort();
        }
    }
}

/// The resolvers' own runtime, one thread shared by every resolver of the process: answers
/// never wait behind the agent's own work (image unpacking, netlink, executor calls) on its
/// runtime's few workers. Made on first use and kept for the process's life.
fn runtime() -> Result<&'static tokio::runtime::Runtime> {
    static RUNTIME: std::sync::Mutex<Option<&'static tokio::runtime::Runtime>> = std::sync::Mutex::new(None);
    let mut slot = RUNTIME.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(runtime) = *slot {
        return Ok(runtime);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("shoal-dns")
        .enable_all()
        .build()
        .map_err(|source| Error::io("start the resolvers' runtime", source))?;
    let runtime: &'static tokio::runtime::Runtime = Box::leak(Box::new(runtime));
    *slot = Some(runtime);
    Ok(runtime)
}

/// A burst of queries from many tasks (every resolver lookup of a restarting service at once)
/// must not overflow the default ~200 KiB receive buffer, which holds only a few hundred small
/// datagrams; the agent runs as root, so it may go past `rmem_max`. Best effort: the default
/// still works, it only drops sooner.
fn enlarge_receive_buffer(socket: &std::net::UdpSocket) {
    use nix::sys::socket::{setsockopt, sockopt};
    if setsockopt(socket, sockopt::RcvBufForce, &UDP_RECEIVE_BUFFER).is_err() {
        let _ = setsockopt(socket, sockopt::RcvBuf, &UDP_RECEIVE_BUFFER);
    }
}

/// The source address as the records know it: IPv4 (an IPv4-mapped IPv6 one too).
fn source_v4(from: SocketAddr) -> Option<Ipv4Addr> {
    match from {
        SocketAddr::V4(v4) => Some(*v4.ip()),
        SocketAddr::V6(v6) => v6.ip().to_ipv4_mapped(),
    }
}

async fn serve_udp(socket: Arc<UdpSocket>, shared: Arc<Shared>) {
    let mut buffer = vec![0u8; UDP_BUFFER];
    loop {
        let (n, from) = match socket.recv_from(&mut buffer).await {
            Ok(received) => received,
            Err(error) => {
                // ICMP errors of earlier replies surface here; the socket itself is still good.
                tracing::debug!(%error, "DNS UDP receive");
                continue;
            }
        };
        let Some(source) = source_v4(from) else { continue };
        let packet = &buffer[..n];
        let outcome = answer(
            &shared.records.load(),
            &shared.network,
            source,
            packet,
            shared.forwarding,
            Transport::Udp,
            shared.queries.fetch_add(1, Ordering::Relaxed),
        );
        match outcome {
            Outcome::Reply(reply) => {
                let _ = socket.send_to(&reply, from).await;
            }
            Outcome::Ignore => {}
            Outcome::Forward { id } => {
                let Some(slot) = shared.upstreams.try_slot() else {
                    if let Some(reply) = server_failure(packet) {
                        let _ = socket.send_to(&reply, from).await;
                    }
                    continue;
                };
                let (socket, shared, packet) = (socket.clone(), shared.clone(), packet.to_vec());
                tokio::spawn(async move {
                    let _slot = slot;
                    let reply = match shared.upstreams.forward(&packet, id, Transport::Udp).await {
                        Some(reply) => Some(reply),
                        None => server_failure(&packet),
                    };
                    if let Some(reply) = reply {
                        let _ = socket.send_to(&reply, from).await;
                    }
                });
            }
        }
    }
}

async fn serve_tcp(listener: TcpListener, shared: Arc<Shared>) {
    let places = Arc::new(Semaphore::new(MAX_TCP));
    let mut connections = JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        let (stream, from) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // EMFILE and the like: yield so a persistent error does not spin a core.
                tracing::debug!(%error, "DNS TCP accept");
                tokio::task::yield_now().await;
                continue;
            }
        };
        let (Some(source), Ok(place)) = (source_v4(from), places.clone().try_acquire_owned()) else {
            continue;
        };
        let shared = shared.clone();
        connections.spawn(async move {
            let _place = place;
            // A whole-connection deadline too: a client trickling one query every few seconds
            // would otherwise hold its place for MAX_TCP_QUERIES idle periods.
            let _ = tokio::time::timeout(TCP_LIFETIME, serve_connection(stream, source, &shared)).await;
        });
    }
}

/// Answers length-prefixed queries on one connection until it closes, idles or errs.
async fn serve_connection(mut stream: TcpStream, source: Ipv4Addr, shared: &Shared) -> std::io::Result<()> {
    for _ in 0..MAX_TCP_QUERIES {
        let Ok(length) = tokio::time::timeout(TCP_IDLE, stream.read_u16()).await else {
            return Ok(());
        };
        let length = usize::from(length?);
        if length < 12 {
            return Ok(());
        }
        let mut packet = vec![0u8; length];
        if tokio::time::timeout(TCP_IDLE, stream.read_exact(&mut packet))
            .await
            .is_err()
        {
            return Ok(());
        }
        let outcome = answer(
            &shared.records.load(),
            &shared.network,
            source,
            &packet,
            shared.forwarding,
            Transport::Tcp,
            shared.queries.fetch_add(1, Ordering::Relaxed),
        );
        let reply = match outcome {
            Outcome::Reply(reply) => Some(reply),
            Outcome::Ignore => return Ok(()),
            Outcome::Forward { id } => match shared.upstreams.try_slot() {
                Some(_slot) => match shared.upstreams.forward(&packet, id, Transport::Tcp).await {
                    Some(reply) => Some(reply),
                    None => server_failure(&packet),
                },
                None => server_failure(&packet),
            },
        };
        let Some(reply) = reply else { return Ok(()) };
        let Ok(length) = u16::try_from(reply.len()) else {
            return Ok(());
        };
        let mut framed = Vec::with_capacity(reply.len() + 2);
        framed.extend_from_slice(&length.to_be_bytes());
        framed.extend_from_slice(&reply);
        stream.write_all(&framed).await?;
    }
    Ok(())
}
