//! Serving the cluster port: TLS handshakes off the accept loop, the peer's certificate
//! identity attached to every request, and role checks for handlers.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use arc_swap::ArcSwap;
use ca::PeerIdentity;
use rustls::ServerConfig;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::transport::server::{Connected, Router};
use types::Role;

/// Who called: the TCP peer and, when it presented one, its certificate identity.
#[derive(Debug, Clone)]
pub struct PeerInfo {
    /// Remote socket address.
    pub remote: SocketAddr,
    /// Identity from the verified client certificate.
    pub identity: Option<PeerIdentity>,
}

/// A server-side TLS connection that carries its [`PeerInfo`] into tonic.
pub struct TlsConn {
    stream: TlsStream<TcpStream>,
    info: PeerInfo,
}

impl Connected for TlsConn {
    type ConnectInfo = PeerInfo;
    fn connect_info(&self) -> PeerInfo {
        self.info.clone()
    }
}

impl AsyncRead for TlsConn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsConn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// How long a client may take to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A running cluster-port server.
pub struct ServerHandle {
    accept: tokio::task::JoinHandle<()>,
    server: tokio::task::JoinHandle<()>,
}

impl ServerHandle {
    /// Stops at once: the listener is closed (the port is free when this returns) and open
    /// connections are dropped. Graceful draining would wait on long-lived node sessions.
    pub async fn stop(self) {
        self.accept.abort();
        self.server.abort();
        let _ = self.accept.await;
        let _ = self.server.await;
    }
}

/// Serves `router` on `listener` until `shutdown` or [`ServerHandle::stop`]. The TLS config is
/// read per connection, so swapping it (certificate renewal) applies to new connections at once.
pub fn serve(
    listener: TcpListener,
    tls: Arc<ArcSwap<ServerConfig>>,
    router: Router,
    shutdown: CancellationToken,
) -> ServerHandle {
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<TlsConn>>(64);
    let accept_shutdown = shutdown.clone();
    let accept = tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                _ = accept_shutdown.cancelled() => return,
                a = listener.accept() => a,
            };
            let (tcp, remote) = match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!("cluster port accept: {e}");
                    continue;
                }
            };
            let _ = tcp.set_nodelay(true);
            let acceptor = TlsAcceptor::from(tls.load_full());
            let tx = tx.clone();
            // Handshake in its own task so one slow client cannot stall the accept loop.
            tokio::spawn(async move {
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(stream)) => {
                        let identity = stream
                            .get_ref()
                            .1
                            .peer_certificates()
                            .and_then(|certs| certs.first())
                            .and_then(|der| PeerIdentity::from_der(der.as_ref()).ok());
                        let _ = tx
                            .send(Ok(TlsConn {
                                stream,
                                info: PeerInfo { remote, identity },
                            }))
                            .await;
                    }
                    Ok(Err(e)) => tracing::debug!(%remote, "tls handshake failed: {e}"),
                    Err(_) => tracing::debug!(%remote, "tls handshake timed out"),
                }
            });
        }
    });
    let server = tokio::spawn(async move {
        if let Err(e) = router
            .serve_with_incoming_shutdown(ReceiverStream::new(rx), shutdown.cancelled_owned())
            .await
        {
            tracing::error!("cluster port server stopped: {e}");
        }
    });
    ServerHandle { accept, server }
}

fn peer<T>(req: &tonic::Request<T>) -> Option<&PeerInfo> {
    req.extensions().get::<PeerInfo>()
}

/// The caller's identity if it holds a certificate of this cluster, else `Unauthenticated`.
pub fn require_node<T>(req: &tonic::Request<T>, cluster_id: &str) -> Result<PeerIdentity, tonic::Status> {
    let identity = peer(req)
        .and_then(|p| p.identity.clone())
        .ok_or_else(|| tonic::Status::unauthenticated("a node certificate is required for this call"))?;
    if identity.cluster_id != cluster_id {
        return Err(tonic::Status::permission_denied(
            "certificate belongs to another cluster",
        ));
    }
    Ok(identity)
}

/// Like [`require_node`], and the certificate must carry the manager role.
pub fn require_manager<T>(req: &tonic::Request<T>, cluster_id: &str) -> Result<PeerIdentity, tonic::Status> {
    let identity = require_node(req, cluster_id)?;
    if identity.role != Role::Manager {
        return Err(tonic::Status::permission_denied(format!(
            "node {} is a worker; this call needs a manager certificate",
            identity.node_id
        )));
    }
    Ok(identity)
}

/// The caller's socket address, if known.
pub fn remote_addr<T>(req: &tonic::Request<T>) -> Option<SocketAddr> {
    peer(req).map(|p| p.remote)
}
