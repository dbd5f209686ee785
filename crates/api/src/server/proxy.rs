//! On a node whose executor is the local dockerd, the Engine endpoints that are not Swarm's
//! (`/containers`, `/exec`, `/images`, `/volumes`, `/build`, `/commit`, `/events`, `/system/df`) are that
//! dockerd's: they are passed to its unix socket byte for byte, hijacked connections (attach,
//! exec start with `Upgrade: tcp`) included, so `docker ps`, `run`, `exec -it` and `build` work
//! through the shoal socket. Everything else goes to shoal's own routes.
//!
//! ```text
//!  request ─► engine path? ─ yes ─► Origin refused ─► /vX.Y clamped to dockerd's ─► dockerd socket
//!                 │                                  101 Switching Protocols ─► both upgraded
//!                 │                                  connections copied into each other
//!                 └─ no ──► shoal's router (edge, guard, routes)
//! ```
//!
//! The layer is chosen at startup ([`with_engine`]); a daemon without it serves its own routes
//! (or dockerd's "page not found" naming what is missing) for the same paths.

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, Uri, header};
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;
use tower::ServiceExt;

use super::guard::Policy;
use crate::error::{Error, Result};

/// Path prefixes (after any `/vX.Y`) that belong to the local dockerd.
const ENGINE_PATHS: [&str; 8] = [
    "/containers",
    "/exec",
    "/images",
    "/volumes",
    "/build",
    "/commit",
    "/events",
    // Its images, containers and volumes are the ones the routes above show.
    "/system/df",
];

/// Largest `/version` answer read from dockerd at startup.
const MAX_VERSION_BYTES: usize = 1 << 20;

/// The local dockerd the engine paths go to.
#[derive(Debug, Clone)]
pub struct EngineProxy {
    socket: PathBuf,
    /// dockerd's own API version: requests asking for a newer one are sent with this one.
    api_version: (u32, u32),
}

impl EngineProxy {
    /// Checks that dockerd answers on `socket` and reads its API version.
    pub async fn connect(socket: &Path) -> Result<EngineProxy> {
        let mut proxy = EngineProxy {
            socket: socket.to_path_buf(),
            api_version: (1, 24),
        };
        let request = http::Request::get("/version")
            .header(header::HOST, "docker")
            .body(Body::empty())
            .map_err(|e| Error::Io {
                context: "building the version request".into(),
                error: std::io::Error::other(e),
            })?;
        let response = proxy.send(request).await?;
        let body = http_body_util::Limited::new(response.into_body(), MAX_VERSION_BYTES)
            .collect()
            .await
            .map_err(|e| engine_io(socket, std::io::Error::other(e.to_string())))?
            .to_bytes();
        let version: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| engine_io(socket, std::io::Error::other(format!("unreadable /version: {e}"))))?;
        proxy.api_version = version
            .get("ApiVersion")
            .and_then(|v| v.as_str())
            .and_then(parse_version)
            .ok_or_else(|| engine_io(socket, std::io::Error::other("/version has no ApiVersion")))?;
        Ok(proxy)
    }

    /// Forwards one request; a dockerd that does not answer is a 502 in dockerd's JSON shape.
    async fn forward(&self, mut request: Request) -> Response {
        if request.headers().contains_key(header::ORIGIN) {
            return Error::Forbidden(
                "requests with an Origin header come from a web page and are refused".into(),
            )
            .into_response();
        }
        let target = self.rewrite(request.uri());
        *request.uri_mut() = target;
        request
            .headers_mut()
            .insert(header::HOST, HeaderValue::from_static("docker"));
        match self.send(request).await {
            Ok(response) => response,
            Err(e) => {
                let body = serde_json::json!({ "message": e.to_string() }).to_string();
                (
                    StatusCode::BAD_GATEWAY,
                    [(header::CONTENT_TYPE, "application/json")],
                    body,
                )
                    .into_response()
            }
        }
    }

    /// Sends `request` on a new connection to dockerd; a 101 answer joins the two upgraded
    /// connections.
    async fn send(&self, mut request: Request) -> Result<Response> {
        let stream = UnixStream::connect(&self.socket)
            .await
            .map_err(|e| engine_io(&self.socket, e))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake::<_, Body>(TokioIo::new(stream))
            .await
            .map_err(|e| engine_io(&self.socket, std::io::Error::other(e)))?;
        tokio::spawn(async move {
            if let Err(e) = connection.with_upgrades().await {
                tracing::debug!(error = %e, "engine proxy connection ended");
            }
        });
        let client_upgrade = request
            .headers()
            .contains_key(header::UPGRADE)
            .then(|| hyper::upgrade::on(&mut request));
        let mut response = sender
            .send_request(request)
            .await
            .map_err(|e| engine_io(&self.socket, std::io::Error::other(e)))?;
        if response.status() == StatusCode::SWITCHING_PROTOCOLS
            && let Some(client_upgrade) = client_upgrade
        {
            let engine_upgrade = hyper::upgrade::on(&mut response);
            tokio::spawn(async move {
                match (client_upgrade.await, engine_upgrade.await) {
                    (Ok(client), Ok(engine)) => {
                        let (mut client, mut engine) = (TokioIo::new(client), TokioIo::new(engine));
                        if let Err(e) = tokio::io::copy_bidirectional(&mut client, &mut engine).await {
                            tracing::debug!(error = %e, "hijacked engine connection ended");
                        }
                    }
                    (c, e) => tracing::debug!(client = ?c.err(), engine = ?e.err(), "upgrade failed"),
                }
            });
            let (parts, _) = response.into_parts();
            return Ok(Response::from_parts(parts, Body::empty()));
        }
        Ok(response.map(Body::new))
    }

    /// The path and query for dockerd, with a version prefix no newer than its own.
    fn rewrite(&self, uri: &Uri) -> Uri {
        let path_and_query = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
        let Some((version, rest)) = split_version(path_and_query) else {
            return Uri::try_from(path_and_query).unwrap_or_else(|_| Uri::from_static("/"));
        };
        let asked = parse_version(version).unwrap_or(self.api_version);
        let (major, minor) = asked.min(self.api_version);
        Uri::try_from(format!("/v{major}.{minor}{rest}")).unwrap_or_else(|_| Uri::from_static("/"))
    }
}

/// `router` with the engine paths sent to `engine` instead.
pub fn with_engine(router: Router, engine: Arc<EngineProxy>, policy: Policy) -> Router {
    let service = tower::service_fn(move |request: Request| {
        let (router, engine) = (router.clone(), engine.clone());
        async move {
            if is_engine_path(request.uri().path()) {
                if let Err(e) = super::guard::check_host(request.headers(), policy) {
                    return Ok::<_, Infallible>(e.into_response());
                }
                return Ok(engine.forward(request).await);
            }
            router.oneshot(request).await
        }
    });
    Router::new().fallback_service(service)
}

/// Whether `path` (with or without a version prefix) is one of dockerd's own endpoints.
fn is_engine_path(path: &str) -> bool {
    let rest = split_version(path).map(|(_, rest)| rest).unwrap_or(path);
    ENGINE_PATHS.iter().any(|p| {
        rest.strip_prefix(p)
            .is_some_and(|after| after.is_empty() || after.starts_with('/') || after.starts_with('?'))
    })
}

/// `/v1.41/x?y` → (`1.41`, `/x?y`).
fn split_version(path: &str) -> Option<(&str, &str)> {
    let after = path.strip_prefix("/v")?;
    let end = after.find('/').unwrap_or(after.len());
    let version = &after[..end];
    parse_version(version).map(|_| (version, &after[end..]))
}

fn parse_version(text: &str) -> Option<(u32, u32)> {
    let (major, minor) = text.split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

fn engine_io(socket: &Path, error: std::io::Error) -> Error {
    Error::Io {
        context: format!("the local dockerd at {}", socket.display()),
        error,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_paths_and_versions() {
        assert!(is_engine_path("/v1.47/containers/json"));
        assert!(is_engine_path("/containers/abc/attach"));
        assert!(is_engine_path("/images/json"));
        assert!(is_engine_path("/events"));
        assert!(is_engine_path("/v1.47/system/df?type=image"));
        assert!(!is_engine_path("/system/dfx"));
        assert!(!is_engine_path("/v1.47/services"));
        assert!(!is_engine_path("/containersx"));
        assert!(!is_engine_path("/swarm"));
        let proxy = EngineProxy {
            socket: PathBuf::from("/nonexistent"),
            api_version: (1, 41),
        };
        let uri = |s: &str| Uri::try_from(s).unwrap();
        assert_eq!(
            proxy.rewrite(&uri("/v1.47/containers/json?all=1")),
            "/v1.41/containers/json?all=1"
        );
        assert_eq!(
            proxy.rewrite(&uri("/v1.30/containers/json")),
            "/v1.30/containers/json"
        );
        assert_eq!(proxy.rewrite(&uri("/containers/json")), "/containers/json");
    }
}
