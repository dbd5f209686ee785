//! Client side: lazily connected, multiplexed channels per peer address, over TLS with this
//! node's certificate.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tonic::transport::{Channel, Endpoint, Uri};

use futures::{Stream, StreamExt};
use http::uri::PathAndQuery;
use tonic::Status;
use tonic::client::Grpc;
use tonic_prost::ProstCodec;

use crate::calls::{Call, ClientStreaming, ServerStreaming, Unary};
use crate::codec::{decode, encode};
use crate::pb::Msg;
use crate::{Error, Result};

/// The TLS client configuration a pool connects with; swappable on certificate renewal.
pub type TlsIdentity = Arc<ArcSwap<ClientConfig>>;

/// Channels to peers, keyed by `host:port`.
#[derive(Clone)]
pub struct Pool {
    tls: TlsIdentity,
    channels: Arc<Mutex<HashMap<String, Channel>>>,
}

/// Largest message either way: raft appends carry batches of entries, reads the whole state.
const MAX_MESSAGE: usize = 64 << 20;

impl Pool {
    /// A pool connecting with `config`.
    pub fn new(config: Arc<ClientConfig>) -> Pool {
        Pool {
            tls: Arc::new(ArcSwap::new(config)),
            channels: Arc::default(),
        }
    }

    /// Switches to a new certificate; open channels are dropped so peers see the new one.
    pub fn set_config(&self, config: Arc<ClientConfig>) {
        self.tls.store(config);
        self.channels.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// The certificate this pool presents (the node's current one), for other TLS clients
    /// that identify as the node.
    pub fn client_certificate(&self) -> Arc<dyn rustls::client::ResolvesClientCert> {
        self.tls.load().client_auth_cert_resolver.clone()
    }

    /// Drops the channel to `addr` (after a transport error), so the next call reconnects.
    pub fn forget(&self, addr: &str) {
        self.channels
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(addr);
    }

    /// A channel to `addr`, created on first use; it connects lazily and reconnects itself.
    pub fn channel(&self, addr: &str) -> Result<Channel> {
        let mut channels = self.channels.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = channels.get(addr) {
            return Ok(c.clone());
        }
        let channel = connect_lazy(addr, self.tls.clone())?;
        channels.insert(addr.to_string(), channel.clone());
        Ok(channel)
    }

    /// Calls the unary RPC `C` at `addr`.
    pub async fn call<C: Unary>(
        &self,
        addr: &str,
        req: &C::Request,
    ) -> std::result::Result<C::Response, Status> {
        unary::<C>(self.typed_channel(addr)?, req, None).await
    }

    /// Like [`Pool::call`], giving up after `timeout` (`DeadlineExceeded`; the callee sees it too).
    pub async fn call_within<C: Unary>(
        &self,
        addr: &str,
        req: &C::Request,
        timeout: Duration,
    ) -> std::result::Result<C::Response, Status> {
        unary::<C>(self.typed_channel(addr)?, req, Some(timeout)).await
    }

    /// Like [`Pool::call_within`], with the time allowed derived from the request's encoded
    /// size (`timeout(bytes)`): moving a large message takes longer than a small one.
    pub async fn call_sized<C: Unary>(
        &self,
        addr: &str,
        req: &C::Request,
        timeout: impl FnOnce(usize) -> Duration,
    ) -> std::result::Result<C::Response, Status> {
        let msg = encode(req);
        let timeout = timeout(msg.body.len());
        unary_msg::<C>(self.typed_channel(addr)?, msg, Some(timeout)).await
    }

    /// Opens the server-streaming RPC `C` at `addr`.
    pub async fn open<C: ServerStreaming>(
        &self,
        addr: &str,
        req: &C::Request,
    ) -> std::result::Result<Incoming<C>, Status> {
        let mut grpc = grpc(self.typed_channel(addr)?).await?;
        let reply = grpc
            .server_streaming(
                tonic::Request::new(encode(req)),
                path::<C>(),
                ProstCodec::default(),
            )
            .await?;
        Ok(Incoming {
            inner: reply.into_inner(),
            call: PhantomData,
        })
    }

    /// Calls the client-streaming RPC `C` at `addr` with the messages of `items`.
    pub async fn send_stream<C, S>(
        &self,
        addr: &str,
        items: S,
        timeout: Option<Duration>,
    ) -> std::result::Result<C::Response, Status>
    where
        C: ClientStreaming,
        S: Stream<Item = C::Request> + Send + 'static,
    {
        let mut grpc = grpc(self.typed_channel(addr)?).await?;
        let mut request = tonic::Request::new(items.map(|item| encode(&item)));
        if let Some(timeout) = timeout {
            request.set_timeout(timeout);
        }
        let reply = grpc
            .client_streaming(request, path::<C>(), ProstCodec::default())
            .await?;
        decode(reply.get_ref())
    }

    /// Calls `C` at `addr` with a body that is deliberately not a `C::Request` (tests of
    /// admission and of malformed input); the reply body is returned undecoded.
    pub async fn call_raw<C: Unary>(&self, addr: &str, body: Msg) -> std::result::Result<Msg, Status> {
        let mut grpc = grpc(self.typed_channel(addr)?).await?;
        let reply = grpc
            .unary(tonic::Request::new(body), path::<C>(), ProstCodec::default())
            .await?;
        Ok(reply.into_inner())
    }

    /// [`Pool::channel`] with its error as the status a failed call would carry.
    fn typed_channel(&self, addr: &str) -> std::result::Result<Channel, Status> {
        self.channel(addr).map_err(|e| Status::unavailable(e.to_string()))
    }
}

/// A typed stream of `C`'s responses.
pub struct Incoming<C: Call> {
    inner: tonic::Streaming<Msg>,
    call: PhantomData<fn() -> C>,
}

impl<C: Call> Incoming<C> {
    /// The next message; `None` when the callee ended the stream. A malformed message is
    /// `InvalidArgument`.
    pub async fn message(&mut self) -> std::result::Result<Option<C::Response>, Status> {
        match self.inner.message().await? {
            Some(msg) => decode(&msg).map(Some),
            None => Ok(None),
        }
    }
}

/// Calls the unary RPC `C` at `addr` over a channel of its own with `config` (join bootstrap,
/// before the node has a certificate for a pool).
pub async fn call_once<C: Unary>(
    addr: &str,
    config: Arc<ClientConfig>,
    req: &C::Request,
) -> std::result::Result<C::Response, Status> {
    let channel = connect_once(addr, config).map_err(|e| Status::unavailable(e.to_string()))?;
    unary::<C>(channel, req, None).await
}

async fn unary<C: Unary>(
    channel: Channel,
    req: &C::Request,
    timeout: Option<Duration>,
) -> std::result::Result<C::Response, Status> {
    unary_msg::<C>(channel, encode(req), timeout).await
}

async fn unary_msg<C: Unary>(
    channel: Channel,
    msg: Msg,
    timeout: Option<Duration>,
) -> std::result::Result<C::Response, Status> {
    let mut grpc = grpc(channel).await?;
    let mut request = tonic::Request::new(msg);
    if let Some(timeout) = timeout {
        request.set_timeout(timeout);
    }
    let reply = grpc.unary(request, path::<C>(), ProstCodec::default()).await?;
    decode(reply.get_ref())
}

/// A ready gRPC client on `channel`; every call may carry up to [`MAX_MESSAGE`] either way.
async fn grpc(channel: Channel) -> std::result::Result<Grpc<Channel>, Status> {
    let mut grpc = Grpc::new(channel)
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE);
    // The same code and words as tonic's generated clients, which callers' retry rules know.
    grpc.ready()
        .await
        .map_err(|e| Status::unknown(format!("Service was not ready: {e}")))?;
    Ok(grpc)
}

fn path<C: Call>() -> PathAndQuery {
    PathAndQuery::from_static(C::PATH)
}

/// A channel to `addr` with a fixed TLS config, not pooled (join bootstrap).
pub fn connect_once(addr: &str, config: Arc<ClientConfig>) -> Result<Channel> {
    connect_lazy(addr, Arc::new(ArcSwap::new(config)))
}

fn connect_lazy(addr: &str, tls: TlsIdentity) -> Result<Channel> {
    let endpoint = Endpoint::from_shared(format!("http://{addr}"))
        .map_err(|e| Error::Transport {
            addr: addr.to_string(),
            message: format!("invalid address: {e}"),
        })?
        .connect_timeout(Duration::from_secs(2))
        .tcp_nodelay(true)
        .http2_keep_alive_interval(Duration::from_secs(2))
        .keep_alive_timeout(Duration::from_secs(4))
        .keep_alive_while_idle(true);
    let connector = tower::service_fn(move |uri: Uri| {
        let tls = tls.load_full();
        async move {
            let authority = uri.authority().map(|a| a.to_string()).unwrap_or_default();
            let tcp = TcpStream::connect(authority).await?;
            tcp.set_nodelay(true)?;
            // Managers are verified by role name, not host: every manager certificate carries
            // `swarm-manager`, and addresses are often bare IPs.
            let name = ServerName::try_from(ca::tls::MANAGER_NAME).map_err(std::io::Error::other)?;
            let stream = TlsConnector::from(tls).connect(name, tcp).await?;
            Ok::<_, std::io::Error>(TokioIo::new(stream))
        }
    });
    Ok(endpoint.connect_with_connector_lazy(connector))
}
