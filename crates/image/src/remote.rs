//! A registry's HTTP API as a pull reads it, every body bounded: a registry is untrusted, so
//! nothing it sends is read whole without a limit.
//!
//! ```text
//! GET /v2/ ──401, Bearer realm=…──► GET realm?scope=repository:<repo>:pull&service=…
//!          │                           └─► token (body ≤ MAX_TOKEN)
//!          └─ Basic or no challenge ──► the credentials as given, or none
//! GET /v2/<repo>/manifests/<ref> ─► body ≤ MAX_SMALL_BLOB
//! GET /v2/<repo>/blobs/<digest>  ─► a stream; the blob store stops at the descriptor's size
//! an error status                ─► body ≤ MAX_ERROR_BODY, the registry's error envelope
//! ```
//! A `Content-Length` over the bound is refused before any of the body is read; a body
//! without one (chunked) is cut at the first chunk that takes it past the bound.

use bytes::Bytes;
use futures::{Stream, StreamExt};
use oci_client::errors::{OciDistributionError, OciEnvelope};
use oci_client::secrets::RegistryAuth;
use oci_client::token_cache::RegistryToken;
use reqwest::StatusCode;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderValue, WWW_AUTHENTICATE};

use crate::blobs::MAX_SMALL_BLOB;
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::name::{DEFAULT_REGISTRY, Name};

/// The longest token response read: registries' tokens are a few KiB.
const MAX_TOKEN: u64 = 64 * 1024;

/// The longest error body read: an error envelope is a few lines of JSON.
const MAX_ERROR_BODY: u64 = 64 * 1024;

/// One repository of one registry, with the authorization a pull presents to it.
pub(crate) struct Remote {
    http: reqwest::Client,
    /// `scheme://host/v2/<repository>/`.
    base: String,
    authorization: Option<HeaderValue>,
    name: Name,
}

impl Remote {
    /// Reaches `name`'s registry (plain HTTP only on loopback, as dockerd's default
    /// insecure-registry range allows) and gets what authorizes a pull of its repository.
    pub(crate) async fn connect(name: &Name, auth: &RegistryAuth) -> Result<Remote> {
        // The TLS is rustls without a built-in provider; the workspace uses ring. An error
        // means one is installed already, which is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .user_agent(concat!("shoal/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Registry(format!("registry client: {e}")))?;
        let scheme = if name.registry_is_loopback() {
            "http"
        } else {
            "https"
        };
        // Docker Hub's API is not at the name's registry.
        let host = if name.registry == DEFAULT_REGISTRY {
            "index.docker.io"
        } else {
            name.registry.as_str()
        };
        let root = format!("{scheme}://{host}/v2/");
        let mut remote = Remote {
            http,
            base: format!("{root}{}/", name.repository),
            authorization: None,
            name: name.clone(),
        };
        remote.authorization = match auth {
            RegistryAuth::Bearer(token) => Some(bearer(token)?),
            RegistryAuth::Basic(..) | RegistryAuth::Anonymous => remote.authorize(&root, auth).await?,
        };
        Ok(remote)
    }

    /// The registry's challenge at `root`, answered: a token from its realm, or basic
    /// credentials when it asks for those (or names no scheme we know).
    async fn authorize(&self, root: &str, auth: &RegistryAuth) -> Result<Option<HeaderValue>> {
        let res = self.http.get(root).send().await.map_err(|e| self.transport(e))?;
        let basic = || match auth {
            RegistryAuth::Basic(user, password) => Some(basic(user, password)),
            _ => None,
        };
        let Some(challenge) = res.headers().get(WWW_AUTHENTICATE).and_then(|v| v.to_str().ok()) else {
            return Ok(None);
        };
        let Some((realm, service)) = bearer_challenge(challenge) else {
            return Ok(basic());
        };
        drop(res);
        let scope = format!("repository:{}:pull", self.name.repository);
        let mut query = vec![("scope", scope.as_str())];
        if let Some(s) = &service {
            query.push(("service", s));
        }
        let mut req = self.http.get(&realm).query(&query);
        if let RegistryAuth::Basic(user, password) = auth {
            req = req.basic_auth(user, Some(password));
        }
        let res = req.send().await.map_err(|e| self.transport(e))?;
        let status = res.status();
        if status != StatusCode::OK {
            let body = read_prefix(res, MAX_ERROR_BODY).await;
            return Err(self.error(OciDistributionError::AuthenticationFailure(
                String::from_utf8_lossy(&body).into_owned(),
            )));
        }
        let body = read_bounded(res, MAX_TOKEN)
            .await
            .map_err(|e| self.refused("token", e))?;
        let token: RegistryToken = serde_json::from_slice(&body)
            .map_err(|e| self.error(OciDistributionError::RegistryTokenDecodeError(e.to_string())))?;
        Ok(Some(bearer(token.token())?))
    }

    /// The manifest at `reference` (a tag or a digest), at most [`MAX_SMALL_BLOB`] bytes.
    pub(crate) async fn manifest(&self, reference: &str, accept: &[&str]) -> Result<Vec<u8>> {
        let url = format!("{}manifests/{reference}", self.base);
        let res = self.get(&url).header(ACCEPT, accept.join(", ")).send();
        let res = self.checked(res.await.map_err(|e| self.transport(e))?).await?;
        read_bounded(res, MAX_SMALL_BLOB)
            .await
            .map_err(|e| self.refused(&format!("manifest of {}", self.name.familiar()), e))
    }

    /// The blob `digest` as a stream of its bytes (the caller bounds it by its descriptor).
    pub(crate) async fn blob(
        &self,
        digest: &Digest,
    ) -> Result<impl Stream<Item = std::result::Result<Bytes, reqwest::Error>> + use<>> {
        let url = format!("{}blobs/{digest}", self.base);
        let res = self.get(&url).send().await.map_err(|e| self.transport(e))?;
        Ok(self.checked(res).await?.bytes_stream())
    }

    /// A GET with this repository's authorization. (Redirects — blobs are often served from
    /// elsewhere — drop it when they leave the host.)
    fn get(&self, url: &str) -> reqwest::RequestBuilder {
        let req = self.http.get(url);
        match &self.authorization {
            Some(a) => req.header(AUTHORIZATION, a.clone()),
            None => req,
        }
    }

    /// `res` when its status is 200, else the registry's error read from a bounded body.
    async fn checked(&self, res: reqwest::Response) -> Result<reqwest::Response> {
        let status = res.status();
        if status == StatusCode::OK {
            return Ok(res);
        }
        let url = res.url().to_string();
        // What fits is enough to tell the error; a longer body is cut, not refused.
        let body = read_prefix(res, MAX_ERROR_BODY).await;
        Err(self.error(status_error(status, &body, url)))
    }

    fn error(&self, e: OciDistributionError) -> Error {
        crate::pull::registry_error(&self.name, e)
    }

    fn transport(&self, e: reqwest::Error) -> Error {
        Error::Registry(format!("pulling {}: {e}", self.name.familiar()))
    }

    fn refused(&self, what: &str, e: BodyError) -> Error {
        match e {
            BodyError::TooLong(limit) => Error::Corrupt(format!(
                "{what} from {} is over {limit} bytes",
                self.name.registry
            )),
            BodyError::Transport(e) => self.transport(e),
        }
    }
}

/// Why a bounded body was not read.
#[derive(Debug)]
pub(crate) enum BodyError {
    /// The body is (or says it is) longer than the bound.
    TooLong(u64),
    /// The connection failed.
    Transport(reqwest::Error),
}

/// The body of `res`, refused as soon as it is known to be over `limit` bytes: from its
/// `Content-Length`, or once the bytes read pass it (at most one chunk past the limit is held).
pub(crate) async fn read_bounded(
    mut res: reqwest::Response,
    limit: u64,
) -> std::result::Result<Vec<u8>, BodyError> {
    if res.content_length().is_some_and(|n| n > limit) {
        return Err(BodyError::TooLong(limit));
    }
    let mut body = Vec::new();
    while let Some(chunk) = res.chunk().await.map_err(BodyError::Transport)? {
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(BodyError::TooLong(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Up to `limit` bytes of `res`'s body, whatever follows (or fails) dropped.
async fn read_prefix(res: reqwest::Response, limit: u64) -> Vec<u8> {
    let mut body = Vec::new();
    let mut stream = res.bytes_stream();
    while let Some(Ok(chunk)) = stream.next().await {
        let room = (limit as usize).saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() as u64 >= limit {
            break;
        }
    }
    body
}

/// The error a non-200 `status` with `body` stands for, as oci-client tells them apart (the
/// distribution spec's error envelope on client errors).
fn status_error(status: StatusCode, body: &[u8], url: String) -> OciDistributionError {
    match status {
        StatusCode::UNAUTHORIZED => OciDistributionError::UnauthorizedError { url },
        s if s.is_success() => {
            OciDistributionError::SpecViolationError(format!("expected HTTP status 200, got {s}"))
        }
        s if s.is_client_error() => match serde_json::from_slice::<OciEnvelope>(body) {
            Ok(envelope) => OciDistributionError::RegistryError { envelope, url },
            Err(_) => server_error(s, body, url),
        },
        s => server_error(s, body, url),
    }
}

fn server_error(status: StatusCode, body: &[u8], url: String) -> OciDistributionError {
    OciDistributionError::ServerError {
        code: status.as_u16(),
        url,
        message: String::from_utf8_lossy(body).into_owned(),
    }
}

/// The realm and service of the first Bearer challenge in a `WWW-Authenticate` value.
fn bearer_challenge(value: &str) -> Option<(String, Option<String>)> {
    http_auth::ChallengeParser::new(value)
        .filter_map(|c| c.ok())
        .find(|c| c.scheme.eq_ignore_ascii_case("Bearer"))
        .and_then(|c| {
            let param = |name: &str| {
                c.params
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.to_unescaped())
            };
            Some((param("realm")?, param("service")))
        })
}

fn bearer(token: &str) -> Result<HeaderValue> {
    HeaderValue::from_str(&format!("Bearer {token}"))
        .map_err(|_| Error::Registry("the registry's token is not a valid header value".into()))
}

fn basic(user: &str, password: &str) -> HeaderValue {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let mut value = HeaderValue::from_str(&format!("Basic {encoded}"))
        .unwrap_or_else(|_| HeaderValue::from_static("Basic"));
    value.set_sensitive(true);
    value
}
