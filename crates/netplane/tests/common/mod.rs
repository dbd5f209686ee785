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
