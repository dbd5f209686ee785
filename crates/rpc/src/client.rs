//! Client side: lazily connected, multiplexed channels per peer address, over TLS with this
//! node's certificate.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tonic::transport::{Channel, Endpoint, Uri};

use crate::pb::{
    ca_client::CaClient, control_client::ControlClient, dispatcher_client::DispatcherClient,
    raft_client::RaftClient,
};
use crate::{Error, Result};

/// The TLS client configuration a pool connects with; swappable on certificate renewal.
pub type TlsIdentity = Arc<ArcSwap<ClientConfig>>;

/// Channels to peers, keyed by `host:port`.
#[derive(Clone)]
pub struct Pool {
    tls: TlsIdentity,
    channels: Arc<Mutex<HashMap<String, Channel>>>,
}

/// Largest message we accept: raft appends carry batches of entries.
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

    /// Raft service client for `addr`.
    pub fn raft(&self, addr: &str) -> Result<RaftClient<Channel>> {
        Ok(RaftClient::new(self.channel(addr)?)
            .max_decoding_message_size(MAX_MESSAGE)
            .max_encoding_message_size(MAX_MESSAGE))
    }

    /// CA service client for `addr`.
    pub fn ca(&self, addr: &str) -> Result<CaClient<Channel>> {
        Ok(CaClient::new(self.channel(addr)?))
    }

    /// Control service client for `addr`.
    pub fn control(&self, addr: &str) -> Result<ControlClient<Channel>> {
        Ok(ControlClient::new(self.channel(addr)?)
            .max_decoding_message_size(MAX_MESSAGE)
            .max_encoding_message_size(MAX_MESSAGE))
    }

    /// Dispatcher service client for `addr`.
    pub fn dispatcher(&self, addr: &str) -> Result<DispatcherClient<Channel>> {
        Ok(DispatcherClient::new(self.channel(addr)?).max_decoding_message_size(MAX_MESSAGE))
    }
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
