//! Helpers for the data plane's tests: a tiny TCP echo server that names itself, and a client,
//! each with its sockets in a given namespace.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::Duration;

/// A server that answers each connection with its name and a line, then echoes what it reads.
pub struct EchoServer {
    listener: TcpListener,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl EchoServer {
    /// Listens on `addr:port` inside `netns`; each connection is greeted with `name`.
    pub async fn start(netns: &Path, addr: Ipv4Addr, port: u16, name: &str) -> EchoServer {
        let bind = SocketAddrV4::new(addr, port);
        let listener = netplane::run_in_netns(netns, move || {
            TcpListener::bind(bind).map_err(|source| netplane::Error::Io {
                what: "bind the echo server",
                source,
            })
        })
        .await
        .expect("echo server binds");
        let accepting = listener.try_clone().expect("clone listener");
        let name = name.to_owned();
        let thread = std::thread::spawn(move || {
            // Ends when the listener is shut down (accept then fails).
            while let Ok((stream, _)) = accepting.accept() {
                let name = name.clone();
                std::thread::spawn(move || serve(stream, &name));
            }
        });
        EchoServer {
            listener,
            thread: Some(thread),
        }
    }
}

fn serve(mut stream: TcpStream, name: &str) {
    if writeln!(stream, "{name}").is_err() {
        return;
    }
    let mut buffer = [0u8; 64 * 1024];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if stream.write_all(&buffer[..n]).is_err() {
                    return;
                }
            }
        }
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        // shutdown(2) on a listening socket wakes the blocked accept with an error.
        let _ = nix::sys::socket::shutdown(self.listener.as_raw_fd(), nix::sys::socket::Shutdown::Both);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Connects from inside `netns` to `target`, checks the echo of a payload, and returns the
/// server's name.
pub async fn ask(netns: &Path, target: SocketAddrV4, timeout: Duration) -> std::io::Result<String> {
    netplane::run_in_netns(netns, move || {
        let io = |source| netplane::Error::Io {
            what: "echo client",
            source,
        };
        let stream = TcpStream::connect_timeout(&SocketAddr::V4(target), timeout).map_err(io)?;
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .map_err(io)?;
        let mut reader = BufReader::new(stream.try_clone().map_err(io)?);
        let mut name = String::new();
        reader.read_line(&mut name).map_err(io)?;
        let payload = b"hello over the overlay";
        (&stream).write_all(payload).map_err(io)?;
        let mut echoed = vec![0u8; payload.len()];
        reader.read_exact(&mut echoed).map_err(io)?;
        if echoed != payload {
            return Err(io(std::io::Error::other("echo differs")));
        }
        Ok(name.trim().to_owned())
    })
    .await
    .map_err(|error| match error {
        netplane::Error::Io { source, .. } => source,
        other => std::io::Error::other(other.to_string()),
    })
}

/// Whether `netns` has a route to `target` (a UDP connect sends nothing; it only looks the route up).
pub async fn has_route(netns: &Path, target: Ipv4Addr) -> bool {
    netplane::run_in_netns(netns, move || {
        let socket = std::net::UdpSocket::bind("0.0.0.0:0").map_err(|source| netplane::Error::Io {
            what: "udp socket",
            source,
        })?;
        Ok(socket.connect(SocketAddrV4::new(target, 9)).is_ok())
    })
    .await
    .expect("route lookup")
}

/// A /24 overlay network `10.77.<third_octet>.0/24` with gateway `.1`.
pub fn network(vni: u32, third_octet: u8, internal: bool) -> netplane::NetworkSpec {
    netplane::NetworkSpec {
        vni,
        subnet: format!("10.77.{third_octet}.0/24").parse().expect("subnet"),
        gateway: Ipv4Addr::new(10, 77, third_octet, 1),
        mtu: None,
        internal,
        more_subnets: Vec::new(),
    }
}

/// The plane of test bed host `host`, tagged `<tag><host>`; the bed removes its namespaces on drop.
pub fn plane(bed: &netplane::testbed::Testbed, tag: &str, host: usize) -> netplane::Plane {
    bed.adopt(&format!("shoal-{tag}{host}-"));
    let mut config = netplane::PlaneConfig::new(format!("{tag}{host}"), bed.host(host).address);
    config.host_netns = bed.host(host).netns.clone();
    netplane::Plane::new(config).expect("plane")
}

/// A UDP server on `addr:port` inside `netns` that answers every datagram with `name`.
pub struct UdpNamer {
    socket: std::net::UdpSocket,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl UdpNamer {
    /// Starts answering.
    pub async fn start(netns: &Path, addr: Ipv4Addr, port: u16, name: &str) -> UdpNamer {
        let bind = SocketAddrV4::new(addr, port);
        let socket = netplane::run_in_netns(netns, move || {
            std::net::UdpSocket::bind(bind).map_err(|source| netplane::Error::Io {
                what: "bind the UDP server",
                source,
            })
        })
        .await
        .expect("UDP server binds");
        let serving = socket.try_clone().expect("clone socket");
        let name = name.to_owned();
        let thread = std::thread::spawn(move || {
            let mut buffer = [0u8; 512];
            // Ends when the socket is shut down (recv then returns 0 bytes from nobody or fails).
            while let Ok((n, from)) = serving.recv_from(&mut buffer) {
                if n == 0 {
                    return;
                }
                let _ = serving.send_to(name.as_bytes(), from);
            }
        });
        UdpNamer {
            socket,
            thread: Some(thread),
        }
    }
}

impl Drop for UdpNamer {
    fn drop(&mut self) {
        let _ = nix::sys::socket::shutdown(self.socket.as_raw_fd(), nix::sys::socket::Shutdown::Both);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Sends one datagram from inside `netns` to `target` and returns the answer as text.
pub async fn ask_udp(netns: &Path, target: SocketAddrV4) -> std::io::Result<String> {
    netplane::run_in_netns(netns, move || {
        let io = |source| netplane::Error::Io {
            what: "UDP client",
            source,
        };
        let socket = std::net::UdpSocket::bind("0.0.0.0:0").map_err(io)?;
        socket
            .set_read_timeout(Some(Duration::from_secs(3)))
            .map_err(io)?;
        socket.connect(target).map_err(io)?;
        socket.send(b"who").map_err(io)?;
        let mut buffer = [0u8; 512];
        let n = socket.recv(&mut buffer).map_err(io)?;
        Ok(String::from_utf8_lossy(&buffer[..n]).into_owned())
    })
    .await
    .map_err(|error| match error {
        netplane::Error::Io { source, .. } => source,
        other => std::io::Error::other(other.to_string()),
    })
}

/// Sends one ICMP echo request from inside `netns` to `target` and waits up to `timeout` for the
/// reply (a raw socket: no `ping` binary here).
pub async fn ping(netns: &Path, target: Ipv4Addr, timeout: Duration) -> bool {
    netplane::run_in_netns(netns, move || {
        use nix::sys::socket::{AddressFamily, SockFlag, SockProtocol, SockType, socket};
        let io = |source| netplane::Error::Io { what: "ping", source };
        let raw = socket(
            AddressFamily::Inet,
            SockType::Raw,
            SockFlag::empty(),
            SockProtocol::Icmp,
        )
        .map_err(|errno| io(errno.into()))?;
        // std's UdpSocket is a thin wrapper over any datagram socket fd: its sendto/recvfrom and
        // receive timeout work on a raw ICMP socket as they are.
        let socket = std::net::UdpSocket::from(raw);
        socket.set_read_timeout(Some(timeout)).map_err(io)?;
        let id = (std::process::id() & 0xffff) as u16;
        let mut request = vec![8u8, 0, 0, 0];
        request.extend_from_slice(&id.to_be_bytes());
        request.extend_from_slice(&1u16.to_be_bytes());
        request.extend_from_slice(b"shoal overlay ping");
        let checksum = icmp_checksum(&request);
        request[2..4].copy_from_slice(&checksum.to_be_bytes());
        socket
            .send_to(&request, SocketAddrV4::new(target, 0))
            .map_err(io)?;
        let mut buffer = [0u8; 1500];
        // A timeout (or any error) ends the wait: no reply.
        while let Ok((n, from)) = socket.recv_from(&mut buffer) {
            let header = usize::from(buffer[0] & 0x0f) * 4;
            let reply = &buffer[header.min(n)..n];
            if from.ip() == std::net::IpAddr::V4(target)
                && reply.len() >= 8
                && reply[0] == 0
                && reply[4..6] == id.to_be_bytes()
            {
                return Ok(true);
            }
        }
        Ok(false)
    })
    .await
    .expect("ping")
}

fn icmp_checksum(bytes: &[u8]) -> u16 {
    let mut sum = 0u32;
    for pair in bytes.chunks(2) {
        let word = u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]);
        sum += u32::from(word);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// One TCP stream for `seconds` (128 KiB writes) from namespace `from` to `to`, read by a sink
/// listening on `sink` inside `sink_netns` (the same address as `to`, or the backend behind a
/// VIP `to`): the bytes the sink counted and the time it counted them over.
pub async fn stream_for(
    seconds: f64,
    from: &Path,
    to: SocketAddrV4,
    sink_netns: &Path,
    sink: SocketAddrV4,
) -> (u64, Duration) {
    let listener = netplane::run_in_netns(sink_netns, move || {
        TcpListener::bind(sink).map_err(|source| netplane::Error::Io {
            what: "bind the sink",
            source,
        })
    })
    .await
    .expect("sink");
    let receiver = std::thread::spawn(move || -> (u64, Duration) {
        let (mut stream, _) = listener.accept().expect("accept");
        let mut buffer = vec![0u8; 256 * 1024];
        let mut total = 0u64;
        #[allow(clippy::disallowed_methods)] // a wall-clock measurement is the point
        let start = std::time::Instant::now();
        loop {
            match stream.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n as u64,
            }
        }
        (total, start.elapsed())
    });
    netplane::run_in_netns(from, move || {
        let io = |what| move |source| netplane::Error::Io { what, source };
        let mut stream =
            TcpStream::connect_timeout(&SocketAddr::V4(to), Duration::from_secs(3)).map_err(io("connect"))?;
        let chunk = vec![0x5au8; 128 * 1024];
        #[allow(clippy::disallowed_methods)] // a wall-clock measurement is the point
        let start = std::time::Instant::now();
        while start.elapsed().as_secs_f64() < seconds {
            stream.write_all(&chunk).map_err(io("send"))?;
        }
        Ok(())
    })
    .await
    .expect("sender");
    receiver.join().expect("receiver")
}

/// Tunnels on hosts 0 and 1 of `bed` (their `planes`, under `keys`), each peered with the
/// other.
pub async fn paired_tunnels(
    bed: &netplane::testbed::Testbed,
    planes: &[netplane::Plane],
    keys: &[netplane::crypt::PrivateKey],
) -> Vec<netplane::crypt::Tunnels> {
    let mut tunnels = Vec::new();
    for (host, plane) in planes.iter().enumerate().take(2) {
        let mtu = plane.underlay_mtu().await.expect("underlay MTU");
        let started = netplane::crypt::Tunnels::start(
            &bed.host(host).netns,
            &plane.config().tag,
            bed.host(host).address,
            mtu,
            keys[host].clone(),
        )
        .await
        .expect("tunnels");
        tunnels.push(started);
    }
    for (host, tunnel) in tunnels.iter().enumerate() {
        let other = 1 - host;
        tunnel.set_peers(&[netplane::crypt::TunnelPeer {
            underlay: bed.host(other).address,
            public_key: keys[other].public(),
        }]);
    }
    tunnels
}
