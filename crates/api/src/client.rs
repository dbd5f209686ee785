//! A typed client for the Docker Engine API (ours or dockerd's), used by the shoal CLI.
//!
//! One HTTP/1.1 connection per request: the CLI makes a handful of calls, and a fresh
//! connection keeps this free of pooling state. Error statuses come back as
//! [`Error::Status`] carrying the daemon's message.

mod endpoints;
mod host;
mod logs;
mod services;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, UnixStream};

pub use endpoints::Filters;
pub use host::Endpoint;
pub use logs::{LogFrame, LogReader, LogsQuery};

use crate::error::{Error, Result};
use crate::model::ErrorResponse;
use crate::version::API_VERSION;

/// A client of one daemon endpoint.
#[derive(Debug, Clone)]
pub struct Client {
    endpoint: Endpoint,
}

impl Client {
    /// A client for a `DOCKER_HOST`-style address.
    pub fn new(host: &str) -> Result<Client> {
        Ok(Client {
            endpoint: Endpoint::parse(host)?,
        })
    }

    /// A client for a parsed endpoint.
    pub fn from_endpoint(endpoint: Endpoint) -> Client {
        Client { endpoint }
    }

    /// A client for `DOCKER_HOST` if set, else the default socket.
    pub fn from_env() -> Result<Client> {
        match std::env::var("DOCKER_HOST") {
            Ok(host) if !host.is_empty() => Client::new(&host),
            _ => Ok(Client {
                endpoint: Endpoint::Unix(crate::socket::default_socket_path()),
            }),
        }
    }

    /// The endpoint this client talks to.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// `GET path?query`, decoding a JSON answer.
    pub async fn get<T: DeserializeOwned>(&self, path: &str, query: &[(&str, String)]) -> Result<T> {
        let body = self.call(Method::GET, path, query, None).await?;
        decode(path, &body)
    }

    /// `POST path?query` with a JSON body, decoding a JSON answer.
    pub async fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
        body: &B,
    ) -> Result<T> {
        let answer = self.call(Method::POST, path, query, Some(encode(body)?)).await?;
        decode(path, &answer)
    }

    /// `POST path?query` with an optional JSON body, ignoring the answer's body.
    pub async fn post_unit<B: Serialize>(
        &self,
        path: &str,
        query: &[(&str, String)],
        body: Option<&B>,
    ) -> Result<()> {
        let body = body.map(encode).transpose()?;
        self.call(Method::POST, path, query, body).await.map(|_| ())
    }

    /// `DELETE path?query`.
    pub async fn delete(&self, path: &str, query: &[(&str, String)]) -> Result<()> {
        self.call(Method::DELETE, path, query, None).await.map(|_| ())
    }

    /// One request to `/v1.47{path}`; an error status becomes [`Error::Status`].
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<Vec<u8>>,
    ) -> Result<Bytes> {
        let response = self.open(method, path, query, body).await?;
        response
            .into_body()
            .collect()
            .await
            .map(|body| body.to_bytes())
            .map_err(|e| Error::Http(e.to_string()))
    }

    /// One request whose answer is read as it arrives (log streams). An error status is
    /// read whole and becomes [`Error::Status`].
    pub async fn open(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<Vec<u8>>,
    ) -> Result<Response<Incoming>> {
        let mut target = format!("/v{API_VERSION}{path}");
        for (i, (key, value)) in query.iter().enumerate() {
            target.push(if i == 0 { '?' } else { '&' });
            target.push_str(&percent_encode(key));
            target.push('=');
            target.push_str(&percent_encode(value));
        }
        let host = match &self.endpoint {
            // Unix sockets have no host; dockerd's clients send a placeholder.
            Endpoint::Unix(_) => "api.moby.localhost".to_string(),
            Endpoint::Tcp(addr) => addr.clone(),
        };
        let mut builder = Request::builder()
            .method(method)
            .uri(&target)
            .header(header::HOST, host)
            .header(header::USER_AGENT, concat!("shoal/", env!("CARGO_PKG_VERSION")));
        if body.is_some() {
            builder = builder.header(header::CONTENT_TYPE, "application/json");
        }
        let request = builder
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| Error::Http(format!("building request {target}: {e}")))?;
        let response = match &self.endpoint {
            Endpoint::Unix(path) => {
                let stream = UnixStream::connect(path).await.map_err(|error| Error::Connect {
                    addr: self.endpoint.to_string(),
                    error,
                })?;
                exchange(stream, request).await?
            }
            Endpoint::Tcp(addr) => {
                let stream = TcpStream::connect(addr.as_str())
                    .await
                    .map_err(|error| Error::Connect {
                        addr: self.endpoint.to_string(),
                        error,
                    })?;
                exchange(stream, request).await?
            }
        };
        let status = response.status();
        if status.is_client_error() || status.is_server_error() {
            let answer = response
                .into_body()
                .collect()
                .await
                .map_err(|e| Error::Http(e.to_string()))?
                .to_bytes();
            return Err(Error::Status {
                status: status.as_u16(),
                message: error_message(status, &answer),
            });
        }
        Ok(response)
    }
}

/// Sends one request over a fresh connection; the answer's body is read by the caller.
async fn exchange<S>(stream: S, request: Request<Full<Bytes>>) -> Result<Response<Incoming>>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| Error::Http(e.to_string()))?;
    // The connection task ends when the exchange is over or the peer hangs up; its own error
    // also surfaces through `send_request`, so it is not reported twice.
    tokio::spawn(async move {
        let _ = connection.await;
    });
    sender
        .send_request(request)
        .await
        .map_err(|e| Error::Http(e.to_string()))
}

/// The daemon's message: `{"message": …}` when JSON, else the text, else the status reason.
fn error_message(status: StatusCode, body: &[u8]) -> String {
    if let Ok(ErrorResponse { message }) = serde_json::from_slice::<ErrorResponse>(body)
        && !message.is_empty()
    {
        return message;
    }
    let text = String::from_utf8_lossy(body).trim().to_string();
    if text.is_empty() {
        status.canonical_reason().unwrap_or("error").to_string()
    } else {
        text
    }
}

fn encode<B: Serialize>(body: &B) -> Result<Vec<u8>> {
    serde_json::to_vec(body).map_err(|e| Error::Http(format!("encoding request body: {e}")))
}

fn decode<T: DeserializeOwned>(path: &str, body: &[u8]) -> Result<T> {
    serde_json::from_slice(body).map_err(|e| Error::Decode {
        path: path.to_string(),
        reason: e.to_string(),
    })
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub(crate) fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_and_reads_errors() {
        assert_eq!(
            percent_encode(r#"{"role":["a b"]}"#),
            "%7B%22role%22%3A%5B%22a%20b%22%5D%7D"
        );
        assert_eq!(
            error_message(StatusCode::NOT_FOUND, br#"{"message":"node x not found"}"#),
            "node x not found"
        );
        assert_eq!(
            error_message(StatusCode::BAD_REQUEST, b"plain words\n"),
            "plain words"
        );
        assert_eq!(error_message(StatusCode::BAD_GATEWAY, b""), "Bad Gateway");
    }
}
